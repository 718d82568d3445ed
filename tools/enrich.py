"""`enrich_column`: sample first, then scale. The background workers compute a column's values for a
few rows as a preview job (nothing written: db/previews.py), the tool waits for it while the chat shows
its progress, and proposes what came back: a data proposal with a research log, or, for a column that
does not exist yet, the schema change that adds it with the sample in its reasoning."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import jobs
from core.settings import get_settings
from db.schemas import ColumnCreate, ColumnPublic, TablePublic
from tools.ai import Scope, _own_table, _table_ref, cancel_job
from tools.base import JobEvent, ToolContext, ToolError, ToolResult, tool
from tools.proposals import _propose

log = logging.getLogger(__name__)

MAX_SAMPLE = 50
MAX_DEPENDS = 10
MAX_LOG_NOTES = 10


class EnrichColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: str | None = Field(default=None, description="The table; the active table when left out")
    column_id: str | None = Field(default=None, description="The column to enrich (id or name)")
    new_column: ColumnCreate | None = Field(default=None, description="A new AI column to try out instead")
    scope: Scope = Field(default="empty", description='"all", "empty", "failed", "stale" or a list of row ids')
    sample: int = Field(default=5, ge=1, le=MAX_SAMPLE, description="How many rows to compute first")


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
    return await jobs.sample_rows(conn, table, col, scope, n)


async def wait_preview(ctx: ToolContext, job_id: Any, *, timeout_s: float, interval_s: float = 0.2
                       ) -> tuple[jobs.JobPublic, list[jobs.PreviewResult], bool]:
    """Wait for the workers to finish a preview; returns the job, its rows and whether it timed out
    (then it is cancelled, keeping what was computed). A turn stopped meanwhile cancels it too."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            async with ctx.transaction() as conn:
                job = await jobs.get_job(conn, job_id)
                if job.status not in jobs.ACTIVE:
                    return job, await jobs.preview_results(conn, job_id), False
            if loop.time() >= deadline:
                job = await cancel_job(ctx, job_id)
                async with ctx.transaction() as conn:
                    return job, await jobs.preview_results(conn, job_id), True
            await asyncio.sleep(interval_s)
    except asyncio.CancelledError:
        await asyncio.shield(cancel_job(ctx, job_id))
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


@dataclass
class Computed:
    """What the workers made of a sample: values by row, rows without an answer, failures and why,
    rows left unfinished (the job was stopped or timed out)."""

    values: dict[int, Any]
    empty: list[int]
    failed: dict[int, str]
    unfinished: list[int]

    @classmethod
    def of(cls, found: list[jobs.PreviewResult]) -> Computed:
        return cls(values={r.record_id: r.value for r in found if r.status == "done" and r.value is not None},
                   empty=[r.record_id for r in found if r.status == "done" and r.value is None],
                   failed={r.record_id: r.error or "no reason given" for r in found if r.status == "error"},
                   unfinished=[r.record_id for r in found if r.status in ("pending", "computing")])


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
    await jobs.tell(job)
    await ctx.emit(JobEvent(job_id=job.id, table_id=table.id, column_id=col.id, column_name=col.name,
                            total=job.total))
    timeout = get_settings().preview_timeout_s
    job, found, timed_out = await wait_preview(ctx, job.id, timeout_s=timeout)
    async with ctx.transaction() as conn:
        models = await jobs.models_used(conn, job.id)
    got = Computed.of(found)
    facts: dict[str, Any] = {"job_id": str(job.id), "column": col.name, "sample": len(rows), "rows_in_scope": in_scope,
                             "computed": len(got.values), "no_answer": len(got.empty), "failed": len(got.failed),
                             "cost_usd": round(job.cost_usd, 6), "model": ", ".join(models) or None}
    if timed_out:
        facts["timed_out"] = (f"The workers had not finished after {timeout:g} s, so the sample was cancelled with "
                              f"{len(rows) - len(got.unfinished)} of {len(rows)} rows done. They may be busy, or not "
                              "running (`make run` starts them; `tablechat worker` runs them on their own).")
    elif job.status == "cancelled":
        return ToolResult({**facts, "status": "cancelled",
                           "note": "The sample was cancelled before it finished: nothing was proposed or written."})
    if job.status == "stopped" and job.error:
        facts["stopped"] = job.error
    if not got.values:
        why = facts.get("timed_out") or facts.get("stopped") or (
            "; ".join(sorted(set(got.failed.values()))[:5]) if got.failed
            else "the model found no value for any sampled row")
        return ToolResult({**facts, "error": f"No values to propose: {why}"}, is_error=True)
    user_next, agent_next = _scale(col, args, new, ai_column, rows, in_scope)
    result = await _propose_sample(ctx, table, col, args, job, got, facts, user_next)
    if result.is_error or not isinstance(result.content, dict):
        return result
    return ToolResult({**result.content, **facts, "scale": agent_next}, ends_turn=result.ends_turn)


async def _propose_sample(ctx: ToolContext, table: TablePublic, col: ColumnPublic, args: EnrichColumn,
                          job: jobs.JobPublic, got: Computed, facts: dict[str, Any], user_next: str) -> ToolResult:
    """The proposal of a sample: updates of its rows with a research log (the prompt, the model, the
    rows computed, the failures, the cost), or the new column with the sample in its reasoning."""
    model = {"offline": "the offline model", None: "the cell model"}.get(facts["model"], facts["model"])
    sampled = facts["sample"]
    if args.new_column is not None:
        shown = "; ".join(f"row {rid}: {v!r}" for rid, v in list(got.values.items())[:5])
        return await _propose(ctx, "schema", {
            "mode": "update", "table_id": str(table.id),
            "reasoning": f"{user_next} Sample of {sampled} rows ({model}, ${job.cost_usd:.4f}): {shown}"[:2000],
            "operations": [{"action": "add", "column": args.new_column.model_dump(
                by_alias=True, exclude_none=True, exclude={"position"})}]})
    ask = (col.ai or {}).get("prompt", "")
    summary = (f"The workers computed a sample of {sampled} of {facts['rows_in_scope']} rows in scope with {model}: "
               f"{len(got.values)} values, {len(got.failed)} failed, {len(got.empty)} without an answer; "
               f"cost ${job.cost_usd:.4f}.")
    notes = [*(f"Row {rid}: no value ({why})" for rid, why in got.failed.items()),
             *(f"Row {rid}: the model found no value" for rid in got.empty)]
    if facts.get("timed_out") or facts.get("stopped"):
        notes.insert(0, facts.get("timed_out") or facts["stopped"])
    research = [{"step": 1, "query": ask, "source": facts["model"] or model, "note": summary},
                *({"step": 2 + i, "note": note} for i, note in enumerate(notes[:MAX_LOG_NOTES]))]
    ops = [{"action": "update", "row_id": rid, "changes": {col.name: v}} for rid, v in got.values.items()]
    return await _propose(ctx, "data", {
        "table_id": str(table.id), "operations": ops, "research_log": research,
        "reasoning": (f'AI values for "{col.name}" on a sample of {sampled} of {facts["rows_in_scope"]} rows, '
                      f"computed by the background workers from the prompt “{ask}”. {user_next}")[:2000]})
