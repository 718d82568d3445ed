"""Knobs of the worker processes, read from the environment or `.env` like core.settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import ROOT


class WorkerSettings(BaseSettings):
    """How the workers run; each has a default that suits one machine."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", extra="ignore", populate_by_name=True)

    redis_prefix: str = Field(default="tablechat", min_length=1, max_length=64, alias="TABLECHAT_REDIS_PREFIX")
    processes: int = Field(default=2, ge=1, le=64, alias="TABLECHAT_WORKER_PROCESSES")
    threads: int = Field(default=8, ge=1, le=256, alias="TABLECHAT_WORKER_THREADS")
    llm_timeout_s: float = Field(default=60.0, gt=0, le=600, alias="TABLECHAT_LLM_TIMEOUT_S")
    retry_base_s: float = Field(default=1.0, ge=0, le=60, alias="TABLECHAT_RETRY_BASE_S")
    retry_max_s: float = Field(default=60.0, ge=0, le=3600, alias="TABLECHAT_RETRY_MAX_S")
    sweep_interval_s: float = Field(default=2.0, gt=0, le=300, alias="TABLECHAT_SWEEP_INTERVAL_S")
    full_sweep_s: float = Field(default=30.0, gt=0, le=3600, alias="TABLECHAT_FULL_SWEEP_S")
    stall_s: float = Field(default=30.0, gt=0, le=3600, alias="TABLECHAT_STALL_S")
    lease_s: float = Field(default=900.0, gt=0, le=86400, alias="TABLECHAT_CLAIM_LEASE_S")
    # bulk messages waiting in the broker at most: the relay tops the bulk queue up to this, in turns
    # between workspaces (worker/outbox.py); small enough that a new workspace's fill is served soon
    bulk_window: int = Field(default=8, ge=1, le=10_000, alias="TABLECHAT_BULK_WINDOW")
    # how often a batch fill asks whether its Message Batch has ended
    batch_poll_s: float = Field(default=30.0, gt=0, le=3600, alias="TABLECHAT_BATCH_POLL_S")
    progress_interval_s: float = Field(default=0.25, ge=0, le=60, alias="TABLECHAT_PROGRESS_INTERVAL_S")
    # deleted rows and removed columns can be reverted for this long, then the purge removes them
    history_keep_days: int = Field(default=30, ge=1, le=3650, alias="TABLECHAT_HISTORY_KEEP_DAYS")


@lru_cache
def get_worker_settings() -> WorkerSettings:
    return WorkerSettings()
