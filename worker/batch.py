"""Batch fills through the Message Batches API (half the price, usually within an hour, at most 24 h).

`submit`: a `batch` message claims its rows (one conditional UPDATE, as a realtime fill does) and sends
them as one Message Batch, `rows_per_call` rows a request (custom id `<claim>-<k>`); the batch is kept
on the job (db/ai_cells/batches.py) and a `batch_poll` message is sent for later. `poll`: when the batch
has ended its results are written with the same guards as realtime calls (the claim and the row's input
hash, the column type, at most 3 attempts, costs counted on the job at the batch price); rows the batch
could not answer go back to the queue and are retried as realtime calls. A job cancelled or stopped
meanwhile has its batch cancelled at the next poll (`jobs.cancel` sends one at once). Before a batch is
submitted, what the job spent plus what its batches in flight may cost plus this one's estimate must
fit under the job's cost cap. Without Claude (the offline model) a batch fill runs as a realtime one."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from db import ai_cells
from db.ai_cells import MAX_ATTEMPTS, Claimed, Outcome, batches
from db.engine import transaction
from db.errors import NotFound
from worker import prompt
from worker.fill import Filler, load_context, run_message
from worker.limiter import stop_message
from worker.llm import BATCH_DISCOUNT, CellModelError, CellReply, cost_usd
from worker.runtime import Runtime

log = logging.getLogger(__name__)


class BatchFiller(Filler):
    """The cells of one Message Batch: submitted, then written from its results."""

    async def submit(self, taken: Sequence[Claimed]) -> str | None:
        ctx, rt = self.ctx, self.rt
        size = rt.app.rows_per_call
        groups = [list(taken[i: i + size]) for i in range(0, len(taken), size)]
        requests = [(f"{self.claim}-{k}", prompt.request(ctx.prefix, ctx.model, ctx.deps, g))
                    for k, g in enumerate(groups)]
        estimate = BATCH_DISCOUNT * sum(self._estimate(req, len(g)) for (_, req), g in zip(requests, groups))
        async with transaction(None, engine=rt.engine) as conn:
            spent, flying = await batches.reserved(conn, ctx.job_id)
        if spent + flying + estimate > rt.app.max_job_cost_usd:  # the batches in flight may cost what they may
            await self._stop(stop_message(rt.app.max_job_cost_usd, self.WHAT))
            await self._write([Outcome(r.id, self.claim, "retry", not_before=time.time()) for r in taken])
            return None
        try:
            batch_id = await rt.model.submit_batch(requests)
        except CellModelError as err:
            if err.fatal:
                await self._stop(f"Stopped: {err.message}. Fix this and start the {self.WHAT} again.")
            await self._write([self._retry(r, err) if not err.fatal else
                               Outcome(r.id, self.claim, "error", error=err.message) for r in taken])
            return None
        async with transaction(None, engine=rt.engine) as conn:
            await batches.record_batch(conn, ctx.job_id, batch_id, self.claim, [r.id for r in taken], size, estimate)
            await batches.send_polls(conn, ctx.job_id, [batch_id], delay_ms=int(rt.settings.batch_poll_s * 1000))
        return batch_id

    async def collect(self, batch_id: str, entry: dict[str, Any],
                      results: dict[str, CellReply | CellModelError]) -> None:
        ctx, rt = self.ctx, self.rt
        async with transaction(None, engine=rt.engine) as conn:
            held = dict((await conn.execute(_HELD, {"t": ctx.table.id, "c": str(ctx.column.id), "ids": entry["rows"],
                                                    "claim": self.claim})).all())
        rows, size = entry["rows"], int(entry["size"])
        writes = []
        for k in range(-(-len(rows) // size)):
            group = [Claimed(rid, held[rid], {}) for rid in rows[k * size: (k + 1) * size] if rid in held]
            if group:
                cid = f"{self.claim}-{k}"
                got = results.get(cid) or CellModelError("the batch returned no answer for these rows", retryable=True)
                writes.append(self._answer(batch_id, cid, group, got))
        await asyncio.gather(*writes)

    async def _answer(self, batch_id: str, cid: str, rows: list[Claimed], got: CellReply | CellModelError) -> None:
        ctx = self.ctx
        now = time.time()
        if isinstance(got, CellModelError):
            outcomes = [self._retry(r, got) if r.attempt < MAX_ATTEMPTS else
                        Outcome(r.id, self.claim, "error", error=f"{got.message} (gave up after {MAX_ATTEMPTS} attempts)")
                        for r in rows]
            await self._write(outcomes, self._batch_run(batch_id, cid, rows, None, 0.0, got.message))
            return
        cost = cost_usd(ctx.model, got, batch=True)
        parsed = prompt.parse(ctx.prefix.column, got.text, [r.id for r in rows])
        outcomes = []
        for row in rows:
            ok, value = parsed[row.id]
            if ok:
                outcomes.append(Outcome(row.id, self.claim, "ok", value=value))
            elif row.attempt < MAX_ATTEMPTS:  # asked again as a realtime call
                outcomes.append(Outcome(row.id, self.claim, "retry", not_before=now))
            else:
                outcomes.append(Outcome(row.id, self.claim, "error", error=(
                    f"The model's answer could not be used after {MAX_ATTEMPTS} attempts: {value}")))
        bad = sorted({str(v) for ok, v in parsed.values() if not ok})
        await self._write(outcomes, self._batch_run(batch_id, cid, rows, got, cost, "; ".join(bad) or None), cost)

    def _batch_run(self, batch_id: str, cid: str, rows: list[Claimed], reply: CellReply | None, cost: float,
                   error: str | None) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "workspace_id": str(ctx.table.workspace_id), "table_id": str(ctx.table.id),
            "column_id": str(ctx.column.id), "job_id": ctx.job_id, "record_ids": [r.id for r in rows],
            "model": ctx.model, "prompt_hash": ctx.prefix.hash, "input_hash": f"batch:{batch_id}:{cid}",
            "input_tokens": reply.input_tokens if reply else 0, "output_tokens": reply.output_tokens if reply else 0,
            "cache_read_tokens": reply.cache_read_tokens if reply else 0,
            "cache_write_tokens": reply.cache_write_tokens if reply else 0,
            "latency_ms": 0.0, "cost_usd": cost, "success": reply is not None and not error, "error": error,
        }


# the attempt of each row still claimed by the batch (rows edited, cancelled or deleted meanwhile are not)
_HELD = text("SELECT id, coalesce((meta -> :c ->> 'a')::int, 1) FROM records WHERE table_id = :t AND id = ANY(:ids) "
             "AND meta -> :c ->> 's' = 'computing' AND meta -> :c ->> 'c' = :claim")


async def submit(rt: Runtime, job_id: str, record_ids: Sequence[int]) -> str | None:
    """Submit the job's queued cells among `record_ids` as one Message Batch; returns its id."""
    if not hasattr(rt.model, "submit_batch"):  # the offline model answers at once: no batch to wait for
        await run_message(rt, job_id, record_ids, urgent=False)
        return None
    ctx = await load_context(rt, job_id)
    if ctx is None:
        return None
    claim = uuid.uuid4().hex[:16]
    worker = await rt.lease.ensure()
    async with rt.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        taken = await ai_cells.claim(conn, job_id=job_id, table_id=ctx.table.id, column_id=str(ctx.column.id),
                                     deps=ctx.dep_ids, record_ids=record_ids, claim_id=claim, worker=worker)
    return await BatchFiller(rt, ctx, claim, urgent=False).submit(taken) if taken else None


async def poll(rt: Runtime, job_id: str, batch_id: str) -> None:
    """Has the batch ended? Then write its results; if its job ended, cancel it; else ask again later."""
    async with transaction(None, engine=rt.engine) as conn:
        try:
            job = await ai_cells.get_job(conn, job_id)
        except NotFound:
            return
        entry = (await batches.open_batches(conn, job_id)).get(batch_id)
    if entry is None:  # collected already
        return
    if job["status"] not in ai_cells.ACTIVE:
        try:
            await rt.model.cancel_batch(batch_id)
        except CellModelError as err:
            log.warning("cancelling batch %s of job %s failed: %s", batch_id, job_id, err.message)
        async with transaction(None, engine=rt.engine) as conn:
            await batches.polled(conn, job_id, batch_id, ended=True)
        return
    wait = rt.settings.batch_poll_s
    if time.time() - float(entry.get("polled") or 0) < wait / 2:
        return  # another poll of this batch is on its way (sent again by the sweeper)
    try:
        ended = await rt.model.batch_ended(batch_id)
        results = await rt.model.batch_results(batch_id) if ended else {}
    except CellModelError as err:
        log.warning("polling batch %s of job %s failed: %s", batch_id, job_id, err.message)
        ended = False
    async with transaction(None, engine=rt.engine) as conn:
        if not ended:
            if await batches.polled(conn, job_id, batch_id, ended=False):
                await batches.send_polls(conn, job_id, [batch_id], delay_ms=int(wait * 1000))
            return
        if not await batches.collecting(conn, job_id, batch_id):
            return
    ctx = await load_context(rt, job_id)
    if ctx is not None:
        await BatchFiller(rt, ctx, str(entry["claim"]), urgent=False).collect(batch_id, entry, results)
    async with transaction(None, engine=rt.engine) as conn:  # written: forgotten
        await batches.polled(conn, job_id, batch_id, ended=True)
