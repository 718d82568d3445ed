"""History: a table's change sets, a cell's versions with their provenance, and reverting a change set
(previewed with `dry_run=1`). Row-level security scopes each to the caller's workspaces."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import CallerDep
from api.common import ColumnKey, RecordId, TableId, column_of, errors, parse_record_id
from db import history_read, tables
from db.errors import Conflict
from proposals.apply import apply
from proposals.revert import TooBig, plan_revert, preview, propose_revert
from proposals.revert_batches import revert_in_batches

router = APIRouter(tags=["history"])


class CellRef(BaseModel):
    record_id: int
    column_id: str


class RevertBody(BaseModel):
    """Conflicting cells (changed since the change set) keep their current value unless listed here."""

    restore: list[CellRef] = Field(default_factory=list, max_length=10_000)


@router.get("/tables/{table_id}/changes")
async def list_changes(
    caller: CallerDep, table_id: TableId,
    limit: Annotated[int, Query(ge=1, le=history_read.MAX_LIMIT)] = 50,
    before: Annotated[datetime | None, Query(description="only changes older than this time (ISO 8601)")] = None,
) -> dict[str, Any]:
    """The table's change sets, newest first: `{items: [{id, kind, actor, created_at, summary, cells,
    cost_usd, …}]}`; the next page is `before=<created_at of the last item>`."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        return {"items": await history_read.list_changes(conn, table.id, limit=limit, before=before)}


@router.get("/tables/{table_id}/records/{record_id}/cells/{column_id}/history", tags=["cells"])
async def cell_history(caller: CallerDep, table_id: TableId, record_id: RecordId, column_id: ColumnKey,
                       limit: Annotated[int, Query(ge=1, le=history_read.MAX_LIMIT)] = 50) -> dict[str, Any]:
    """The versions of one cell, newest first: `{items: [{version, value, at, source: {kind, change_id, …}}]}`;
    an AI source carries the model, the prompt as sent (with its input values), the raw answer, tokens and
    cost."""
    rid = parse_record_id(record_id)
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        col = column_of(table, column_id)
        return {"items": await history_read.cell_history(conn, table.id, rid, col.id, limit=limit)}


@router.post("/changes/{change_id}/revert", responses=errors(409))
async def revert_change(caller: CallerDep, change_id: str, body: RevertBody | None = None,
                        dry_run: Annotated[bool, Query(description="only preview the revert")] = False
                        ) -> dict[str, Any]:
    """Undo a change set: `{change_id, reverted, conflicts: [{record_id, column_id, current, restore}]}`.
    Conflicting cells keep their current value unless named in `restore`. With `dry_run=1` nothing changes
    and `preview` shows what would (`change_id` is then null). A change set is reverted once (409 after)."""
    restore = [(c.record_id, c.column_id) for c in (body.restore if body else [])]
    try:
        return await _revert_proposal(caller, change_id, restore, dry_run)
    except TooBig:  # too many rows for a proposal: its cells are reverted in batches, in bounded memory
        async with caller.tx() as conn:
            return await revert_in_batches(conn, change_id, dry_run=dry_run, restore=restore)


async def _revert_proposal(caller: Any, change_id: str, restore: list[tuple[int, str]], dry_run: bool
                           ) -> dict[str, Any]:
    async with caller.tx() as conn:
        if dry_run:
            plan = await plan_revert(conn, change_id)
            return {"change_id": None, "reverts": str(plan.change_set.id), "reverted": plan.reverted,
                    "conflicts": [c.public() for c in plan.conflicts],
                    "preview": (await preview(conn, plan)).model_dump(mode="json")}
        stored, plan = await propose_revert(conn, change_id, account_id=caller.account_id, thread_id=None,
                                            restore=restore)
        chosen = [i for i in range(len(plan.proposal.operations)) if i not in set(plan.unselected)]
        if not chosen:
            raise Conflict("Everything this change wrote was changed since; name the cells to restore in "
                           "`restore`", conflicts=[c.public() for c in plan.conflicts][:100])
        result = await apply(conn, stored, chosen, caller.account_id)
        if result.status == "stale" and result.change_id is None:
            raise Conflict(result.results[0].error if result.results else "This change was reverted already",
                           change_id=change_id)
        kept = set(plan.unselected)
        return {"change_id": result.change_id, "reverts": str(plan.change_set.id), "status": result.status,
                "reverted": plan.reverted, "applied": result.applied, "failed": result.failed,
                "conflicts": [c.public() for c in plan.conflicts if c.op in kept],
                "restored_conflicts": [c.public() for c in plan.conflicts if c.op not in kept]}


@router.get("/tables/{table_id}/spend", tags=["jobs"])
async def table_spend(caller: CallerDep, table_id: TableId) -> dict[str, Any]:
    """What the table's AI columns cost: `{today_usd, total_usd, columns: {<column id>: {today_usd, total_usd,
    calls, input_tokens, cached_tokens, output_tokens}}}` (today: since midnight UTC)."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        return await history_read.spend(conn, table_id=table.id)


@router.get("/usage", tags=["jobs"])
async def usage(caller: CallerDep, workspace: Annotated[uuid.UUID | None, Query()] = None) -> dict[str, Any]:
    """Model spend per table and AI column of the caller's workspaces (or one), today and in total."""
    async with caller.tx() as conn:
        return await history_read.usage(conn, workspace_id=workspace)
