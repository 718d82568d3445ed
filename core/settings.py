"""Configuration, read once from the environment or `.env` (SPEC §4)."""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of tablechat; each has a default that works on a fresh machine."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # the role that owns the schema and runs the migrations; the app and the workers use DATABASE_URL
    database_owner_url: str | None = Field(default=None, alias="DATABASE_OWNER_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    # unset: the local servers when they answer, else embedded ones; 1: embedded even when local ones answer;
    # 0: never embedded. Configured URLs win either way (the processes `tablechat run` starts rely on it).
    embedded: bool | None = Field(default=None, alias="TABLECHAT_EMBEDDED")
    anthropic_api_key: str | None = Field(default=None, alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(default=None, alias="ANTHROPIC_BASE_URL")
    llm: Literal["anthropic", "offline"] | None = Field(default=None, alias="TABLECHAT_LLM")
    chat_model: str = Field(default="claude-sonnet-4-5", alias="TABLECHAT_CHAT_MODEL")
    cell_model: str = Field(default="claude-haiku-4-5", alias="TABLECHAT_CELL_MODEL")
    max_concurrency: int = Field(default=32, ge=1, le=512, alias="TABLECHAT_MAX_CONCURRENCY")
    rows_per_call: int = Field(default=10, ge=1, le=100, alias="TABLECHAT_ROWS_PER_CALL")
    max_job_cost_usd: float = Field(default=5.0, gt=0, alias="TABLECHAT_MAX_JOB_COST_USD")
    preview_timeout_s: float = Field(default=120.0, gt=0, le=3600, alias="TABLECHAT_PREVIEW_TIMEOUT_S")
    # limits of a file import (CLI, REST, chat upload): a file past one is refused, naming the limit
    import_max_mb: int = Field(default=200, ge=1, le=10_000, alias="TABLECHAT_IMPORT_MAX_MB")
    import_max_rows: int = Field(default=1_000_000, ge=1, alias="TABLECHAT_IMPORT_MAX_ROWS")
    import_max_columns: int = Field(default=1000, ge=1, le=10_000, alias="TABLECHAT_IMPORT_MAX_COLUMNS")
    # a long_text cell holds at most 1,000,000 characters (db.coerce.LONG_TEXT_MAX)
    import_max_field_chars: int = Field(default=1_000_000, ge=1, le=1_000_000, alias="TABLECHAT_IMPORT_MAX_FIELD_CHARS")
    import_max_unzipped_mb: int = Field(default=1000, ge=1, alias="TABLECHAT_IMPORT_MAX_UNZIPPED_MB")
    # the operations of a data proposal applied at a time; the preview's rows tick and its bar counts
    # "X of N" as each chunk lands
    apply_chunk: int = Field(default=1000, ge=1, le=100_000, alias="TABLECHAT_APPLY_CHUNK")
    data_dir: Path = Field(default=ROOT / ".data", alias="TABLECHAT_DATA_DIR")
    port: int = Field(default=8000, alias="PORT")
    # PostgreSQL connections each process keeps at most: the app's queries, and (app processes) the chat
    # history; several processes share the server's max_connections (deploy/README.md)
    db_pool_size: int = Field(default=30, ge=1, le=1000, alias="TABLECHAT_DB_POOL_SIZE")
    history_pool_size: int = Field(default=20, ge=1, le=1000, alias="TABLECHAT_HISTORY_POOL_SIZE")
    redis_prefix: str = Field(default="tablechat", min_length=1, max_length=64, alias="TABLECHAT_REDIS_PREFIX")
    host: str = Field(default="127.0.0.1", alias="TABLECHAT_HOST")
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="TABLECHAT_ALLOWED_ORIGINS")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="TABLECHAT_TRUSTED_PROXIES")
    force_secure_cookies: bool = Field(default=False, alias="TABLECHAT_SECURE_COOKIES")
    login_max_failures: int = Field(default=5, ge=1, le=1000, alias="TABLECHAT_LOGIN_MAX_FAILURES")
    client_max_failures: int = Field(default=20, ge=1, le=10_000, alias="TABLECHAT_CLIENT_MAX_FAILURES")
    lockout_base_s: float = Field(default=2.0, gt=0, le=3600, alias="TABLECHAT_LOCKOUT_BASE_S")
    lockout_max_s: float = Field(default=900.0, gt=0, le=86_400, alias="TABLECHAT_LOCKOUT_MAX_S")
    chainlit_auth_secret: str | None = Field(default=None, alias="CHAINLIT_AUTH_SECRET")

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """`a,b` as well as JSON `["a","b"]`: a comma list is what people write in a shell."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def llm_kind(self) -> str:
        """`anthropic` when a key is set (unless forced offline), else `offline`."""
        if self.llm:
            return self.llm
        return "anthropic" if self.anthropic_api_key else "offline"

    def auth_secret(self) -> str:
        """CHAINLIT_AUTH_SECRET, generated once into `.data/` when absent."""
        if self.chainlit_auth_secret:
            return self.chainlit_auth_secret
        path = self.data_dir / "auth_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
