"""Read-only tools: list the tables, look at one (schema, size, samples, stats), query its rows.

Every result is bounded whatever the table's size: statistics are computed in SQL, rows come in pages,
and long values are shortened, so the prompt does not grow with the row count."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from db import records as rec
from db import stats as db_stats
from db import tables as tbl
from db import workspaces
from db.errors import NotFound
from db.schemas import ColumnPublic, RecordPublic, TablePublic
from db.stats import STATS_ROWS
from tools.base import ToolContext, ToolError, ToolResult, tool

VALUE_CHARS = 200  # longest value shown to the model; the rest is cut with "…"
TABLES_SHOWN = 100


async def resolve_table(ctx: ToolContext, conn: AsyncConnection, table_id: Any) -> TablePublic:
    """The table named by `table_id`, else the active one; it must belong to the thread's workspace."""
    table_id = table_id or ctx.active_table_id
    if table_id is None:
        raise ToolError("No table_id given and no table is active; call list_tables to find one.")
    try:
        table = await tbl.get_table(conn, table_id)
    except NotFound:
        raise ToolError(f"No table {table_id}; call list_tables for the ids.") from None
    workspace = await ctx.workspace()
    if workspace is not None and table.workspace_id != workspace:
        raise ToolError(f"No table {table_id} in this workspace; call list_tables for the ids.")
    return table


def short(value: Any) -> Any:
    """A value as the model sees it: long text and big JSON are cut to a few hundred characters."""
    if isinstance(value, str):
        return value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…"
    if isinstance(value, (dict, list)):
        dumped = json.dumps(value, ensure_ascii=False, default=str)
        if len(dumped) > VALUE_CHARS:
            return dumped[: VALUE_CHARS - 1] + "…"
    return value


def column_summary(col: ColumnPublic) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(col.id), "name": col.name, "type": col.type}
    if col.required:
        out["required"] = True
    if col.options:
        out["options"] = col.options
    if col.ai:
        out["ai"] = {k: v for k, v in col.ai.items() if v not in (None, [], False)}
    return out


def row_view(record: RecordPublic, columns: list[ColumnPublic]) -> dict[str, Any]:
    """A row keyed by column name, with `row_id`, and the status of AI cells that are not done."""
    row: dict[str, Any] = {"row_id": record.id}
    status: dict[str, str] = {}
    for col in columns:
        cell = record.cells[str(col.id)]
        if cell.value is not None:
            row[col.name] = short(cell.value)
        if col.ai is not None and cell.status not in ("idle", "completed"):
            status[col.name] = cell.status + (f": {short(cell.error)}" if cell.error else "")
    if status:
        row["_status"] = status
    return row


async def column_stats(
    conn: AsyncConnection, table: TablePublic, *, sample: int = STATS_ROWS
) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """(rows, rows looked at, stats per column id), as db.stats counts them, the common values shortened
    for the prompt."""
    total, looked_at, stats = await db_stats.column_stats(conn, table, sample=sample)
    for s in stats.values():
        if "top" in s:
            s["top"] = {short(value): n for value, n in s["top"]}
    return total, looked_at, stats


class ListTablesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


@tool(ListTablesInput)
async def list_tables(ctx: ToolContext, _input: ListTablesInput) -> ToolResult:
    """List the tables of this chat's workspace: id, name, description, row count; the active table is
    marked. Use the ids with get_table, query_rows and the propose tools. The user's other workspaces are
    named (with their table counts) but their tables are out of reach until the user switches the chat
    to one (the /tables or /workspaces command)."""
    workspace = await ctx.workspace()
    async with ctx.transaction() as conn:
        found = await tbl.list_tables(conn, workspace_id=workspace)
        mine = await workspaces.list_mine(conn, ctx.account_id) if workspace is not None else []
    shown = [
        {"id": str(t.id), "name": t.name, "description": short(t.description), "rows": t.row_count}
        | ({"active": True} if t.id == ctx.active_table_id else {})
        for t in found[:TABLES_SHOWN]
    ]
    out: dict[str, Any] = {"tables": shown}
    if len(found) > TABLES_SHOWN:
        out["more"] = len(found) - TABLES_SHOWN
    if not found:
        out["note"] = "No tables yet: propose one with propose_schema (mode create)."
    here = next((w for w in mine if w["id"] == workspace), None)
    if here is not None:
        out["workspace"] = {"name": here["name"], "role": here["role"]}
        if here["role"] == "viewer":
            out["workspace"]["note"] = "The user can only view this workspace: proposals cannot be applied."
    others = [{"name": w["name"], "tables": w["tables"], "role": w["role"]} for w in mine if w["id"] != workspace]
    if others:
        out["other_workspaces"] = others[:20]
        out["other_note"] = ("These other workspaces of the user hold tables too; to work on one, the user "
                             "switches this chat to it with /tables (Open) or /workspaces (Switch).")
    return ToolResult(out)


class GetTableInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: uuid.UUID | None = Field(default=None, description="The table; the active table when left out.")
    sample_rows: int = Field(default=5, ge=0, le=50, description="How many rows to include (0–50).")


@tool(GetTableInput)
async def get_table(ctx: ToolContext, args: GetTableInput) -> ToolResult:
    """Look at one table: its columns (id, name, type, options, AI config), its row count, a few sample
    rows (keyed by column name, with row_id) and per-column statistics (filled and distinct counts,
    min/max of numbers and dates, most common values of choice columns). Call it before proposing changes
    to an existing table: schema proposals refer to columns by id, data proposals to rows by row_id."""
    async with ctx.transaction() as conn:
        table = await resolve_table(ctx, conn, args.table_id)
        count, looked_at, stats = await column_stats(conn, table)
        sample = []
        if args.sample_rows:
            page = await rec.list_records(conn, table, limit=args.sample_rows)
            sample = [row_view(r, table.columns) for r in page.items]
    columns = [column_summary(c) | {"stats": stats[str(c.id)]} for c in table.columns]
    out = {
        "id": str(table.id),
        "name": table.name,
        "description": short(table.description),
        "active": table.id == ctx.active_table_id,
        "row_count": count,
        "columns": columns,
        "sample_rows": sample,
    }
    if looked_at < count:
        out["stats_note"] = (
            f"filled counts are exact; distinct, min/max and top values come from a sample "
            f"of {looked_at} rows"
        )
    return ToolResult(out)


class FilterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = Field(description="Column name or id.")
    op: Literal["eq", "ne", "contains", "gt", "gte", "lt", "lte", "empty", "not_empty"] = "eq"
    value: Any = None


class SortSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = Field(description="Column name or id.")
    direction: Literal["asc", "desc"] = "asc"


class QueryRowsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table_id: uuid.UUID | None = Field(default=None, description="The table; the active table when left out.")
    filter: list[FilterSpec] = Field(
        default_factory=list, max_length=20, description="Conditions that all must hold."
    )
    sort: list[SortSpec] = Field(default_factory=list, max_length=5)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


@tool(QueryRowsInput)
async def query_rows(ctx: ToolContext, args: QueryRowsInput) -> ToolResult:
    """Read rows of a table, filtered and sorted, one page at a time (limit ≤ 200). Rows are keyed by
    column name and carry their row_id (use it in propose_data updates and deletes); `total` counts all
    matching rows and `next_offset` fetches the next page. Long values are shortened."""
    async with ctx.transaction() as conn:
        table = await resolve_table(ctx, conn, args.table_id)
        page = await rec.list_records(
            conn,
            table,
            limit=args.limit,
            offset=args.offset,
            filters=[rec.Filter(**f.model_dump()) for f in args.filter],
            sort=[rec.Sort(**s.model_dump()) for s in args.sort],
        )
    rows = [row_view(r, table.columns) for r in page.items]
    out: dict[str, Any] = {
        "table_id": str(table.id),
        "total": page.total,
        "offset": args.offset,
        "rows": rows,
    }
    if args.offset + len(rows) < page.total:
        out["next_offset"] = args.offset + len(rows)
    return ToolResult(out)
