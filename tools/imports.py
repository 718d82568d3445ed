"""Files uploaded in the chat (kept by dataio.uploads), proposed as a new table (columns and sample rows
in the preview; on Create Table, proposals.apply.apply imports every row in bulk) or as rows for the
open table (a data proposal: add rows, or update the rows matched on a key column)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from dataio import importer, uploads
from dataio.infer import plan_import
from dataio.read import BadFile, ParsedTable, read_table_file
from dataio.uploads import Upload, discard, import_of, receive_upload
from db.errors import Invalid
from proposals import service
from proposals.payloads import MAX_DATA_OPS
from proposals.validate import ProposalInvalid
from tools.base import ProposalEvent, ToolContext, ToolError, ToolResult, error, tool
from tools.tables import resolve_table

# what the chat's handlers and tests use from here (the files themselves are dataio.uploads')
__all__ = ["BadFile", "Invalid", "Upload", "discard", "import_of", "propose_import", "receive_upload"]

SAMPLE_ROWS = 5


async def _read(path: Path, filename: str) -> ParsedTable:
    return await asyncio.to_thread(read_table_file, path, filename)


# -------------------------------------------------------------------------------------------- the tool


class ImportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: str = Field(description="From the note about the uploaded file")
    target: Literal["new_table", "active_table"]
    table_name: str | None = Field(default=None, max_length=200, description="new_table: default from the file name")
    table_id: str | None = Field(default=None, description="active_table: default the active table")
    key_column: str | None = Field(default=None, description="active_table: update the rows whose value in this "
                                                             "column matches the file's (adding the others)")


@tool(ImportInput, name="propose_import")
async def propose_import(ctx: ToolContext, args: ImportInput) -> ToolResult:
    """Propose importing a file the user uploaded (its upload_id is in the note about the upload).
    target "new_table": a create-table preview with the inferred column types, the first rows and the
    row count; Create Table imports every row. target "active_table": a data proposal on the open table
    (table_id to name another) adding the file's rows, or with key_column updating the rows whose key
    matches and adding the rest; file columns match table columns by name. Write your message to the user
    BEFORE this call: what the file will become, that the preview is in the conversation, and to click
    **Create Table** (new table) or **Apply** (rows), or **Dismiss**; never ask for permission."""
    found = uploads.kept(ctx.account_id, args.upload_id)
    if found is None:
        raise ToolError(f"No uploaded file {args.upload_id}; ask the user to upload it again.")
    path, meta = found
    parsed = await _read(path, meta["filename"])
    workspace = await ctx.workspace()
    if workspace is None:
        raise ToolError("This conversation has no workspace yet, so nothing can be proposed.")
    try:
        if args.target == "new_table":
            made, extra = await _propose_table(ctx, workspace, parsed, args)
        else:
            made, extra = await _propose_rows(ctx, workspace, parsed, args)
    except ProposalInvalid as exc:
        return error(exc.message)
    stored = made.stored
    if args.target == "new_table":
        uploads.keep_for_proposal(ctx.account_id, path, meta, stored.id)
    for old in stored.superseded:
        discard(ctx.account_id, old)
    await ctx.emit(ProposalEvent(proposal_id=stored.id, kind=stored.kind, table_id=stored.table_id,
                                 payload=stored.payload, preview=made.preview, superseded=tuple(stored.superseded)))
    buttons = "Create Table / Dismiss" if args.target == "new_table" else "Apply / Dismiss"
    return ToolResult({"proposal_id": str(stored.id), "status": "shown to the user", "summary": made.preview.summary,
                       "buttons": buttons, **extra}, ends_turn=True)


async def _propose_table(ctx: ToolContext, workspace: uuid.UUID, parsed: ParsedTable,
                         args: ImportInput) -> tuple[service.Proposed, dict[str, Any]]:
    plan = await asyncio.to_thread(plan_import, parsed)
    name = (args.table_name or "").strip() or importer.default_name(parsed.filename)
    payload = plan.schema_proposal(name, f"Imported from {parsed.filename}", sample=SAMPLE_ROWS)
    async with ctx.transaction() as conn:
        made = await service.propose(conn, what="schema", payload=payload, workspace_id=workspace,
                                     account_id=ctx.account_id, thread_id=ctx.thread_id)
    return made, {"rows_to_import": plan.row_count, "columns": [f"{c.name} ({c.type})" for c in plan.columns]}


async def _propose_rows(ctx: ToolContext, workspace: uuid.UUID, parsed: ParsedTable,
                        args: ImportInput) -> tuple[service.Proposed, dict[str, Any]]:
    async with ctx.transaction() as conn:
        table = await resolve_table(ctx, conn, args.table_id)
        columns = importer.match_columns(table, parsed)
        docs = importer.coerce_rows(table, parsed, columns)
        names = {str(c.id): c.name for c in table.columns}
        ops, unchanged = await _row_ops(conn, table, columns, docs, names, args.key_column)
        if not ops:
            raise ToolError(f'Every row of "{parsed.filename}" is already in "{table.name}" as it is: nothing to change.')
        if len(ops) > MAX_DATA_OPS:
            raise ToolError(f"The file makes {len(ops):,} changes; one proposal holds at most {MAX_DATA_OPS:,}. "
                            'Import it as a new table (target "new_table"), or split the file.')
        how = f'matched on "{args.key_column}"' if args.key_column else "added as new rows"
        payload = {"table_id": str(table.id), "operations": ops,
                   "reasoning": f"Rows of {parsed.filename} ({parsed.row_count:,}), {how}."}
        made = await service.propose(conn, what="data", payload=payload, workspace_id=workspace,
                                     account_id=ctx.account_id, thread_id=ctx.thread_id,
                                     active_table_id=ctx.active_table_id)
    adds = sum(op["action"] == "add" for op in ops)
    return made, {"adds": adds, "updates": len(ops) - adds, "unchanged": unchanged}


async def _row_ops(conn: AsyncConnection, table: Any, columns: list[Any], docs: list[dict[str, Any]],
                   names: dict[str, str], key_column: str | None) -> tuple[list[dict[str, Any]], int]:
    """The data operations for the file's rows: adds, or updates of the changed cells of matched rows."""
    def named(doc: dict[str, Any]) -> dict[str, Any]:
        return {names[k]: v for k, v in doc.items()}

    if key_column is None:
        return [{"action": "add", "data": named(d)} for d in docs if d], 0
    key = next((c for c in columns if c.name.casefold() == key_column.strip().casefold()), None)
    if key is None:
        raise Invalid(f'The key column "{key_column}" is not among the file\'s columns '
                      f"({', '.join(c.name for c in columns[:20])}).")
    kid = str(key.id)
    existing = await importer.rows_by_key(conn, table, kid)
    updates: dict[int, dict[str, Any]] = {}
    adds: list[dict[str, Any]] = []
    for n, doc in enumerate(docs, start=1):
        if kid not in doc:
            raise Invalid(f'Row {n} of the file has no value in the key column "{key.name}".')
        rid = existing.get(importer.key_token(doc[kid]))
        if isinstance(rid, list):
            raise Invalid(f'The key "{doc[kid]}" matches {len(rid)} rows of "{table.name}"; '
                          f'"{key.name}" does not identify rows uniquely.')
        if rid is None:
            adds.append({"action": "add", "data": named(doc)})
        elif rid in updates:
            raise Invalid(f'The key "{doc[kid]}" appears twice in the file.')
        else:
            updates[rid] = doc
    changed = await importer.changed_cells(conn, table, updates)
    ops = [{"action": "update", "row_id": rid, "changes": named(diff)} for rid, diff in changed.items()]
    return ops + adds, len(updates) - len(changed)


