"""Engines and transactions. Every transaction on behalf of a person runs as the role that row-level
security applies to, with the account set for that transaction only; `system` transactions (workers,
login, migrations) run as the owner."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

APP_ROLE = "tablechat_app"

_engines: dict[tuple[str, int], AsyncEngine] = {}
LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


def connect_args(url: str) -> dict[str, Any]:
    """asyncpg's arguments for `url`: no TLS attempt to a local server unless the URL asks for TLS."""
    # asyncpg's default ("prefer") tries a TLS handshake on every new connection first, a wasted round
    # trip (and CPU) against a local server; a URL that names ssl/sslmode keeps its own choice.
    try:
        parsed = make_url(url)
    except ArgumentError:
        return {}  # create_async_engine reports the bad URL itself
    if parsed.host in LOCAL_HOSTS and not {"ssl", "sslmode"} & set(parsed.query):
        return {"ssl": False}
    return {}


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """A pooled asyncpg engine; JSON is decoded by asyncpg's codec through SQLAlchemy."""
    # Every connection stays in the pool: overflow ones are closed as soon as they are returned, so a
    # burst of chats would open (a new PostgreSQL backend) and close connections for every turn.
    if "pool_size" not in kwargs:
        from core.settings import get_settings

        kwargs["pool_size"] = get_settings().db_pool_size
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("connect_args", connect_args(url))
    return create_async_engine(url, **kwargs)


def get_engine(url: str | None = None) -> AsyncEngine:
    """The process-wide engine for `url` (default: the configured database), one per event loop."""
    import asyncio

    if url is None:
        from core.settings import get_settings

        url = get_settings().database_url
        if not url:
            raise RuntimeError("DATABASE_URL is not set (run through `tablechat run` or set it)")
    key = (url, id(asyncio.get_running_loop()))
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = make_engine(url)
    return engine


async def dispose_engines() -> None:
    for engine in list(_engines.values()):
        await engine.dispose()
    _engines.clear()


async def act_as(conn: AsyncConnection, account_id: uuid.UUID | str) -> None:
    """Make the rest of this transaction subject to row-level security for `account_id`."""
    await conn.execute(
        text("SELECT set_config('role', :role, true), set_config('app.account_id', :acc, true)"),
        {"role": APP_ROLE, "acc": str(account_id)},
    )


@asynccontextmanager
async def transaction(
    account_id: uuid.UUID | str | None, *, engine: AsyncEngine | None = None
) -> AsyncIterator[AsyncConnection]:
    """One transaction; as `account_id` under row-level security, or as the system when None."""
    engine = engine or get_engine()
    async with engine.begin() as conn:
        if account_id is not None:
            await act_as(conn, account_id)
        yield conn
