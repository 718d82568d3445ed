"""One LISTEN connection per process on the change feed's channel (migration 0014).

The feed triggers send `pg_notify('tc_changes', table_id)` once per table and transaction, at commit.
`FeedListener` keeps one asyncpg connection listening, reports each table id it hears, and says when it
is up or down: it reconnects with a growing delay (capped) when PostgreSQL drops the connection, and
checks an idle link now and then so that a silently dead one is noticed too. Notifications sent while it
was down are lost, so whoever uses it reads the feed again when it comes back up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

from db.engine import connect_args

log = logging.getLogger(__name__)

CHANNEL = "tc_changes"
FIRST_DELAY_S = 0.2
MAX_DELAY_S = 10.0
CHECK_EVERY_S = 60.0
CHECK_TIMEOUT_S = 10.0


def asyncpg_dsn(url: str | URL) -> str:
    """A SQLAlchemy URL (`postgresql+asyncpg://…`) as the plain DSN asyncpg takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class FeedListener:
    """Calls `on_change(table_id)` for every notification and `on_state(up)` whenever the connection
    comes up or goes down. `start()` returns once the first attempt to connect has ended either way."""

    def __init__(self, url: str | URL, on_change: Callable[[str], None], on_state: Callable[[bool], None], *,
                 first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 check_every_s: float = CHECK_EVERY_S) -> None:
        self.dsn = asyncpg_dsn(url)
        self._connect_args = connect_args(str(url))
        self.on_change = on_change
        self.on_state = on_state
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.check_every_s = check_every_s
        self.up = False
        self.connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="feed-listener")
        await self._first_attempt.wait()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.on_change(payload)

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self.on_state(up)

    async def _run(self) -> None:
        delay = self.first_delay_s
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn, **self._connect_args)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._notified)
                self.connection = conn
                self._set_up(True)
                self._first_attempt.set()
                delay = self.first_delay_s
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self.check_every_s)
                    except TimeoutError:
                        await asyncio.wait_for(conn.execute("SELECT 1"), CHECK_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 -- any failure of the link: report it, wait, try again
                log.warning("change feed listener: %s: %s (retrying in %.1f s)", type(exc).__name__, exc, delay)
            finally:
                self.connection = None
                self._set_up(False)
                self._first_attempt.set()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay_s)
