"""`revert_change`: undo a change of a table ("undo that", "undo the last change", "revert the import from
this morning"). The revert is a proposal like any other: previewed in the conversation (what comes back
green, what goes red, what changes amber with "Was: …"), applied only when the user clicks Apply."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from db import history_read
from db.errors import Conflict, Invalid
from proposals.revert import preview as revert_preview
from proposals.revert import propose_revert
from tools.base import ProposalEvent, ToolContext, ToolError, ToolResult, error, tool
from tools.tables import resolve_table

log = logging.getLogger(__name__)

Kind = Literal["proposal", "edit", "fill", "import", "revert"]
When = Literal["today", "this_morning", "this_afternoon", "yesterday"]


class RevertChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    change_id: str | None = Field(default=None, max_length=100, description="a change's id, when known")
    kind: Kind | None = Field(default=None, description="the kind of change: an applied proposal, a cell edit, "
                              "an AI fill, an import, or a revert")
    when: When | None = Field(default=None, description="when it was made (UTC)")
    table_id: str | None = Field(default=None, max_length=100, description="the table; the active one when left out")


def _matches(item: dict[str, Any], kind: Kind | None, when: When | None, now: datetime) -> bool:
    if kind is not None and item["kind"] != kind:
        return False
    if item.get("reverted_by"):
        return False
    if when is None:
        return True
    at = datetime.fromisoformat(item["created_at"])
    day = now.date() - timedelta(days=1) if when == "yesterday" else now.date()
    if at.date() != day:
        return False
    return when != "this_morning" and when != "this_afternoon" or (at.hour < 12) == (when == "this_morning")


async def _find(ctx: ToolContext, args: RevertChange) -> str:
    async with ctx.transaction() as conn:
        table = await resolve_table(ctx, conn, args.table_id)
        items = await history_read.list_changes(conn, table.id, limit=history_read.MAX_LIMIT)
    now = datetime.now(UTC)
    found = next((i for i in items if _matches(i, args.kind, args.when, now)), None)
    if found is None:
        what = " ".join(filter(None, [args.kind or "change", args.when and args.when.replace("_", " ")]))
        raise ToolError(f"No {what} of this table is left to revert.")
    return found["id"]


@tool(RevertChange)
async def revert_change(ctx: ToolContext, args: RevertChange) -> ToolResult:
    """Undo a change of a table: an applied proposal, a cell edit, an AI fill, an import or a revert. With
    no change_id, the latest change of the active table that matches `kind` and `when` (both optional: the
    latest change of all when left out; "undo that" and "undo the last change" mean that). The revert is
    shown as a proposal: what comes back in green, what goes in red, changed cells in amber with their
    current value; cells changed since the change are left unchecked (they keep their current value)
    unless the user checks them. Nothing changes until the user clicks **Apply**; **Dismiss** discards it.
    Write your message BEFORE this call: say what will be reverted, that the preview shows it, that
    unchecked rows keep their current values, and to click **Apply** or **Dismiss**."""
    change_id = args.change_id or await _find(ctx, args)
    workspace = await ctx.workspace()
    try:
        async with ctx.transaction() as conn:
            stored, plan = await propose_revert(conn, change_id, account_id=ctx.account_id, thread_id=ctx.thread_id)
            if workspace is not None and plan.change_set.workspace_id != workspace:
                raise ToolError(f"No change {change_id} in this workspace.")  # rolls the proposal back
            shown = await revert_preview(conn, plan)
    except (Invalid, Conflict) as exc:
        return error(exc.message)
    shown = shown.model_copy(update={"proposal_id": str(stored.id), "status": stored.status})
    event = ProposalEvent(proposal_id=stored.id, kind=stored.kind, table_id=stored.table_id,
                          payload=stored.payload, preview=shown, superseded=tuple(stored.superseded))
    try:
        await ctx.emit(event)
    except Exception:
        log.exception("showing revert %s failed", stored.id)
        return error(f"The revert {stored.id} was saved but could not be shown; tell the user to reload.")
    return ToolResult({
        "proposal_id": str(stored.id), "status": "shown to the user",
        "reverts": {"change_id": str(plan.change_set.id), "kind": plan.change_set.kind,
                    "summary": plan.change_set.summary, "at": plan.change_set.created_at.isoformat()},
        "undoes": plan.reverted, "conflicts": len(plan.conflicts),
        "buttons": "Apply / Dismiss",
        "next": "Wait for the user's decision: say what will be reverted, where to look and to click Apply or "
                "Dismiss; do not ask for permission.",
    }, ends_turn=True)
