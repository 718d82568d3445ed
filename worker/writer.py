"""Group commit for cell results: every LLM call hands its outcomes here, and whatever arrived while
the previous write ran is written together in the next one (cells, audit rows, job counts). Under
load that turns hundreds of small writes a second into a few larger ones."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import ai_cells
from db.ai_cells import Outcome
from db.engine import transaction
from db.schemas import TablePublic

log = logging.getLogger(__name__)

MAX_ITEMS = 200
DEADLOCK_RETRIES = 3


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
                kinds, jobs = await self._flush(batch)
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

    async def _flush(self, batch: list[WriteItem]) -> tuple[dict[int, str], list[dict[str, Any]]]:
        """Each statement commits on its own: writing cells takes their table's change-feed lock
        (db/migrations 0002) until commit, and every writer of the table waits for it, so it must not be
        held over a round trip. Cells and their job's counts change in one statement; the audit rows
        before them and the requeue messages after them may be lost in a crash without harm (the sweeper
        sends stalled cells again)."""
        groups: dict[tuple[str, str], list[WriteItem]] = defaultdict(list)
        for item in batch:
            groups[(str(item.table.id), item.column_id)].append(item)
        kinds: dict[int, str] = {}
        jobs: dict[str, dict[str, Any]] = {}
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await ai_cells.record_runs(conn, [item.run for item in batch if item.run])
            for (_table_id, column_id), items in sorted(groups.items()):
                costs: dict[str, float] = defaultdict(float)
                for item in items:
                    costs[item.job_id] += item.cost
                table = items[0].table
                chained = bool(ai_cells.dependents(table, [column_id]))
                got, settled, requeue = await self._write(conn, table, column_id, items, costs, chained)
                kinds.update(got)
                jobs.update({str(j["id"]): j for j in settled})
                await ai_cells.enqueue(conn, requeue)
        return kinds, list(jobs.values())

    async def _write(self, conn: AsyncConnection, table: TablePublic, column_id: str, items: list[WriteItem],
                     costs: dict[str, float], chained: bool
                     ) -> tuple[dict[int, str], list[dict[str, Any]], list[dict[str, Any]]]:
        outcomes = [o for item in items for o in item.outcomes]
        for attempt in range(DEADLOCK_RETRIES):
            try:
                if not chained:
                    return await ai_cells.write_results(conn, table_id=table.id, column_id=column_id,
                                                        deps=items[0].deps, outcomes=outcomes, costs=costs)
                # cells that read this column go stale in the same transaction as the values they read
                async with transaction(None, engine=self.engine) as tx:
                    got = await ai_cells.write_results(tx, table_id=table.id, column_id=column_id,
                                                       deps=items[0].deps, outcomes=outcomes, costs=costs)
                    written = [rid for rid, kind in got[0].items() if kind == "ok"]
                    if written:
                        await ai_cells.mark_dependents(tx, table, written, [column_id])
                    return got
            except DBAPIError as exc:
                state = str(getattr(exc.orig, "sqlstate", "") or "")
                if state not in ("40P01", "40001") or attempt == DEADLOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")
