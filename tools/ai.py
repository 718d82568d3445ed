"""The AI column tools: `fill_column` starts a fill job that writes (progress shows in the chat; the
functions that show it are here too). `enrich_column`, its preview, is in tools/enrich.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import jobs
from core.markdown import md_text
from core.settings import get_settings
from db.schemas import TablePublic
from db.tables import get_table
from jobs import COST_SHOWN_FROM
from tools.base import JobEvent, ToolContext, ToolError, ToolResult, tool

log = logging.getLogger(__name__)

Scope = Literal["all", "empty", "failed", "stale"] | Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10_000)]


class FillColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: str | None = Field(default=None, description="The table; the active table when left out")
    column_id: str = Field(description="The AI column's id (or its name)")
    scope: Scope = Field(default="all", description='"all", "empty", "failed", "stale" or a list of row ids')
    mode: Literal["now", "batch"] | None = Field(default=None, description=(
        '"now" (realtime) or "batch" (Message Batches API: half the price, usually within an hour, at most '
        "24 h). Leave it out the first time: a big fill then starts nothing and returns both estimates for "
        "the user to choose from."))


def _table_ref(ctx: ToolContext, table_id: str | None) -> Any:
    ref = table_id or ctx.active_table_id
    if ref is None:
        raise ToolError("No table is active; give table_id (list_tables shows them).")
    return ref


async def _own_table(ctx: ToolContext, conn: Any, ref: Any) -> TablePublic:
    table = await get_table(conn, ref)
    if table.workspace_id != await ctx.workspace():
        raise ToolError(f"Table {ref} is not in this conversation's workspace.")
    return table


@tool(FillColumn)
async def fill_column(ctx: ToolContext, args: FillColumn) -> ToolResult:
    """Run an AI column's fill now: the background workers compute and WRITE its cells (cells edited by
    hand are kept unless scope names their rows). scope: "all", "empty" (no value yet), "failed",
    "stale" (inputs changed) or a list of row ids. Live progress (done / failed / queued, cost, time
    left) and a final summary appear in the conversation by themselves: tell the user the fill started
    and how many cells it covers; do not poll. To preview values before writing, use enrich_column.
    A big fill (over a thousand cells) called without `mode` starts nothing: it returns `choice_needed`
    with the estimate of both ways (now: cost and minutes; batch: half the cost, usually within an hour,
    at most 24 h). Show the user that estimate, ask which they want, and call again with `mode`."""
    ref = _table_ref(ctx, args.table_id)
    async with ctx.transaction() as conn:
        table = await _own_table(ctx, conn, ref)
        column = jobs.ai_column(table, args.column_id)
        estimate = await jobs.estimate_cost(conn, table, column.id, args.scope)
        if args.mode is None and estimate.batch_usd is not None:
            return ToolResult({
                "column": column.name, "cells": estimate.cells, "choice_needed": True,
                "estimate": estimate.text(), "estimated_cost_usd": estimate.usd,
                "estimated_batch_cost_usd": estimate.batch_usd, "estimated_minutes": estimate.minutes,
                "note": 'Nothing started yet: ask the user whether to fill now or as a batch, then call '
                        'fill_column again with mode "now" or "batch".'})
        job = await jobs.start_fill(conn, table, column.id, args.scope, thread_id=ctx.thread_id,
                                    mode=args.mode or "now")
    await jobs.tell(job)
    out: dict[str, Any] = {"job_id": str(job.id), "column": column.name, "cells_queued": job.total,
                           "status": job.status, "mode": args.mode or "now"}
    if job.total == 0:
        out["note"] = f'No cells of "{column.name}" match scope {args.scope!r}: nothing to fill.'
        return ToolResult(out)
    if job.total > COST_SHOWN_FROM:
        out["estimated_cost_usd"] = estimate.batch_usd if job.mode == "batch" else estimate.usd
    if job.mode == "batch":
        out["note"] = ("As a batch: half the price; results usually land within an hour (at most 24 h), "
                       "and progress shows as they do.")
    out["cost_cap_usd"] = get_settings().max_job_cost_usd
    out["progress"] = "shown live in the conversation, with a summary at the end"
    await ctx.emit(JobEvent(job_id=job.id, table_id=table.id, column_id=column.id, column_name=column.name,
                            total=job.total))
    return ToolResult(out)


# -- progress as the conversation shows it ------------------------------------------------------------
# These lines are markdown chat messages: the column's name, cell errors and a job's error are user or
# model text, so each goes through md_text.

SHOW_FAILURES = 10
BATCH_INTERVAL_S = 5.0  # a batch's results land all at once, within the hour
BATCH_FOLLOW_S = 25 * 3600.0  # a Message Batch ends within 24 h


def progress_line(job: jobs.JobPublic, column: str) -> str:
    """One line while a job runs: done / failed / queued, cost so far, time left."""
    parts = [f"{job.done} / {job.total} done", f"{job.failed} failed", f"{job.queued} queued",
             f"${job.cost_usd:.4f} so far"]
    if job.eta_s is not None:
        parts.append(f"about {max(1, round(job.eta_s))} s left")
    lead = "Computing a sample of" if job.mode == "preview" else "Filling"
    how = (" as a batch (half the price; results usually within an hour, at most 24 h)"
           if job.mode == "batch" else "")
    return f"{lead} **{md_text(column)}**{how}: " + " · ".join(parts)


async def final_summary(conn: Any, job: jobs.JobPublic, column: str) -> str:
    """How a job ended, with the failed cells of its column and why (the first few)."""
    if job.mode == "preview":
        return await _preview_summary(conn, job, column)
    head = {"completed": "Filled", "cancelled": "Cancelled filling", "stopped": "Stopped filling"}.get(
        job.status, "Filling")
    text_ = f"{head} **{md_text(column)}**: {job.done} / {job.total} done · {job.failed} failed · ${job.cost_usd:.4f}"
    if job.status == "stopped" and job.error:
        text_ += f"\n\n{md_text(job.error, limit=None)}"
    left = job.total - job.done - job.failed
    if job.status == "cancelled" and left > 0:
        text_ += (f"\n\n{left} cell{'s' if left != 1 else ''} not computed: left as before the fill. "
                  f"Ask “fill column {md_text(column)} for empty cells” to compute them.")
    if job.failed:
        rows, n = await jobs.failed_cells(conn, job, SHOW_FAILURES)
        if rows:
            text_ += "\n\nFailed cells:\n" + "\n".join(f"- row {rid}: {md_text(e or 'no reason given', limit=None)}" for rid, e in rows)
            if n > len(rows):
                text_ += f"\n- and {n - len(rows)} more"
            text_ += "\n\nUse **Retry failed** in the live view (or ask “retry column …”) to try them again."
    return text_


async def _preview_summary(conn: Any, job: jobs.JobPublic, column: str) -> str:
    head = {"completed": "Computed a sample of", "cancelled": "Cancelled the sample of",
            "stopped": "Stopped the sample of"}.get(job.status, "Computing a sample of")
    text_ = (f"{head} **{md_text(column)}**: {job.done} / {job.total} done · {job.failed} failed · ${job.cost_usd:.4f} "
             "· nothing written")
    if job.status == "stopped" and job.error:
        text_ += f"\n\n{md_text(job.error, limit=None)}"
    failed = [r for r in await jobs.preview_results(conn, job.id) if r.status == "error"]
    if failed:
        text_ += "\n\nRows without a value:\n" + "\n".join(
            f"- row {r.record_id}: {md_text(r.error or 'no reason given', limit=None)}" for r in failed[:SHOW_FAILURES])
        if len(failed) > SHOW_FAILURES:
            text_ += f"\n- and {len(failed) - SHOW_FAILURES} more"
    return text_


async def cancel_job(ctx: ToolContext, job_id: Any) -> jobs.JobPublic:
    """Stop a fill or a sample as the user asked: cells not yet computed go back to what they were,
    computed ones stay. A job of another workspace is not found (row-level security); a finished one is
    returned as it is."""
    async with ctx.transaction() as conn:
        job = await jobs.cancel(conn, job_id)
    await jobs.tell(job)
    return job


async def follow_job(ctx: ToolContext, job_id: Any, column: str, show: Any, *, interval_s: float = 0.25,
                     timeout_s: float = 3600.0) -> jobs.JobPublic:
    """Call `show(text)` as a job moves (at most once per `interval_s`, only when the text changes), then
    once with its final summary; the database is read each time, so nothing depends on missed events.
    A batch fill is followed for up to BATCH_FOLLOW_S, read every BATCH_INTERVAL_S at most."""
    shown = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with ctx.transaction() as conn:
            job = await jobs.get_job(conn, job_id)
            if job.mode == "batch" and interval_s < BATCH_INTERVAL_S:
                interval_s, deadline = BATCH_INTERVAL_S, loop.time() + BATCH_FOLLOW_S
            done = job.status not in ("queued", "running")
            line = await final_summary(conn, job, column) if done else progress_line(job, column)
        if line != shown:
            await show(line)
            shown = line
        if done or loop.time() > deadline:
            return job
        await asyncio.sleep(interval_s)
