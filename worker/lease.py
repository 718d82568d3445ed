"""Liveness through PostgreSQL advisory locks. A worker process holds a lock on its own random key
for as long as it lives (its connection closes when the process dies, even by SIGKILL); claims carry
that key, so the sweeper knows at once which claims nobody is working on. The relay and the sweeper
run in one process at a time: whoever holds the leader lock."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

NAMESPACE = 74_110  # first half of every advisory key taken here
LEADER_KEY = 0


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as a DSN asyncpg takes directly."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class AdvisoryLock:
    """A session-level advisory lock on a dedicated connection."""

    def __init__(self, url: str, key: int):
        self.dsn, self.key = asyncpg_dsn(url), key
        self._conn: Any = None
        self._mu = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def acquire(self, *, wait: bool = True) -> bool:
        """Take the lock (reconnecting when the connection was lost); False when someone else holds it."""
        async with self._mu:
            if self.held:
                return True
            conn = await asyncpg.connect(self.dsn)
            try:
                if wait:
                    await conn.execute("SELECT pg_advisory_lock($1, $2)", NAMESPACE, self.key)
                elif not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", NAMESPACE, self.key):
                    await conn.close()
                    return False
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
            return True

    @property
    def connection(self) -> Any:
        return self._conn

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class WorkerLease(AdvisoryLock):
    """This process's key, held while it lives."""

    def __init__(self, url: str):
        super().__init__(url, secrets.randbelow(2**31 - 2) + 1)

    async def ensure(self) -> int:
        await self.acquire()
        return self.key


async def live_keys(conn: AsyncConnection) -> list[int]:
    """Keys of the worker processes alive now (in this database)."""
    res = await conn.execute(
        text("SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns "
             "AND objsubid = 2 AND granted AND objid <> :leader "
             "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"ns": NAMESPACE, "leader": LEADER_KEY},
    )
    return [int(k) for k in res.scalars().all()]
