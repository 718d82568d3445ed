"""Filling the cells of one message: claim them, call the model for several rows at a time, write what
came back. A batch whose answer is unusable for some rows retries those rows one per call; transient
errors send rows back to the queue after a backoff (honouring retry-after); after 3 attempts, or at
once for errors that cannot succeed, a cell ends `error` with the reason. One cell never stops a job."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from db import ai_cells
from db.ai_cells import MAX_ATTEMPTS, Claimed, Outcome
from db.engine import transaction
from db.errors import NotFound
from db.schemas import ColumnPublic, TablePublic
from db.tables import get_table
from worker import prompt
from worker.limiter import Spend, stop_message
from worker.llm import CellModelError, CellReply, CellRequest, OfflineCellModel, cost_usd, price
from worker.runtime import Runtime
from worker.writer import WriteItem

log = logging.getLogger(__name__)

EST_OUTPUT_PER_ROW = 40  # tokens, for the cost estimate made before a call


@dataclass(frozen=True)
class Context:
    """A job as a worker needs it."""

    job_id: str
    table: TablePublic
    column: ColumnPublic
    deps: tuple[ColumnPublic, ...]
    model: str
    prefix: prompt.Prefix
    spent: float

    @property
    def dep_ids(self) -> list[str]:
        return [str(d.id) for d in self.deps]


async def load_context(rt: Runtime, job_id: str) -> Context | None:
    """The job's table, column and prompt; None when the job is over or gone."""
    ctx = rt.cached(job_id)
    if ctx is not None:
        return ctx
    async with transaction(None, engine=rt.engine) as conn:
        try:
            job = await ai_cells.get_job(conn, job_id)
            if job["status"] not in ai_cells.ACTIVE:
                return None
            table = await get_table(conn, job["table_id"])
        except NotFound:
            return None
    column = next((c for c in table.columns if str(c.id) == job["column_id"] and c.ai is not None), None)
    if column is None:
        return None
    deps = tuple(ai_cells.dependencies(table, column))
    ctx = Context(job_id=job_id, table=table, column=column, deps=deps, model=model_name(rt, column.ai or {}),
                  prefix=prompt.prefix(column, deps), spent=float(job["cost_usd"]))
    rt.remember(job_id, ctx)
    return ctx


def model_name(rt: Runtime, ai: dict[str, Any]) -> str:
    """The model a job's calls are priced by and audited as: "offline" (free) when no Claude is set up."""
    if isinstance(rt.model, OfflineCellModel):
        return "offline"
    return ai.get("model") or rt.app.cell_model


def backoff(rt: Runtime, attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: what the server asked for, else exponential."""
    if retry_after is not None:
        return min(rt.settings.retry_max_s, retry_after)
    return min(rt.settings.retry_max_s, rt.settings.retry_base_s * 2 ** (attempt - 1) * (0.5 + random.random()))


class Filler:
    """The calls for the cells one message claimed."""

    WHAT = "fill"  # what the job is called in its messages

    def __init__(self, rt: Runtime, ctx: Context, claim: str, *, urgent: bool = True):
        self.rt, self.ctx, self.claim = rt, ctx, claim
        self.urgent = urgent  # interactive work: its calls take the limiter's free slots first
        self.open: dict[int, Claimed] = {}  # claimed and not yet written
        self.stopped: str | None = None

    async def run(self, taken: Sequence[Claimed]) -> None:
        self.open = {c.id: c for c in taken}
        size = self.rt.app.rows_per_call
        chunks = [list(taken[i: i + size]) for i in range(0, len(taken), size)]
        try:
            results = await asyncio.gather(*(self._batch(chunk) for chunk in chunks), return_exceptions=True)
        finally:
            if self.open:  # a failure (or a shutdown) left cells claimed: hand them back to the queue
                await asyncio.shield(self._write([self._retry(c, None) for c in self.open.values()]))
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure

    async def _batch(self, rows: list[Claimed]) -> None:
        again = await self._call(rows)
        await asyncio.gather(*(self._single(row) for row in again))

    async def _single(self, row: Claimed) -> None:
        again = [row]
        while again:
            again = await self._call(again)

    def _retry(self, row: Claimed, err: CellModelError | None) -> Outcome:
        if row.attempt >= MAX_ATTEMPTS:
            reason = err.message if err else "the worker failed"
            return Outcome(row.id, self.claim, "error", error=f"{reason} (gave up after {MAX_ATTEMPTS} attempts)")
        wait = backoff(self.rt, row.attempt, err.retry_after if err else None)
        return Outcome(row.id, self.claim, "retry", not_before=time.time() + wait)

    async def _call(self, rows: list[Claimed]) -> list[Claimed]:
        """One LLM call for `rows`; returns the rows to try again at once, one attempt later."""
        ctx, rt = self.ctx, self.rt
        req = prompt.request(ctx.prefix, ctx.model, ctx.deps, rows)
        spend = Spend(ctx.job_id, self._estimate(req, len(rows)), rt.app.max_job_cost_usd, ctx.spent)
        reply: CellReply | None = None
        error: CellModelError | None = None
        elapsed = 0.0
        async with rt.limiter.slot(spend, urgent=self.urgent) as slot:
            # the job may have ended while this call waited for its slot
            status = rt.finished.get(ctx.job_id)
            if status == "cancelled":
                for row in rows:
                    self.open.pop(row.id, None)  # cancelling already gave these cells back
                return []
            if slot.refused:
                await self._stop(stop_message(spend.cap, self.WHAT))
            elif not self.stopped and status != "stopped":
                started = time.monotonic()
                try:
                    reply = await rt.model.complete(req)
                    slot.ok = True
                    slot.cost = cost_usd(ctx.model, reply)
                except CellModelError as err:
                    error = err
                elapsed = time.monotonic() - started
        if reply is None and error is None:  # the job was stopped: sent back, these cells fail with its reason
            await self._write([Outcome(r.id, self.claim, "retry", not_before=time.time()) for r in rows])
            return []
        if error is not None:
            return await self._failed(req, rows, error, elapsed)
        cost = cost_usd(ctx.model, reply)
        spent, seen = rt.spend.get(ctx.job_id, (0.0, 0))
        rt.spend[ctx.job_id] = (spent + cost, seen + len(rows))
        parsed = prompt.parse(ctx.prefix.column, reply.text, [r.id for r in rows])
        outcomes = []
        for row in rows:
            ok, got = parsed[row.id]
            if ok:
                outcomes.append(Outcome(row.id, self.claim, "ok", value=got))
            elif row.attempt < MAX_ATTEMPTS:
                outcomes.append(Outcome(row.id, self.claim, "again"))
            else:
                outcomes.append(Outcome(row.id, self.claim, "error", error=(
                    f"The model's answer could not be used after {MAX_ATTEMPTS} attempts: {got}")))
        bad = sorted({str(got) for ok, got in parsed.values() if not ok})
        kinds = await self._write(outcomes, self._run(req, rows, reply, cost, elapsed, "; ".join(bad) or None), cost)
        return self._again(rows, kinds)

    async def _failed(self, req: CellRequest, rows: list[Claimed], err: CellModelError,
                      elapsed: float) -> list[Claimed]:
        rt = self.rt
        if err.rate_limited:
            await rt.limiter.throttle()
        if err.fatal:
            await self._stop(f"Stopped: {err.message}. Fix this and start the {self.WHAT} again.")
        outcomes = []
        for row in rows:
            if err.retryable:
                outcomes.append(self._retry(row, err))
            elif err.isolate and len(rows) > 1 and row.attempt < MAX_ATTEMPTS:
                outcomes.append(Outcome(row.id, self.claim, "again"))
            else:
                outcomes.append(Outcome(row.id, self.claim, "error", error=err.message))
        kinds = await self._write(outcomes, self._run(req, rows, None, 0.0, elapsed, err.message))
        return self._again(rows, kinds)

    def _again(self, rows: list[Claimed], kinds: dict[int, str]) -> list[Claimed]:
        return [Claimed(r.id, r.attempt + 1, r.inputs) for r in rows if kinds.get(r.id) == "again"]

    async def _write(self, outcomes: list[Outcome], run: dict[str, Any] | None = None, cost: float = 0.0
                     ) -> dict[int, str]:
        ctx = self.ctx
        kinds = await self.rt.writer.write(WriteItem(
            job_id=ctx.job_id, table=ctx.table, column_id=str(ctx.column.id), deps=ctx.dep_ids,
            outcomes=outcomes, run=run, cost=cost))
        for rid, kind in kinds.items():
            if kind != "again":
                self.open.pop(rid, None)
        return kinds

    async def _stop(self, message: str) -> None:
        if self.stopped:
            return
        self.stopped = message
        self.rt.finished[self.ctx.job_id] = "stopped"  # calls about to start here see it at once
        async with transaction(None, engine=self.rt.engine) as conn:
            jobs = await self._stop_job(conn, self.ctx.job_id, message)
        await self.rt.on_jobs(jobs)

    @staticmethod
    async def _stop_job(conn: Any, job_id: str, message: str) -> list[dict[str, Any]]:
        """End the job as stopped (its cells still queued fail with `message`); returns the jobs changed."""
        return await ai_cells.stop_job(conn, job_id, message)

    def _estimate(self, req: CellRequest, rows: int) -> float:
        """A call's cost before it is made: from this job's calls so far, else from the prompt's size."""
        cost, seen = self.rt.spend.get(self.ctx.job_id, (0.0, 0))
        if seen >= 10:
            return cost / seen * rows * 1.5
        inp, out = price(self.ctx.model)
        return ((len(req.system) + len(req.user)) / 4 * inp + rows * EST_OUTPUT_PER_ROW * out) / 1e6

    def _run(self, req: CellRequest, rows: list[Claimed], reply: CellReply | None, cost: float, elapsed: float,
             error: str | None) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "workspace_id": str(ctx.table.workspace_id), "table_id": str(ctx.table.id),
            "column_id": str(ctx.column.id), "job_id": ctx.job_id, "record_ids": [r.id for r in rows],
            "model": ctx.model, "prompt_hash": ctx.prefix.hash,
            "input_hash": hashlib.sha256(req.user.encode()).hexdigest(),
            "input_tokens": reply.input_tokens if reply else 0, "output_tokens": reply.output_tokens if reply else 0,
            "cache_read_tokens": reply.cache_read_tokens if reply else 0,
            "cache_write_tokens": reply.cache_write_tokens if reply else 0,
            "latency_ms": round(elapsed * 1000, 1), "cost_usd": cost, "success": reply is not None and not error,
            "error": error,
            # the provenance of the cells it wrote: the rows as sent (their input values), the raw answer
            "request": req.user, "answer": reply.text if reply else None,
        }


async def run_message(rt: Runtime, job_id: str, record_ids: Sequence[int], *, urgent: bool = True) -> int:
    """Fill the job's queued cells among `record_ids`; returns how many cells this message claimed.
    `urgent`: interactive work, whose calls go ahead of bulk ones for the limiter's slots."""
    ctx = await load_context(rt, job_id)
    if ctx is None:
        return 0
    claim = uuid.uuid4().hex[:16]
    worker = await rt.lease.ensure()
    async with rt.engine.connect() as conn:  # one statement, committed at once (see worker/writer.py)
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        taken = await ai_cells.claim(conn, job_id=job_id, table_id=ctx.table.id, column_id=str(ctx.column.id),
                                     deps=ctx.dep_ids, record_ids=record_ids, claim_id=claim, worker=worker)
    if taken:
        await Filler(rt, ctx, claim, urgent=urgent).run(taken)
    return len(taken)
