"""Deleting a table, renaming a table, renaming the chat's workspace — each as a proposal: its checks, its
preview (the table's name, and for a deletion its rows and columns: what is lost) and its apply step.
A table goes through `db.tables.delete_table`, the one function that removes tables."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import tables as db_tables
from db import workspaces
from db.errors import NotFound, ServiceError
from proposals import outcome
from proposals.payloads import TableChange
from proposals.plan import OpResult, failed, ok
from proposals.preview import Preview
from proposals.validate import ProposalInvalid

GONE = "The table no longer exists"


async def check(conn: AsyncConnection, p: TableChange, *, workspace_id: uuid.UUID,
                active_table_id: Any) -> uuid.UUID | None:
    """The table the change is about (None for the workspace); ProposalInvalid lists what is wrong."""
    problems = []
    if p.action != "delete_table" and not p.new_name:
        problems.append("new_name: give the new name")
    if p.action == "rename_workspace":
        if problems:
            raise ProposalInvalid(problems)
        return None
    ref = p.table_id or active_table_id
    table = None
    if ref is None:
        problems.append("table_id: no table given and no table is active; use list_tables to find its id")
    else:
        try:
            table = await db_tables.get_table(conn, ref)
        except NotFound:
            problems.append(f"table_id: there is no table {ref}; use list_tables to find it")
    if table is not None and table.workspace_id != workspace_id:
        problems.append(f"table_id: table {ref} is not in this conversation's workspace")
    if problems:
        raise ProposalInvalid(problems)
    return table.id if table is not None else None


async def _rows(conn: AsyncConnection, table_id: uuid.UUID) -> int:
    found = await conn.execute(text("SELECT n FROM table_row_counts WHERE table_id = :t"), {"t": table_id})
    return int(found.scalar() or 0)


async def preview(conn: AsyncConnection, p: TableChange, *, workspace_id: uuid.UUID,
                  table_id: uuid.UUID | None) -> Preview:
    """What the user decides on: a deletion names the table and what is lost; a rename, old and new."""
    ws_name = await workspaces.workspace_name(conn, workspace_id)
    change: dict[str, Any] = {"action": p.action, "new_name": p.new_name, "workspace": ws_name}
    name, rows, columns = ws_name, 0, 0
    if table_id is not None:
        try:
            table = await db_tables.get_table(conn, table_id)
            name, rows, columns = table.name, await _rows(conn, table_id), len(table.columns)
        except NotFound:  # deleted since: the stored preview keeps what it showed
            name = change.get("name") or ""
    change |= {"name": name, "rows": rows, "columns": columns}
    return Preview(kind="table_change", table_id=str(table_id) if table_id else None, table_name=name,
                   reasoning=p.reasoning, summary=outcome.table_change_summary(change), columns=[], rows=[],
                   counts={"rows": rows, "columns": columns}, total_ops=1, total_rows=rows, change=change)


async def apply_change(conn: AsyncConnection, p: TableChange, *, workspace_id: uuid.UUID,
                       table_id: uuid.UUID | None) -> tuple[OpResult, str]:
    """Do the change (in the caller's transaction); its result and the line that words it."""
    if p.action == "rename_workspace":
        old = await workspaces.workspace_name(conn, workspace_id)
        done = await workspaces.rename(conn, workspace_id, p.new_name or "")
        return ok(0), outcome.table_change_line({"action": p.action, "name": old, "new_name": done["name"]})
    try:
        table = await db_tables.get_table(conn, table_id)
    except NotFound:
        return failed(0, GONE, conflict=True), GONE
    if p.action == "delete_table":
        rows = await _rows(conn, table.id)
        await db_tables.delete_table(conn, table.id)
        return ok(0), outcome.table_change_line({"action": p.action, "name": table.name, "rows": rows})
    try:
        async with conn.begin_nested():
            await db_tables.update_table(conn, table.id, name=p.new_name)
    except ServiceError as exc:
        return failed(0, exc.message), exc.message
    return ok(0), outcome.table_change_line({"action": p.action, "name": table.name, "new_name": p.new_name})
