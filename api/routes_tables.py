"""Workspaces, tables and columns."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import CallerDep
from api.common import ColumnKey, TableId, column_of, ensure_writer, errors, workspace_for
from api.schemas import (
    ColumnList,
    ColumnPatch,
    ColumnPrefs,
    Me,
    TableCreateIn,
    TableList,
    TablePatch,
    WorkspacePublic,
)
from db import column_prefs, tables, workspaces
from db.schemas import ColumnCreate, ColumnPublic, TablePublic

router = APIRouter()
# a person's own view of a table (hidden columns, widths): a viewer keeps one too, so no writer check
prefs_router = APIRouter()


@router.get("/me", response_model=Me, tags=["account"])
async def me(caller: CallerDep) -> Me:
    """The caller's account and workspaces."""
    async with caller.tx() as conn:
        found = await workspaces.list_mine(conn, caller.account_id)
    return Me(id=caller.account_id, name=caller.name, workspaces=[WorkspacePublic(**w) for w in found])


@router.get("/tables", response_model=TableList, tags=["tables"])
async def list_tables(
    caller: CallerDep,
    workspace: Annotated[uuid.UUID | None, Query(description="Only this workspace's tables")] = None,
    workspace_id: Annotated[uuid.UUID | None, Query(description="The same as `workspace`")] = None,
) -> TableList:
    """The caller's tables (of every workspace they belong to, or of one), newest first, with row counts."""
    async with caller.tx() as conn:
        return TableList(items=await tables.list_tables(conn, workspace_id=workspace or workspace_id))


@router.post("/tables", status_code=201, response_model=TablePublic, tags=["tables"],
             responses=errors(403, 409))
async def create_table(caller: CallerDep, body: TableCreateIn) -> TablePublic:
    """A new table (with optional first columns) in one of the caller's workspaces (default: the most
    recently used); viewers may not."""
    workspace_id = await workspace_for(caller, body.workspace_id)
    async with caller.tx() as conn:
        await ensure_writer(conn, workspace_id)
        return await tables.create_table(conn, workspace_id=workspace_id, name=body.name,
                                         description=body.description, columns=body.columns)


@router.get("/tables/{table_id}", response_model=TablePublic, tags=["tables"])
async def get_table(caller: CallerDep, table_id: TableId) -> TablePublic:
    """The table with its columns in order."""
    async with caller.tx() as conn:
        return await tables.get_table(conn, table_id)


@router.patch("/tables/{table_id}", response_model=TablePublic, tags=["tables"])
async def update_table(caller: CallerDep, table_id: TableId, body: TablePatch) -> TablePublic:
    """Rename the table or change its description."""
    async with caller.tx() as conn:
        return await tables.update_table(conn, table_id, name=body.name, description=body.description)


@router.delete("/tables/{table_id}", status_code=204, response_class=Response, tags=["tables"])
async def delete_table(caller: CallerDep, table_id: TableId) -> Response:
    """Delete the table with all its rows."""
    async with caller.tx() as conn:
        await tables.delete_table(conn, table_id)
    return Response(status_code=204)


@router.get("/tables/{table_id}/columns", response_model=ColumnList, tags=["columns"])
async def list_columns(caller: CallerDep, table_id: TableId) -> ColumnList:
    """The table's columns in order."""
    async with caller.tx() as conn:
        return ColumnList(items=(await tables.get_table(conn, table_id)).columns)


@router.post("/tables/{table_id}/columns", status_code=201, response_model=ColumnPublic, tags=["columns"],
             responses=errors(409))
async def create_column(caller: CallerDep, table_id: TableId, body: ColumnCreate, response: Response) -> ColumnPublic:
    """A new column (default: last). An AI column's cells start `pending` and a fill job starts at once
    (its id in the `X-Fill-Job` header; follow it with `GET /jobs/{id}`)."""
    import jobs
    from api.jobs_routes import tell_jobs

    async with caller.tx() as conn:
        column = await tables.create_column(conn, table_id, body)
        job = await jobs.start_fill(conn, table_id, column.id, "all") if column.ai else None
    await tell_jobs(response, [job] if job is not None else [])
    return column


@router.patch("/tables/{table_id}/columns/{column_id}", response_model=ColumnPublic, tags=["columns"],
              responses=errors(409))
async def update_column(caller: CallerDep, table_id: TableId, column_id: ColumnKey, body: ColumnPatch) -> ColumnPublic:
    """Rename, retype, (un)require, change options, AI config or position; `column_id` may be a name."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        col = column_of(table, column_id)
        return await tables.update_column(conn, table.id, col.id, body.to_update())


@router.delete("/tables/{table_id}/columns/{column_id}", status_code=204, response_class=Response,
               tags=["columns"], responses=errors(409))
async def delete_column(caller: CallerDep, table_id: TableId, column_id: ColumnKey) -> Response:
    """Drop the column; refused while an AI column depends on it."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        await tables.delete_column(conn, table.id, column_of(table, column_id).id)
    return Response(status_code=204)


@prefs_router.get("/tables/{table_id}/column-prefs", response_model=ColumnPrefs, tags=["tables"])
async def get_column_prefs(caller: CallerDep, table_id: TableId) -> ColumnPrefs:
    """The columns the caller hides in this table's grid and the widths they set (their own, on every device)."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        return ColumnPrefs(**await column_prefs.get_prefs(conn, caller.account_id, table))


@prefs_router.put("/tables/{table_id}/column-prefs", response_model=ColumnPrefs, tags=["tables"], responses=errors(404))
async def put_column_prefs(caller: CallerDep, table_id: TableId, body: ColumnPrefs) -> ColumnPrefs:
    """Keep the caller's layout of this table's grid; columns are named by id or name (404 for an unknown one)."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        hidden = sorted({str(column_of(table, c).id) for c in body.hidden})
        widths = {str(column_of(table, c).id): w for c, w in body.widths.items()}
        return ColumnPrefs(**await column_prefs.save_prefs(conn, caller.account_id, table, hidden=hidden, widths=widths))
