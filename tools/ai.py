"""The AI column tools: `fill_column` starts a fill job that writes (progress shows in the chat), and
`enrich_column` computes a sample of values without writing them and proposes them for review."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from core.settings import get_settings
from db import ai_cells
from db.ai_cells import Claimed
from db.schemas import ColumnCreate, ColumnPublic, TablePublic
from db.tables import get_table
from tools.base import JobEvent, ToolContext, ToolError, ToolResult, tool
from tools.proposals import _propose
from worker import jobs, prompt
from worker.llm import CellModelError, cost_usd, price
from worker.runtime import make_model
from worker.settings import get_worker_settings

log = logging.getLogger(__name__)

COST_SHOWN_FROM = 50  # fills larger than this show their estimated cost before they run
MAX_SAMPLE = 50
MAX_DEPENDS = 10

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
    whether it is a new column."""
    if args.new_column is not None:
        spec = args.new_column
        if spec.ai is None:
            raise ToolError("new_column needs ai: {prompt, depends_on} so there is something to compute.")
        if any(c.name.casefold() == spec.name.casefold() for c in table.columns):
            raise ToolError(f'A column "{spec.name}" already exists; pass its column_id instead.')
        col = ColumnPublic.model_validate({**spec.model_dump(), "id": "00000000-0000-0000-0000-000000000000",
                                           "position": len(table.columns),
                                           "ai": spec.ai.model_dump() if hasattr(spec.ai, "model_dump") else spec.ai})
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
                  ) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Up to `n` rows of `scope` (hand-edited cells left out unless named) and how many are in scope."""
    if new:
        scope = "all" if isinstance(scope, str) else scope
    cond, params, explicit = ai_cells._scope_sql(scope)
    pinned = "" if explicit else " AND NOT coalesce((r.meta -> :c ->> 'p')::boolean, false)"
    where = f"r.table_id = :t AND ({cond}){pinned}"
    values = {"t": table.id, "c": str(col.id), **params}
    total = (await conn.execute(text(f"SELECT count(*) FROM records r WHERE {where}"), values)).scalar_one()
    rows = (await conn.execute(text(f"SELECT r.id, r.data FROM records r WHERE {where} ORDER BY r.id LIMIT :n"),
                               {**values, "n": n})).all()
    return [(r.id, r.data or {}) for r in rows], total


async def _compute(col: ColumnPublic, deps: list[ColumnPublic], rows: list[tuple[int, dict[str, Any]]]
                   ) -> tuple[dict[int, tuple[bool, Any]], float, str]:
    """Each row's value (or why not), the cost and the model: the same prompt the workers use."""
    app = get_settings()
    model_name = (col.ai or {}).get("model") or (app.cell_model if app.llm_kind != "offline" else "offline")
    model = make_model(app, get_worker_settings())
    pre = prompt.prefix(col, deps)
    claimed = [Claimed(rid, 1, {str(d.id): data.get(str(d.id)) for d in deps}) for rid, data in rows]
    size = app.rows_per_call
    chunks = [claimed[i: i + size] for i in range(0, len(claimed), size)]

    async def call(chunk: list[Claimed]) -> tuple[dict[int, tuple[bool, Any]], float]:
        try:
            reply = await model.complete(prompt.request(pre, model_name, deps, chunk))
        except CellModelError as exc:
            return {c.id: (False, exc.message) for c in chunk}, 0.0
        return prompt.parse(pre.column, reply.text, [c.id for c in chunk]), cost_usd(model_name, reply)

    results = await asyncio.gather(*(call(c) for c in chunks))
    values: dict[int, tuple[bool, Any]] = {}
    for got, _ in results:
        values.update(got)
    return values, round(sum(c for _, c in results), 6), model_name


@tool(EnrichColumn)
async def enrich_column(ctx: ToolContext, args: EnrichColumn) -> ToolResult:
    """Compute values for a column WITHOUT writing them, and show them to the user as a proposal to
    review (Apply / Dismiss), with a research log. Sample first, then scale: by default only `sample`
    (5) rows of `scope` are computed. Give column_id (an AI column uses its prompt; a plain column is
    researched from the rest of its row) or new_column {name, type, ai: {prompt, depends_on}} to try a
    new AI column (proposed as a schema change with the sample in its reasoning). scope: "all",
    "empty" (default), "failed", "stale" or row ids. Write your message BEFORE this call: say a sample
    is being computed for review and that after **Apply** they can ask to fill the remaining rows."""
    ref = _table_ref(ctx, args.table_id)
    async with ctx.transaction() as conn:
        table = await _own_table(ctx, conn, ref)
        col, new = _target(table, args)
        rows, in_scope = await _sample(conn, table, col, args.scope, args.sample, new)
    if not rows:
        return ToolResult({"column": col.name, "rows_in_scope": 0,
                           "note": f"No rows of scope {args.scope!r}: nothing to compute."})
    deps = ai_cells.dependencies(table, col)
    values, cost, model_name = await _compute(col, deps, rows)
    good = {rid: v for rid, (ok, v) in values.items() if ok}
    bad = {rid: v for rid, (ok, v) in values.items() if not ok}
    ask = (col.ai or {}).get("prompt", "")
    log_entries: list[dict[str, Any]] = [
        {"step": 1, "query": ask, "source": model_name,
         "note": f"Computed a sample of {len(rows)} of {in_scope} rows in scope; cost ${cost:.4f}"},
        *({"step": 2 + i, "note": f"Row {rid}: no value ({why})"} for i, (rid, why) in enumerate(list(bad.items())[:10])),
    ]
    scale = (f"Applying writes these {len(good)} values; {in_scope - len(rows)} more rows are in scope — "
             "after Apply, ask to fill the rest." if in_scope > len(rows) else
             f"Applying writes these {len(good)} values (every row in scope).")
    if new:
        shown = "; ".join(f"row {rid}: {v!r}" for rid, v in list(good.items())[:5])
        result = await _propose(ctx, "schema", {
            "mode": "update", "table_id": str(table.id),
            "reasoning": f"Sample of {len(rows)} rows ({model_name}, ${cost:.4f}): {shown}"[:2000],
            "operations": [{"action": "add", "column": args.new_column.model_dump(by_alias=True, exclude_none=True, exclude={"position"})}]})
        scale = "Applying adds the column and fills every row in the background."
    else:
        if not good:
            return ToolResult({"column": col.name, "computed": 0, "failed": len(bad),
                               "errors": sorted(set(map(str, bad.values())))[:5]}, is_error=True)
        ops = [{"action": "update", "row_id": rid, "changes": {col.name: v}} for rid, v in good.items()]
        result = await _propose(ctx, "data", {
            "table_id": str(table.id), "operations": ops, "research_log": log_entries,
            "reasoning": f'AI values for "{col.name}" on a sample of {len(rows)} rows, computed from: {ask}'[:2000]})
    if result.is_error or not isinstance(result.content, dict):
        return result
    content = {**result.content, "sample": len(rows), "rows_in_scope": in_scope, "computed": len(good),
               "failed": len(bad), "cost_usd": cost, "model": model_name, "scale": scale}
    return ToolResult(content, ends_turn=result.ends_turn)


# -- progress as the conversation shows it ------------------------------------------------------------

SHOW_FAILURES = 10


def progress_line(job: jobs.JobPublic, column: str) -> str:
    """One line while a job runs: done / failed / queued, cost so far, time left."""
    parts = [f"{job.done} / {job.total} done", f"{job.failed} failed", f"{job.queued} queued",
             f"${job.cost_usd:.4f} so far"]
    if job.eta_s is not None:
        parts.append(f"about {max(1, round(job.eta_s))} s left")
    return f"Filling **{column}**: " + " · ".join(parts)


async def final_summary(conn: Any, job: jobs.JobPublic, column: str) -> str:
    """How a job ended, with the failed cells of its column and why (the first few)."""
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
