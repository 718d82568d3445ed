"""The AI column tools: `fill_column` starts a fill job that writes (progress shows in the chat; the
functions that show it are here too). `enrich_column`, its preview, is in tools/enrich.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from core.settings import get_settings
from db import ai_cells, previews
from db.schemas import ColumnPublic, TablePublic
from db.tables import get_table
from tools.base import JobEvent, ToolContext, ToolError, ToolResult, tool
from worker import jobs, prompt
from worker.llm import price

log = logging.getLogger(__name__)

COST_SHOWN_FROM = 50  # fills larger than this show their estimated cost before they run

Scope = Literal["all", "empty", "failed", "stale"] | Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10_000)]


class FillColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: str | None = Field(default=None, description="The table; the active table when left out")
    column_id: str = Field(description="The AI column's id (or its name)")
    scope: Scope = Field(default="all", description='"all", "empty", "failed", "stale" or a list of row ids')


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
    and how many cells it covers; do not poll. To preview values before writing, use enrich_column."""
    ref = _table_ref(ctx, args.table_id)
    async with ctx.transaction() as conn:
        table = await _own_table(ctx, conn, ref)
        column = ai_cells.ai_column(table, args.column_id)
        estimate = await jobs.estimate_cost(conn, table.id, column.id, args.scope)
        job = await jobs.start_fill(conn, table.id, column.id, args.scope, thread_id=ctx.thread_id)
    try:
        await jobs.announce(job)
    except Exception:  # the stream only wakes listeners sooner; the job is in the database either way
        log.warning("progress of job %s not announced", job.id, exc_info=True)
    out: dict[str, Any] = {"job_id": str(job.id), "column": column.name, "cells_queued": job.total,
                           "status": job.status}
    if job.total == 0:
        out["note"] = f'No cells of "{column.name}" match scope {args.scope!r}: nothing to fill.'
        return ToolResult(out)
    if job.total > COST_SHOWN_FROM:
        out["estimated_cost_usd"] = estimate.usd
    out["cost_cap_usd"] = get_settings().max_job_cost_usd
    out["progress"] = "shown live in the conversation, with a summary at the end"
    await ctx.emit(JobEvent(job_id=job.id, table_id=table.id, column_id=column.id, column_name=column.name,
                            total=job.total))
    return ToolResult(out)


# -- progress as the conversation shows it ------------------------------------------------------------

SHOW_FAILURES = 10


def progress_line(job: jobs.JobPublic, column: str) -> str:
    """One line while a job runs: done / failed / queued, cost so far, time left."""
    parts = [f"{job.done} / {job.total} done", f"{job.failed} failed", f"{job.queued} queued",
             f"${job.cost_usd:.4f} so far"]
    if job.eta_s is not None:
        parts.append(f"about {max(1, round(job.eta_s))} s left")
    lead = "Computing a sample of" if job.mode == "preview" else "Filling"
    return f"{lead} **{column}**: " + " · ".join(parts)


async def final_summary(conn: Any, job: jobs.JobPublic, column: str) -> str:
    """How a job ended, with the failed cells of its column and why (the first few)."""
    if job.mode == "preview":
        return await _preview_summary(conn, job, column)
    head = {"completed": "Filled", "cancelled": "Cancelled filling", "stopped": "Stopped filling"}.get(
        job.status, "Filling")
    text_ = f"{head} **{column}**: {job.done} / {job.total} done · {job.failed} failed · ${job.cost_usd:.4f}"
    if job.status == "stopped" and job.error:
        text_ += f"\n\n{job.error}"
    left = job.total - job.done - job.failed
    if job.status == "cancelled" and left > 0:
        text_ += (f"\n\n{left} cell{'s' if left != 1 else ''} not computed: left as before the fill. "
                  f"Ask “fill column {column} for empty cells” to compute them.")
    if job.failed:
        rows = (await conn.execute(text(
            "SELECT r.id, r.meta -> :c ->> 'e' AS e, count(*) OVER () AS n FROM records r "
            "WHERE r.table_id = :t AND r.meta -> :c ->> 's' = 'error' ORDER BY r.id LIMIT :k"),
            {"t": job.table_id, "c": str(job.column_id), "k": SHOW_FAILURES})).all()
        if rows:
            text_ += "\n\nFailed cells:\n" + "\n".join(f"- row {r.id}: {r.e or 'no reason given'}" for r in rows)
            if rows[0].n > len(rows):
                text_ += f"\n- and {rows[0].n - len(rows)} more"
            text_ += "\n\nUse **Retry failed** in the live view (or ask “retry column …”) to try them again."
    return text_


async def _preview_summary(conn: Any, job: jobs.JobPublic, column: str) -> str:
    head = {"completed": "Computed a sample of", "cancelled": "Cancelled the sample of",
            "stopped": "Stopped the sample of"}.get(job.status, "Computing a sample of")
    text_ = (f"{head} **{column}**: {job.done} / {job.total} done · {job.failed} failed · ${job.cost_usd:.4f} "
             "· nothing written")
    if job.status == "stopped" and job.error:
        text_ += f"\n\n{job.error}"
    failed = [r for r in await previews.results(conn, job.id) if r.status == "error"]
    if failed:
        text_ += "\n\nRows without a value:\n" + "\n".join(
            f"- row {r.record_id}: {r.error or 'no reason given'}" for r in failed[:SHOW_FAILURES])
        if len(failed) > SHOW_FAILURES:
            text_ += f"\n- and {len(failed) - SHOW_FAILURES} more"
    return text_


async def cancel_job(ctx: ToolContext, job_id: Any) -> jobs.JobPublic:
    """Stop a fill or a sample as the user asked: cells not yet computed go back to what they were,
    computed ones stay. A job of another workspace is not found (row-level security); a finished one is
    returned as it is."""
    async with ctx.transaction() as conn:
        job = await jobs.cancel(conn, job_id)
    try:
        await jobs.announce(job)
    except Exception:  # the stream only wakes listeners sooner; the database has the job either way
        log.warning("progress of job %s not announced", job.id, exc_info=True)
    return job


async def column_name(conn: Any, job: jobs.JobPublic) -> str:
    """The name of the column a job computes: a sample's is in the job, as its column may not exist yet."""
    if job.mode == previews.MODE:
        return (await previews.get_preview(conn, job.id))[1].name
    table = await get_table(conn, job.table_id)
    return next((c.name for c in table.columns if c.id == job.column_id), "AI column")


async def running_jobs(conn: Any, thread_id: str) -> list[str]:
    """The fills a conversation started that are still running."""
    found = await conn.execute(text("SELECT id FROM jobs WHERE thread_id = :th AND status IN ('queued', 'running') "
                                    "ORDER BY created_at"), {"th": thread_id})
    return [str(r.id) for r in found]


async def follow_job(ctx: ToolContext, job_id: Any, column: str, show: Any, *, interval_s: float = 0.25,
                     timeout_s: float = 3600.0) -> jobs.JobPublic:
    """Call `show(text)` as a job moves (at most once per `interval_s`, only when the text changes), then
    once with its final summary; the database is read each time, so nothing depends on missed events."""
    shown = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with ctx.transaction() as conn:
            job = await jobs.get_job(conn, job_id)
            done = job.status not in ("queued", "running")
            line = await final_summary(conn, job, column) if done else progress_line(job, column)
        if line != shown:
            await show(line)
            shown = line
        if done or loop.time() > deadline:
            return job
        await asyncio.sleep(interval_s)


def fill_estimates(preview: Any) -> list[dict[str, Any]]:
    """For each AI column a schema preview adds: the cells its fill will cover and roughly what that
    costs, when it is more than 50 cells (the same arithmetic as `jobs.estimate_cost`, before the
    column exists)."""
    if getattr(preview, "kind", None) != "schema_update" or preview.total_rows <= COST_SHOWN_FROM:
        return []
    app = get_settings()
    out = []
    for c in preview.columns:
        if c.state != "added" or not c.ai_prompt:
            continue
        col = ColumnPublic(id="00000000-0000-0000-0000-000000000000", name=c.name, type=c.type, position=0,
                           required=False, options=c.options, ai={"prompt": c.ai_prompt})
        deps = len(set(ai_cells.PLACEHOLDER.findall(c.ai_prompt)))
        cells = preview.total_rows
        inp, outp = price(app.cell_model)
        calls = -(-cells // app.rows_per_call)
        tokens_in = calls * len(prompt.prefix(col, []).system) / 4 + cells * (deps * jobs.EST_INPUT_TOKENS_PER_VALUE + 10)
        tokens_out = cells * jobs.EST_OUTPUT_TOKENS_PER_CELL.get(c.type, 8)
        out.append({"column": c.name, "cells": cells, "model": app.cell_model,
                    "usd": round((tokens_in * inp + tokens_out * outp) / 1e6, 4)})
    return out
