"""The proposing tools: check a schema or data proposal against the table, store it (superseding the
thread's pending one), show it to the user, and end the turn until they decide."""

from __future__ import annotations

import logging
from typing import Any, Literal

from proposals import service
from proposals.payloads import DataProposal, SchemaProposal, TableChange, to_json
from proposals.validate import ProposalInvalid
from tools.base import BUTTONS, STORED_KIND, ProposalEvent, ToolContext, ToolError, ToolResult, error, tool

log = logging.getLogger(__name__)



async def _propose(ctx: ToolContext, what: Literal["schema", "data"], payload: dict[str, Any]) -> ToolResult:
    workspace = await ctx.workspace()
    if workspace is None:
        raise ToolError("This conversation has no workspace yet, so nothing can be proposed.")
    try:
        async with ctx.transaction() as conn:
            made = await service.propose(
                conn,
                what=what,
                payload=payload,
                workspace_id=workspace,
                account_id=ctx.account_id,
                thread_id=ctx.thread_id,
                active_table_id=ctx.active_table_id,
            )
    except ProposalInvalid as exc:
        return error(exc.message)
    stored, preview = made.stored, made.preview
    event = ProposalEvent(
        proposal_id=stored.id,
        kind=stored.kind,
        table_id=stored.table_id,
        payload=stored.payload,
        preview=preview,
        superseded=tuple(stored.superseded),
    )
    try:
        await ctx.emit(event)
    except Exception:  # stored but not on screen: the model must not tell the user to press buttons
        log.exception("showing proposal %s failed", stored.id)
        return error(
            f"Proposal {stored.id} was saved but could not be shown to the user; tell them to reload."
        )
    out: dict[str, Any] = {
        "proposal_id": str(stored.id),
        "status": "shown to the user",
        "summary": preview.summary,
        "buttons": " / ".join(BUTTONS[STORED_KIND[stored.kind]]),
        "next": "Wait for the user's decision: tell them what you proposed, where to look and which "
        "buttons to press; do not ask for permission.",
    }
    if stored.superseded:
        out["superseded"] = [str(p) for p in stored.superseded]
    return ToolResult(out, ends_turn=True)


def _checks(what: Literal["schema", "data"]) -> Any:
    async def more_problems(ctx: ToolContext, raw: Any) -> list[str]:
        """The table checks of the well-formed operations of an input that failed its shape checks."""
        workspace = await ctx.workspace()
        if workspace is None:
            return []
        async with ctx.transaction() as conn:
            _, _, problems = await service.check(conn, what=what, payload=raw, workspace_id=workspace,
                                                 active_table_id=ctx.active_table_id, shape=False)
        return problems

    return more_problems


@tool(SchemaProposal, more_problems=_checks("schema"))
async def propose_schema(ctx: ToolContext, args: SchemaProposal) -> ToolResult:
    """Propose a new table (mode "create") or changes to a table's columns (mode "update"). Nothing
    changes until the user clicks Create Table / Apply in the preview shown in the conversation; Dismiss
    discards it. A new proposal replaces the conversation's pending one.

    mode "create": table_name, table_description, reasoning, operations made only of
    {"action": "add", "column": {name, type, required?, options? (select/multi_select only),
    filterDisplay?: "tab", ai?: {prompt, depends_on, auto_update}}}, and sample_rows: 3+ example rows as
    {ColumnName: value} that the user may include.
    mode "update": table_id (the active table when left out), reasoning, operations on existing columns
    by id (from get_table): {"action": "add", "column": {...}, "after_column_id"?},
    {"action": "modify", "column_id", "changes": {name?, type?, required?, options?, filterDisplay?, ai?}},
    {"action": "remove", "column_id"}, {"action": "reorder", "column_id", "after_column_id" (null = first)}.
    Column types: text long_text number boolean date select multi_select url email json. An AI column's
    prompt names other columns of the row as {Column Name}.
    Write your message to the user BEFORE this call, in the same reply (once the proposal is shown the
    turn ends and the user decides): say what you propose, where to look (the preview in the
    conversation), what they can uncheck, and to click **Create Table** (new table) or **Apply**, or
    **Dismiss**; never ask for permission. If the result is an error, nothing was shown: fix each listed
    problem and call again."""
    return await _propose(ctx, "schema", to_json(args))


@tool(DataProposal, more_problems=_checks("data"))
async def propose_data(ctx: ToolContext, args: DataProposal) -> ToolResult:
    """Propose rows to add, update or delete in one table (table_id: the active table when left out).
    operations: {"action": "add", "data": {ColumnName: value}}, {"action": "update", "row_id", "changes":
    {ColumnName: value}}, {"action": "delete", "row_id"}; row ids come from get_table or query_rows.
    Values must fit the column types (select values from the column's options). reasoning says why;
    research_log optionally lists the sources or steps behind the values. Nothing changes until the user
    clicks Apply in the preview (they may uncheck rows); Dismiss discards it. Write your message to the
    user BEFORE this call, in the same reply (the turn ends once the proposal is shown): say what you
    propose, that the changes are highlighted in the preview, that rows can be unchecked, and to click
    **Apply** or **Dismiss**; never ask for permission. If the result is an error, nothing was shown: fix
    each listed problem and call again."""
    return await _propose(ctx, "data", to_json(args))


@tool(TableChange)
async def propose_table_change(ctx: ToolContext, args: TableChange) -> ToolResult:
    """Propose deleting a table (action "delete_table"), renaming one ("rename_table", with new_name), or
    renaming this chat's workspace ("rename_workspace", with new_name). table_id: the active table when
    left out (use list_tables to find a table by name). The preview in the conversation shows the table's
    name and, for a deletion, in red how many rows will be lost; nothing changes until the user clicks
    **Delete** (a deletion) or **Apply** (a rename); **Dismiss** discards it. Write your message BEFORE this
    call, in the same reply: say what you propose and which buttons to press; never ask for permission."""
    workspace = await ctx.workspace()
    if workspace is None:
        raise ToolError("This conversation has no workspace yet, so nothing can be proposed.")
    try:
        async with ctx.transaction() as conn:
            made = await service.propose_table_change(conn, args, workspace_id=workspace, account_id=ctx.account_id,
                                                      thread_id=ctx.thread_id, active_table_id=ctx.active_table_id)
    except ProposalInvalid as exc:
        return error(exc.message)
    stored, preview = made.stored, made.preview
    try:
        await ctx.emit(ProposalEvent(proposal_id=stored.id, kind=stored.kind, table_id=stored.table_id,
                                     payload=stored.payload, preview=preview, superseded=tuple(stored.superseded)))
    except Exception:
        log.exception("showing proposal %s failed", stored.id)
        return error(f"Proposal {stored.id} was saved but could not be shown to the user; tell them to reload.")
    kind = "delete" if args.action == "delete_table" else "rename"
    out: dict[str, Any] = {"proposal_id": str(stored.id), "status": "shown to the user", "summary": preview.summary,
                           "buttons": " / ".join(BUTTONS[kind]),
                           "next": "Wait for the user's decision: tell them what you proposed and which buttons "
                                   "to press; do not ask for permission."}
    if stored.superseded:
        out["superseded"] = [str(p) for p in stored.superseded]
    return ToolResult(out, ends_turn=True)
