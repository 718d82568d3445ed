"""The AI column tools: `fill_column` starts a fill job that writes (progress shows in the chat), and
`enrich_column` computes a sample of values without writing them and proposes them for review."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from core.settings import get_settings
from db import ai_cells, previews
from db.schemas import ColumnCreate, ColumnPublic, TablePublic
from db.tables import get_table
from tools.base import JobEvent, ToolContext, ToolError, ToolResult, tool
from tools.proposals import _propose
from worker import jobs, prompt
from worker.llm import price

log = logging.getLogger(__name__)

COST_SHOWN_FROM = 50  # fills larger than this show their estimated cost before they run
MAX_SAMPLE = 50
MAX_DEPENDS = 10
MAX_LOG_NOTES = 10

Scope = Literal["all", "empty", "failed", "stale"] | Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=10_000)]


class FillColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: str | None = Field(default=None, description="The table; the active table when left out")
    column_id: str = Field(description="The AI column's id (or its name)")
    scope: Scope = Field(default="all", description='"all", "empty", "failed", "stale" or a list of row ids')


class EnrichColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: str | None = Field(default=None, description="The table; the active table when left out")
    column_id: str | None = Field(default=None, description="The column to enrich (id or name)")
    new_column: ColumnCreate | None = Field(default=None, description="A new AI column to try out instead")
    scope: Scope = Field(default="empty", description='"all", "empty", "failed", "stale" or a list of row ids')
    sample: int = Field(default=5, ge=1, le=MAX_SAMPLE, description="How many rows to compute first")


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


def _target(table: TablePublic, args: EnrichColumn) -> tuple[ColumnPublic, bool]:
    """The column to compute, with an `ai` config (a plain column gets one built from its row), and
    whether it is a new column (then it gets an id of its own, which no column has yet)."""
    if args.new_column is not None:
        spec = args.new_column
        if spec.ai is None:
            raise ToolError("new_column needs ai: {prompt, depends_on} so there is something to compute.")
        if any(c.name.casefold() == spec.name.casefold() for c in table.columns):
            raise ToolError(f'A column "{spec.name}" already exists; pass its column_id instead.')
        col = ColumnPublic.model_validate({**spec.model_dump(), "id": uuid.uuid4(), "position": len(table.columns),
                                           "ai": spec.ai.model_dump()})
        return col, True
    if not args.column_id:
        raise ToolError("Give column_id (an existing column) or new_column (a new AI column).")
    key = args.column_id.casefold()
    col = next((c for c in table.columns if str(c.id) == args.column_id or c.name.casefold() == key), None)
    if col is None:
        raise ToolError(f"No column {args.column_id!r}; the columns are: {', '.join(c.name for c in table.columns)}.")
    if col.ai is None:  # research a plain column from the rest of its row
        others = [c.name for c in table.columns if c.id != col.id and c.ai is None][:MAX_DEPENDS]
        ask = f"Find the {col.name} for this row, from " + ", ".join("{" + n + "}" for n in others) + "."
        col = col.model_copy(update={"ai": {"prompt": ask, "depends_on": others, "auto_update": False}})
    return col, False


async def _sample(conn: Any, table: TablePublic, col: ColumnPublic, scope: Any, n: int, new: bool
                  ) -> tuple[list[int], int]:
    """Up to `n` rows of `scope` (hand-edited cells left out unless named) and how many are in scope."""
    if new:
        scope = "all" if isinstance(scope, str) else scope
    cond, params, explicit = ai_cells._scope_sql(scope)
    pinned = "" if explicit else " AND NOT coalesce((r.meta -> :c ->> 'p')::boolean, false)"
    where = f"r.table_id = :t AND ({cond}){pinned}"
    values = {"t": table.id, "c": str(col.id), **params}
    total = (await conn.execute(text(f"SELECT count(*) FROM records r WHERE {where}"), values)).scalar_one()
    rows = (await conn.execute(text(f"SELECT r.id FROM records r WHERE {where} ORDER BY r.id LIMIT :n"),
                               {**values, "n": n})).scalars().all()
    return list(rows), total


async def _cancel(ctx: ToolContext, job_id: Any) -> jobs.JobPublic:
    async with ctx.transaction() as conn:
        job = await jobs.cancel(conn, job_id)
    try:
        await jobs.announce(job)
    except Exception:  # the stream only wakes listeners sooner
        log.warning("progress of job %s not announced", job_id, exc_info=True)
    return job


async def wait_preview(ctx: ToolContext, job_id: Any, *, timeout_s: float, interval_s: float = 0.2
                       ) -> tuple[jobs.JobPublic, list[previews.Result], bool]:
    """Wait for the workers to finish a preview; returns the job, its rows and whether it timed out
    (then it is cancelled, keeping what was computed). A turn stopped meanwhile cancels it too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            async with ctx.transaction() as conn:
                job = await jobs.get_job(conn, job_id)
                if job.status not in ai_cells.ACTIVE:
                    return job, await previews.results(conn, job_id), False
            if loop.time() >= deadline:
                job = await _cancel(ctx, job_id)
                async with ctx.transaction() as conn:
                    return job, await previews.results(conn, job_id), True
            await asyncio.sleep(interval_s)
    except asyncio.CancelledError:
        await asyncio.shield(_cancel(ctx, job_id))
        raise


def _scale(col: ColumnPublic, args: EnrichColumn, new: bool, ai_column: bool, sampled: list[int], in_scope: int
           ) -> tuple[str, str]:
    """What comes after the sample: a sentence for the user (in the proposal) and one for the agent."""
    rest = in_scope - len(sampled)
    if new:
        user = "Apply adds the column; the background workers then fill every row."
        agent = "Applying adds the column and fills every row in the background (progress shows in the chat)."
    elif rest <= 0:
        user = "These are all the rows in scope."
        agent = "Applying writes these values: that is every row in scope."
    elif ai_column:
        scope: Any = args.scope
        if isinstance(scope, list):
            left = [i for i in scope if i not in set(sampled)]
            scope = left if len(left) <= 200 else "the remaining row ids of the list"
        user = f"After Apply, ask to fill the remaining {rest} rows."
        agent = (f"Applying writes these values (kept as hand edits). {rest} more rows are in scope: after the user "
                 f'applies, fill_column {{column_id: "{col.id}", scope: {json.dumps(scope)}}} computes and writes '
                 "them in the background. Say so in one sentence; do not start it before Apply.")
    else:
        user = f"After Apply, ask to enrich the next rows ({rest} more are in scope)."
        agent = (f"Applying writes these values. {rest} more rows are in scope: after the user applies, call "
                 f'enrich_column again (scope "empty") for the next sample, or make "{col.name}" an AI column '
                 "(propose_schema modify with ai) so that fill_column can compute them all.")
    return user, agent


@tool(EnrichColumn)
async def enrich_column(ctx: ToolContext, args: EnrichColumn) -> ToolResult:
    """Have the background workers compute values for a column WITHOUT writing them, and show them to
    the user as a proposal to review (Apply / Dismiss), with a research log. Sample first, then scale:
    only `sample` (default 5) rows of `scope` are computed; after the user applies them, fill_column
    computes and writes the rest of an AI column. Give column_id (an AI column uses its prompt; a plain
    column is researched from the rest of its row) or new_column {name, type, ai: {prompt, depends_on}}
    to try a new AI column (proposed as a schema change with the sample in its reasoning; applying it
    fills every row). scope: "all", "empty" (default), "failed", "stale" or row ids. Progress shows in
    the conversation while the workers compute. Write your message BEFORE this call: say a sample is
    being computed for review, that the values will be highlighted in the table preview, name
    **Apply** and **Dismiss**, and that after Apply they can ask to fill the remaining rows."""
    ref = _table_ref(ctx, args.table_id)
    async with ctx.transaction() as conn:
        table = await _own_table(ctx, conn, ref)
        col, new = _target(table, args)
        ai_column = new or any(c.id == col.id and c.ai is not None for c in table.columns)
        rows, in_scope = await _sample(conn, table, col, args.scope, args.sample, new)
        job = await jobs.start_preview(conn, table, col, rows, scope=args.scope, thread_id=ctx.thread_id) if rows else None
    if job is None:
        return ToolResult({"column": col.name, "rows_in_scope": 0,
                           "note": f"No rows of scope {args.scope!r}: nothing to compute."})
    try:
        await jobs.announce(job)
    except Exception:  # the stream only wakes listeners sooner; the job is in the database either way
        log.warning("progress of job %s not announced", job.id, exc_info=True)
    await ctx.emit(JobEvent(job_id=job.id, table_id=table.id, column_id=col.id, column_name=col.name,
                            total=job.total))
    timeout = get_settings().preview_timeout_s
    job, found, timed_out = await wait_preview(ctx, job.id, timeout_s=timeout)
    async with ctx.transaction() as conn:
        models = await previews.models_used(conn, job.id)
    good = {r.record_id: r.value for r in found if r.status == "done" and r.value is not None}
    empty = [r.record_id for r in found if r.status == "done" and r.value is None]
    bad = {r.record_id: r.error or "no reason given" for r in found if r.status == "error"}
    unfinished = [r.record_id for r in found if r.status in ("pending", "computing")]
    facts: dict[str, Any] = {"job_id": str(job.id), "column": col.name, "sample": len(rows), "rows_in_scope": in_scope,
                             "computed": len(good), "no_answer": len(empty), "failed": len(bad),
                             "cost_usd": round(job.cost_usd, 6), "model": ", ".join(models) or None}
    if timed_out:
        facts["timed_out"] = (f"The workers had not finished after {timeout:g} s, so the sample was cancelled with "
                              f"{len(rows) - len(unfinished)} of {len(rows)} rows done. They may be busy, or not "
                              "running (`make run` starts them; `tablechat worker` runs them on their own).")
    elif job.status == "cancelled":
        return ToolResult({**facts, "status": "cancelled",
                           "note": "The sample was cancelled before it finished: nothing was proposed or written."})
    if job.status == "stopped" and job.error:
        facts["stopped"] = job.error
    if not good:
        why = facts.get("timed_out") or facts.get("stopped") or (
            "; ".join(sorted(set(bad.values()))[:5]) if bad else "the model found no value for any sampled row")
        return ToolResult({**facts, "error": f"No values to propose: {why}"}, is_error=True)
    ask = (col.ai or {}).get("prompt", "")
    model = facts["model"] or "the cell model"
    user_next, agent_next = _scale(col, args, new, ai_column, rows, in_scope)
    summary = (f"The workers computed a sample of {len(rows)} of {in_scope} rows in scope with {model}: "
               f"{len(good)} values, {len(bad)} failed, {len(empty)} without an answer; cost ${job.cost_usd:.4f}.")
    log_entries: list[dict[str, Any]] = [{"step": 1, "query": ask, "source": model, "note": summary}]
    notes = [*(f"Row {rid}: no value ({why})" for rid, why in bad.items()),
             *(f"Row {rid}: the model found no value" for rid in empty)]
    if facts.get("timed_out") or facts.get("stopped"):
        notes.insert(0, facts.get("timed_out") or facts["stopped"])
    log_entries += [{"step": 2 + i, "note": note} for i, note in enumerate(notes[:MAX_LOG_NOTES])]
    if new:
        shown = "; ".join(f"row {rid}: {v!r}" for rid, v in list(good.items())[:5])
        result = await _propose(ctx, "schema", {
            "mode": "update", "table_id": str(table.id),
            "reasoning": f"{user_next} Sample of {len(rows)} rows ({model}, ${job.cost_usd:.4f}): {shown}"[:2000],
            "operations": [{"action": "add", "column": args.new_column.model_dump(
                by_alias=True, exclude_none=True, exclude={"position"})}]})
    else:
        ops = [{"action": "update", "row_id": rid, "changes": {col.name: v}} for rid, v in good.items()]
        result = await _propose(ctx, "data", {
            "table_id": str(table.id), "operations": ops, "research_log": log_entries,
            "reasoning": (f'AI values for "{col.name}" on a sample of {len(rows)} of {in_scope} rows, computed by '
                          f"the background workers from: {ask}. {user_next}")[:2000]})
    if result.is_error or not isinstance(result.content, dict):
        return result
    return ToolResult({**result.content, **facts, "scale": agent_next}, ends_turn=result.ends_turn)


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
