"""Read-only tools: list the tables, look at one (schema, size, samples, stats), query its rows.

Every result is bounded whatever the table's size: statistics are computed in SQL, rows come in pages,
and long values are shortened, so the prompt does not grow with the row count."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import records as rec
from db import tables as tbl
from db.errors import NotFound
from db.schemas import ColumnPublic, RecordPublic, TablePublic
from tools.base import ToolContext, ToolError, ToolResult, tool

VALUE_CHARS = 200  # longest value shown to the model; the rest is cut with "…"
TOP_VALUES = 5
STATS_ROWS = 20_000  # rows that distinct counts, ranges and common values are taken from, about
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
    """(rows, rows looked at, stats per column id). Row and filled counts are exact (one cheap scan);
    distinct counts, min/max of numbers and dates and the most common values of choice columns come from
    every row of a table of up to `sample` rows, else from an even sample of about that many."""
    params: dict[str, Any] = {"t": table.id}
    filled = ["count(*) AS n", "coalesce(min(r.id), 0) AS first"]
    for i, col in enumerate(table.columns):
        params[f"k{i}"] = str(col.id)
        # writes drop empty values from the row document, so a present key is a filled cell (several
        # times faster than comparing values); only JSON cells can hold an empty value
        empty = f" AND r.data -> :k{i} NOT IN ('null', '\"\"', '[]', '{{}}')" if col.type == "json" else ""
        filled.append(f"count(*) FILTER (WHERE r.data ? :k{i}{empty}) AS f{i}")
    counts = (
        (await conn.execute(text(f"SELECT {', '.join(filled)} FROM records r WHERE r.table_id = :t"), params))
        .mappings()
        .one()
    )
    total = counts["n"]
    params["step"] = max(1, -(-total // sample))  # ceil: every step-th row by id
    params["first"], params["half"] = counts["first"], params["step"] // 2
    # counted from the table's first row (ids are shared by all tables): the middle row of every step
    where = "r.table_id = :t" + (" AND (r.id - :first) % :step = :half" if params["step"] > 1 else "")
    parts = ["count(*) AS n"]
    for i, col in enumerate(table.columns):
        cell = f"(r.data -> :k{i})"
        # as text in the C collation: a typed column's values compare alike, several times faster
        parts.append(f'count(DISTINCT (r.data ->> :k{i}) COLLATE "C") AS d{i}')
        if col.type == "number":
            num = f"CASE WHEN jsonb_typeof({cell}) = 'number' THEN ({cell})::numeric END"
            parts += [f"min({num}) AS lo{i}", f"max({num}) AS hi{i}"]
        elif col.type == "date":
            parts += [
                f'min((r.data ->> :k{i}) COLLATE "C") AS lo{i}',
                f'max((r.data ->> :k{i}) COLLATE "C") AS hi{i}',
            ]
    seen = (
        (await conn.execute(text(f"SELECT {', '.join(parts)} FROM records r WHERE {where}"), params))
        .mappings()
        .one()
    )
    stats: dict[str, dict[str, Any]] = {}
    for i, col in enumerate(table.columns):
        s: dict[str, Any] = {"filled": counts[f"f{i}"], "distinct": seen[f"d{i}"]}
        if seen.get(f"lo{i}") is not None:
            lo, hi = seen[f"lo{i}"], seen[f"hi{i}"]
            if col.type == "number":
                lo, hi = (int(v) if v == v.to_integral_value() else float(v) for v in (lo, hi))
            s["min"], s["max"] = lo, hi
        stats[str(col.id)] = s
    for key, value, n in await _top_values(conn, table, where, params):
        stats[key].setdefault("top", {})[short(value)] = n
    return total, seen["n"], stats


async def _top_values(
    conn: AsyncConnection, table: TablePublic, where: str, params: dict[str, Any]
) -> list[tuple[str, Any, int]]:
    """(column id, value, rows) for the most common values of select, boolean and multi-select columns."""
    keys = {f"k{i}": c for i, c in enumerate(table.columns)}
    single = [k for k, c in keys.items() if c.type in ("select", "boolean")]
    found: list[tuple[str, Any, int]] = []
    if single:
        exprs = [f"(r.data ->> :{k})" for k in single]  # one scan, one hash table per column
        result = await conn.execute(
            text(
                f"SELECT {', '.join(exprs)}, GROUPING({', '.join(exprs)}) AS g, count(*) AS n FROM records r "
                f"WHERE {where} GROUP BY GROUPING SETS ({', '.join(exprs)})"
            ),
            params,
        )
        counted: dict[int, list[tuple[int, str]]] = {}
        for r in result.all():
            # GROUPING's bit for a column is 0 in that column's own set; the first column is the high bit
            pos = next(j for j in range(len(single)) if not (r.g >> (len(single) - 1 - j)) & 1)
            if r[pos] is not None:
                counted.setdefault(pos, []).append((r.n, r[pos]))
        for pos, pairs in counted.items():
            pairs.sort(key=lambda p: (-p[0], p[1]))
            found += [(str(keys[single[pos]].id), v, n) for n, v in pairs[:TOP_VALUES]]
    for k, c in keys.items():
        if c.type == "multi_select":
            items = (
                f"jsonb_array_elements_text(CASE WHEN jsonb_typeof(r.data -> :{k}) = 'array' "
                f"THEN r.data -> :{k} ELSE '[]' END) a(v)"
            )
            result = await conn.execute(
                text(
                    f"SELECT a.v, count(*) AS n FROM records r CROSS JOIN LATERAL {items} WHERE {where} "
                    f"GROUP BY a.v ORDER BY n DESC, a.v LIMIT {TOP_VALUES}"
                ),
                params,
            )
            found += [(str(c.id), v, n) for v, n in result.all()]
    return found


class ListTablesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


@tool(ListTablesInput)
async def list_tables(ctx: ToolContext, _input: ListTablesInput) -> ToolResult:
    """List the tables of this workspace: id, name, description, row count; the active table is marked.
    Use the ids with get_table, query_rows and the propose tools."""
    async with ctx.transaction() as conn:
        found = await tbl.list_tables(conn, workspace_id=await ctx.workspace())
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
