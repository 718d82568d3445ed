"""What every metric gets: the engine, a login with a workspace and an API token, the scale, and
fixtures shared between metrics (built once, by whichever metric needs them first)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class Scale:
    """Sizes of one run; `quick` is for trying the bench out, not for the numbers in docs/."""

    rows: int = 100_000
    page_calls: int = 200
    edits: int = 500
    feed_calls: int = 200
    burst: int = 1000
    warmup: int = 20


FULL = Scale()
QUICK = Scale(rows=10_000, page_calls=100, edits=200, feed_calls=100, burst=500, warmup=10)


class Bench:
    def __init__(self, *, url: str, engine: AsyncEngine, scale: Scale):
        self.url = url
        self.engine = engine
        self.scale = scale
        self.account_id: uuid.UUID
        self.workspace_id: uuid.UUID
        self.token: str
        self._fixtures: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def setup(self) -> None:
        """A login with its workspace and an API token, as a user of the app would have."""
        from db import accounts
        from db.engine import transaction

        async with transaction(None, engine=self.engine) as conn:
            self.account_id = await accounts.create_account(conn, name="bench", password="bench-password")
            self.workspace_id = (await accounts.create_workspace(conn, owner_id=self.account_id))["id"]
            self.token = await accounts.create_token(conn, account_id=self.account_id, name="bench")

    async def fixture(self, name: str, build: Callable[[], Awaitable[Any]]) -> Any:
        """The fixture `name`, built by `build()` the first time it is asked for."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self._fixtures:
                self._fixtures[name] = await build()
        return self._fixtures[name]

    def provide(self, name: str, value: Any) -> None:
        """Hand a fixture built while measuring to the metrics that follow."""
        self._fixtures[name] = value

    def drop(self, name: str) -> None:
        self._fixtures.pop(name, None)
