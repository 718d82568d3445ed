"""Files uploaded in the chat: kept server-side per account, proposed as a new table (columns and sample
rows in the preview, every row imported in bulk on Create Table) or as rows for the open table (a data
proposal: add rows, or update the rows matched on a key column)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import get_settings
from dataio import importer
from dataio.infer import ImportPlan, plan_import
from dataio.read import BadFile, ParsedTable, read_table_file
from db.errors import Invalid, ServiceError
from proposals import service, store
from proposals.apply import ApplyResult
from proposals.payloads import MAX_DATA_OPS
from proposals.plan import failed, ok, selection
from proposals.store import StoredProposal
from proposals.validate import ProposalInvalid
from tools.base import ProposalEvent, ToolContext, ToolError, ToolResult, error, tool
from tools.tables import resolve_table

KEEP_SECONDS = 24 * 3600  # an upload nobody imported is removed after a day
SAMPLE_ROWS = 5


def _dir(account_id: uuid.UUID) -> Path:
    return get_settings().data_dir / "uploads" / str(account_id)


def _paths(account_id: uuid.UUID, key: str) -> tuple[Path, Path]:
    key = str(uuid.UUID(str(key)))  # only ids name files: no path comes from a payload
    base = _dir(account_id)
    return base / key, base / f"{key}.json"


@dataclass(frozen=True)
class Upload:
    """A file received in the chat, read successfully and kept until it is imported."""

    id: str
    filename: str
    rows: int
    columns: list[str]

    def note(self, active_table: str | None) -> str:
        """What the agent is told about the file, with the user's message."""
        cols = ", ".join(self.columns[:30]) + (" …" if len(self.columns) > 30 else "")
        where = (f' A table is open: "{active_table}" — use target "active_table" to add these rows to it (with '
                 "key_column to update the rows whose key matches), or \"new_table\" to make a new table."
                 if active_table else ' No table is open: use target "new_table".')
        return (f'[User uploaded the file "{self.filename}" (upload_id: {self.id}): {self.rows:,} rows, '
                f"{len(self.columns)} columns: {cols}. Call propose_import with this upload_id.{where}]")


def _prune(base: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in base.glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def receive_upload(account_id: uuid.UUID, filename: str, source: str | os.PathLike[str] | bytes) -> Upload:
    """Read an uploaded file (BadFile says why it cannot be a table) and keep it for the account."""
    parsed = read_table_file(source, filename)
    if not parsed.columns:
        raise BadFile(f'"{filename}" has no columns. Upload a CSV or .xlsx file whose first row names them.')
    base = _dir(account_id)
    base.mkdir(parents=True, exist_ok=True)
    _prune(base)
    upload_id = str(uuid.uuid4())
    data, meta = _paths(account_id, upload_id)
    if isinstance(source, (bytes, bytearray)):
        data.write_bytes(source)
    else:
        shutil.copyfile(source, data)
    up = Upload(id=upload_id, filename=filename, rows=parsed.row_count, columns=list(parsed.columns))
    meta.write_text(json.dumps({"filename": filename, "rows": up.rows, "upload_id": upload_id}))
    return up


def _meta(account_id: uuid.UUID, key: str) -> tuple[Path, dict[str, Any]] | None:
    try:
        data, meta = _paths(account_id, key)
    except ValueError:
        return None
    if not (data.exists() and meta.exists()):
        return None
    return data, json.loads(meta.read_text())


def import_of(account_id: uuid.UUID, proposal_id: Any) -> dict[str, Any] | None:
    """The file behind a create-table proposal ({filename, rows}), or None when it is not an import."""
    found = _meta(account_id, str(proposal_id))
    return found[1] if found else None


def discard(account_id: uuid.UUID, proposal_id: Any, *, with_upload: bool = False) -> None:
    """Remove the file kept for a decided proposal (and the upload it came from, once imported)."""
    found = _meta(account_id, str(proposal_id))
    if found is None:
        return
    keys = [str(proposal_id)] + ([found[1]["upload_id"]] if with_upload else [])
    for key in keys:
        for path in _paths(account_id, key):
            path.unlink(missing_ok=True)


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
    found = _meta(ctx.account_id, args.upload_id)
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
        data, info = _paths(ctx.account_id, str(stored.id))
        os.link(path, data)  # the proposal keeps the file even if the upload is pruned
        info.write_text(json.dumps({**meta, "proposal_id": str(stored.id)}))
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


# ------------------------------------------------------------------------------------------- applying


@dataclass(frozen=True)
class ImportApplied:
    result: ApplyResult
    rows: int
    filename: str


async def apply_import(conn: AsyncConnection, stored: StoredProposal, account_id: uuid.UUID,
                       selected: list[int] | None, progress: importer.Progress | None = None) -> ImportApplied:
    """Create Table of an import: the checked columns, and every row of the kept file in bulk."""
    found = _meta(account_id, str(stored.id))
    if found is None:
        raise Invalid("The uploaded file of this proposal is no longer kept; upload it again.")
    path, meta = found
    row = await store.lock(conn, stored)
    if row.status != "pending":
        results = [ok(r["index"]) if r.get("ok") else failed(r["index"], r.get("error") or "") for r in row.results or []]
        return ImportApplied(_result(row, row.status, results, None, "", already=True), 0, meta["filename"])
    p = row.proposal()
    chosen = selection(selected, len(p.operations))
    parsed = await _read(path, meta["filename"])
    plan = await asyncio.to_thread(plan_import, parsed)
    if [c.name for c in plan.columns] != [op.column.name for op in p.operations]:
        raise Invalid("The kept file no longer matches this proposal; upload it again.")
    kept = ImportPlan(columns=[plan.columns[i] for i in chosen], row_count=plan.row_count, notes=plan.notes)
    name = p.table_name or importer.default_name(parsed.filename)
    try:
        async with conn.begin_nested():  # a failure leaves no table and no row behind
            done = await importer.import_new_table(conn, row.workspace_id, parsed, name,
                                                   description=p.table_description or "", plan=kept,
                                                   progress=progress)
    except ServiceError as exc:
        results = [failed(i, exc.message) for i in chosen]
        await store.finish(conn, row.id, status="failed", results=[r.model_dump(exclude_defaults=True) for r in results])
        return ImportApplied(_result(row, "failed", results, None, exc.message), 0, meta["filename"])
    by_name = {c.name: str(c.id) for c in done.table.columns}
    results = [ok(i, column_id=by_name.get(p.operations[i].column.name)) for i in chosen]
    await store.finish(conn, row.id, status="applied", table_id=done.table.id,
                       results=[r.model_dump(exclude_defaults=True) for r in results])
    message = (f'Created table "{name}" with {len(chosen)} column{"s" if len(chosen) != 1 else ""} and '
               f"imported all {done.added:,} row{'s' if done.added != 1 else ''}")
    return ImportApplied(_result(row, "applied", results, done.table.id, message), done.added, meta["filename"])


def _result(row: StoredProposal, status: str, results: list[Any], table_id: uuid.UUID | None, message: str,
            *, already: bool = False) -> ApplyResult:
    return ApplyResult(proposal_id=row.id, status=status, table_id=table_id or row.table_id, results=results,
                       applied=sum(r.ok for r in results), failed=sum(not r.ok for r in results),
                       message=message or ("Already decided" if already else ""), already_decided=already)
