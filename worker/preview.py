"""Preview jobs in the workers: the calls are a fill's (rows batched per call, the shared limiter, retries
with backoff, the cost cap, an `ai_runs` row per call, cancel), but each row's value is kept as the
job's result (db/previews.py) instead of being written to its cell, so it can be proposed for review."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from db import ai_cells, previews
from db.ai_cells import Outcome
from db.engine import transaction
from db.errors import NotFound
from db.tables import get_table
from worker import prompt
from worker.fill import Context, Filler, model_name
from worker.runtime import Runtime

DEADLOCK_RETRIES = 3


async def load_context(rt: Runtime, job_id: str) -> Context | None:
    """The preview's table and the column it computes (from the job: it may not exist yet); None when
    the job is over or gone."""
    ctx = rt.cached(job_id)
    if ctx is not None:
        return ctx
    async with transaction(None, engine=rt.engine) as conn:
        try:
            job, column = await previews.get_preview(conn, job_id)
            if job["status"] not in ai_cells.ACTIVE:
                return None
            table = await get_table(conn, job["table_id"])
        except NotFound:
            return None
    deps = tuple(ai_cells.dependencies(table, column))
    ctx = Context(job_id=job_id, table=table, column=column, deps=deps, model=model_name(rt, column.ai or {}),
                  prefix=prompt.prefix(column, deps), spent=float(job["cost_usd"]))
    rt.remember(job_id, ctx)
    return ctx


class PreviewFiller(Filler):
    """A Filler whose outcomes become the job's results; the table's cells are never touched."""

    WHAT = "sample"

    async def _write(self, outcomes: list[Outcome], run: dict[str, Any] | None = None, cost: float = 0.0
                     ) -> dict[int, str]:
        ctx = self.ctx
        for attempt in range(DEADLOCK_RETRIES):
            try:
                async with transaction(None, engine=self.rt.engine) as conn:
                    if run:
                        await ai_cells.record_runs(conn, [run])
                    kinds, jobs = await previews.write_results(conn, job_id=ctx.job_id, table_id=ctx.table.id,
                                                               deps=ctx.dep_ids, outcomes=outcomes, cost=cost)
                break
            except DBAPIError as exc:
                state = str(getattr(exc.orig, "sqlstate", "") or "")
                if state not in ("40P01", "40001") or attempt == DEADLOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        for rid, kind in kinds.items():
            if kind != "again":
                self.open.pop(rid, None)
        await self.rt.on_jobs(jobs)
        return kinds

    @staticmethod
    async def _stop_job(conn: Any, job_id: str, message: str) -> list[dict[str, Any]]:
        return await previews.stop_job(conn, job_id, message)


async def run_message(rt: Runtime, job_id: str, record_ids: Sequence[int]) -> int:
    """Compute the preview's pending rows among `record_ids`; returns how many this message claimed."""
    ctx = await load_context(rt, job_id)
    if ctx is None:
        return 0
    claim = uuid.uuid4().hex[:16]
    worker = await rt.lease.ensure()
    async with transaction(None, engine=rt.engine) as conn:
        taken = await previews.claim(conn, job_id=job_id, table_id=ctx.table.id, deps=ctx.dep_ids,
                                     record_ids=record_ids, claim_id=claim, worker=worker)
    if taken:
        await PreviewFiller(rt, ctx, claim).run(taken)
    return len(taken)
