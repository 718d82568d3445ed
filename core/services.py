"""Find PostgreSQL and Redis: configured URLs, else the local servers, else embedded ones under `.data/`
(core/embedded.py)."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from core.settings import get_settings

log = logging.getLogger(__name__)

LOCAL_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
APP_LOGIN = "tablechat_login"  # the app's login role on a local or embedded server (trust authentication)


def app_login_url(owner_url: str) -> str:
    """`owner_url` with the app's own login role instead of the owner (no password: trust authentication)."""
    from sqlalchemy.engine import make_url

    return make_url(owner_url).set(username=APP_LOGIN, password=None).render_as_string(hide_password=False)


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Services:
    """The URLs in use, and this process's leases on embedded servers (let go by `stop`)."""

    database_url: str  # what the app and the workers connect as
    redis_url: str
    started: list[Any] = field(default_factory=list)
    owner_url: str = ""  # the owner of the schema, for migrations; "" = database_url

    def __post_init__(self) -> None:
        self.owner_url = self.owner_url or self.database_url

    @property
    def embedded(self) -> bool:
        return bool(self.started)

    def stop(self) -> None:
        """Let go of the embedded servers; each stops unless another process still uses it."""
        for lease in reversed(self.started):
            try:
                lease.release()
            except Exception:  # a failing stop must not hide the others
                log.exception("stopping %r failed", lease)
        self.started.clear()


def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = u.database or "postgres"
    admin = u.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def resolve(db_name: str = "tablechat", embedded: bool = True) -> Services:
    """Pick the database and Redis to use: the configured URLs, else (unless TABLECHAT_EMBEDDED=1) the local
    servers when they answer, else the embedded servers under `.data/` (TABLECHAT_EMBEDDED=0 forbids them).
    On a server found here the schema's owner migrates and the app connects as a role of its own."""
    from core.embedded import Lease, Postgres, Redis

    settings = get_settings()
    allowed = embedded and settings.embedded is not False
    local = settings.embedded is not True
    started: list[Any] = []
    try:
        if settings.database_url:
            database_url = settings.database_url
            owner_url = settings.database_owner_url or database_url
        elif local and port_open("127.0.0.1", 5432):
            owner_url = LOCAL_PG.format(db=db_name)
            ensure_database(owner_url)
            database_url = app_login_url(owner_url)
        elif allowed:
            started.append(Lease(Postgres(settings.data_dir / "pg")))
            owner_url = started[-1].url
            if db_name != "postgres":
                owner_url = owner_url.replace("@/postgres?", f"@/{db_name}?")
                ensure_database(owner_url)
            database_url = app_login_url(owner_url)
        else:
            raise RuntimeError("no PostgreSQL: set DATABASE_URL or start a server on 127.0.0.1:5432")

        if settings.redis_url:
            redis_url = settings.redis_url
        elif local and port_open("127.0.0.1", 6379):
            redis_url = LOCAL_REDIS
        elif allowed:
            started.append(Lease(Redis(settings.data_dir / "redis")))
            redis_url = started[-1].url
        else:
            raise RuntimeError("no Redis: set REDIS_URL or start a server on 127.0.0.1:6379")
    except BaseException:
        Services("", "", started).stop()
        raise
    return Services(database_url=database_url, redis_url=redis_url, started=started, owner_url=owner_url)
