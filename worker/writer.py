"""Group commit for cell results: every LLM call hands its outcomes here, and whatever arrived while
the previous transaction ran is written together in the next one (cells, audit rows, job counts).
Under load that turns hundreds of small transactions a second into a few larger ones."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db import ai_cells
from db.ai_cells import Delta, Outcome
from db.engine import transaction
from db.schemas import TablePublic

log = logging.getLogger(__name__)

MAX_ITEMS = 200
DEADLOCK_RETRIES = 3
NO_WAIT_FOR_DISK = text("SET LOCAL synchronous_commit = off")


@dataclass
class WriteItem:
    """The outcomes of one LLM call for one column, its audit row and what it cost."""

    job_id: str
    table: TablePublic
    column_id: str
    deps: Sequence[str]
    outcomes: Sequence[Outcome]
    run: Mapping[str, Any] | None = None
    cost: float = 0.0
    done: asyncio.Future = field(default=None)  # type: ignore[assignment]


class Writer:
    """Writes items in batches; `write` returns each row's fate (see ai_cells.write_results)."""

    def __init__(self, engine: AsyncEngine, on_jobs: Callable[[list[dict[str, Any]]], Awaitable[None]]):
        self.engine, self.on_jobs = engine, on_jobs
        self._queue: list[WriteItem] = []
        self._task: asyncio.Task | None = None

    async def write(self, item: WriteItem) -> dict[int, str]:
        item.done = asyncio.get_running_loop().create_future()
        self._queue.append(item)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await item.done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_ITEMS], self._queue[MAX_ITEMS:]
            try:
                kinds, jobs = await self._flush_retrying(batch)
            except BaseException as exc:  # every waiter learns of it; the next batch may still succeed
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for item in batch:
                if not item.done.done():
                    item.done.set_result({o.id: kinds.get(o.id, "lost") for o in item.outcomes})
            if jobs:
                try:
                    await self.on_jobs(jobs)
                except Exception:
                    log.exception("progress hook failed")

    async def _flush_retrying(self, batch: list[WriteItem]) -> tuple[dict[int, str], list[dict[str, Any]]]:
        for attempt in range(DEADLOCK_RETRIES):
            try:
                return await self._flush(batch)
            except DBAPIError as exc:
                state = str(getattr(exc.orig, "sqlstate", "") or "")
                if state not in ("40P01", "40001") or attempt == DEADLOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _flush(self, batch: list[WriteItem]) -> tuple[dict[int, str], list[dict[str, Any]]]:
        groups: dict[tuple[str, str], list[WriteItem]] = defaultdict(list)
        for item in batch:
            groups[(str(item.table.id), item.column_id)].append(item)
        kinds: dict[int, str] = {}
        deltas: dict[str, Delta] = defaultdict(Delta)
        async with transaction(None, engine=self.engine) as conn:
            # results are recomputable: should the database crash before this commit reaches disk, the
            # cells are still claimed by workers whose leases died with it, and the sweeper requeues them
            await conn.execute(NO_WAIT_FOR_DISK)
            for (table_id, column_id), items in sorted(groups.items()):
                outcomes = [o for item in items for o in item.outcomes]
                got, moved = await ai_cells.write_results(conn, table_id=table_id, column_id=column_id,
                                                          deps=items[0].deps, outcomes=outcomes)
                kinds.update(got)
                for job, d in moved.items():
                    deltas[job].done += d.done
                    deltas[job].failed += d.failed
                written = [rid for rid, kind in got.items() if kind == "ok"]
                table = items[0].table
                if written and ai_cells.dependents(table, [column_id]):
                    await ai_cells.mark_dependents(conn, table, written, [column_id])
            for item in batch:
                deltas[item.job_id].cost += item.cost
            await ai_cells.record_runs(conn, [item.run for item in batch if item.run])
            jobs = await ai_cells.settle(conn, deltas)
        return kinds, jobs
