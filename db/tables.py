"""Tables and columns. Plain async functions; the caller owns the transaction.

Long because a column change (type, name, AI config, position) touches every row's cells and the
schema's checks (AI dependency cycles) in one place; its create, update and delete read best together."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db import change_sets
from db.ai_cycles import column_cycle, describe
from db.coerce import coerce, is_empty
from db.errors import Conflict, Invalid, NotFound
from db.schemas import ColumnCreate, ColumnPublic, ColumnUpdate, TablePublic, TableSummary

CHOICE_TYPES = ("select", "multi_select")
COLUMN_FIELDS = "id, name, type, position, required, options, filter_display, ai"


def as_uuid(value: Any, what: str = "id") -> uuid.UUID:
    """`value` as a UUID, or NotFound (a malformed id names nothing)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"No {what} {value!r}") from None


async def list_tables(conn: AsyncConnection, *, workspace_id: uuid.UUID | None = None) -> list[TableSummary]:
    """Tables visible to the caller (optionally one workspace), newest first, with row counts."""
    rows = await conn.execute(
        text(
            "SELECT t.id, t.workspace_id, t.name, t.description, coalesce(c.n, 0) AS row_count "
            "FROM data_tables t LEFT JOIN table_row_counts c ON c.table_id = t.id "
            "WHERE (CAST(:w AS uuid) IS NULL OR t.workspace_id = :w) "
            "ORDER BY t.created_at DESC"
        ),
        {"w": workspace_id},
    )
    return [TableSummary(**m) for m in rows.mappings()]


async def get_columns(conn: AsyncConnection, table_id: uuid.UUID) -> list[ColumnPublic]:
    rows = await conn.execute(
        text(f"SELECT {COLUMN_FIELDS} FROM columns WHERE table_id = :t ORDER BY position, created_at"),
        {"t": table_id},
    )
    return [ColumnPublic(**m) for m in rows.mappings()]


async def get_table(conn: AsyncConnection, table_id: Any) -> TablePublic:
    """The table with its columns in order; NotFound when it does not exist or is not the caller's."""
    tid = as_uuid(table_id, "table")
    row = await conn.execute(
        text("SELECT id, workspace_id, name, description FROM data_tables WHERE id = :t"), {"t": tid}
    )
    m = row.mappings().first()
    if m is None:
        raise NotFound(f"No table {table_id}", table_id=str(table_id))
    return TablePublic(**m, columns=await get_columns(conn, tid))


def _check_column(col: ColumnCreate | dict[str, Any]) -> None:
    c = col if isinstance(col, dict) else col.model_dump()
    if c["type"] in CHOICE_TYPES and not c.get("options"):
        raise Invalid(f'Column "{c["name"]}" ({c["type"]}) needs at least one option', column=c["name"])
    if c["type"] not in CHOICE_TYPES and c.get("options"):
        raise Invalid(f'Column "{c["name"]}" ({c["type"]}) takes no options', column=c["name"])


async def create_table(
    conn: AsyncConnection,
    *,
    workspace_id: uuid.UUID,
    name: str,
    description: str = "",
    columns: list[ColumnCreate] = (),  # type: ignore[assignment]
) -> TablePublic:
    """A new table, with its first columns."""
    names = [c.name.casefold() for c in columns]
    if len(set(names)) != len(names):
        raise Invalid("Two columns have the same name", columns=[c.name for c in columns])
    for c in columns:
        _check_column(c)
    _check_cycle([(i, c.name, c.ai) for i, c in enumerate(columns)], None)
    row = await conn.execute(
        text(
            "INSERT INTO data_tables (workspace_id, name, description) VALUES (:w, :n, :d) RETURNING id"
        ),
        {"w": workspace_id, "n": name, "d": description or ""},
    )
    tid = row.scalar_one()
    for pos, c in enumerate(columns):
        await _insert_column(conn, tid, workspace_id, c, pos)
    return await get_table(conn, tid)


async def update_table(conn: AsyncConnection, table_id: Any, *, name: str | None = None,
                       description: str | None = None) -> TablePublic:
    table = await get_table(conn, table_id)
    await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id, summary="Renamed the table")
    await conn.execute(
        text(
            "UPDATE data_tables SET name = coalesce(:n, name), description = coalesce(:d, description), "
            "updated_at = now() WHERE id = :t"
        ),
        {"t": table.id, "n": name, "d": description},
    )
    return await get_table(conn, table.id)


async def delete_table(conn: AsyncConnection, table_id: Any) -> None:
    tid = as_uuid(table_id, "table")
    res = await conn.execute(text("DELETE FROM data_tables WHERE id = :t"), {"t": tid})
    if res.rowcount == 0:
        raise NotFound(f"No table {table_id}", table_id=str(table_id))


async def _insert_column(
    conn: AsyncConnection, table_id: uuid.UUID, workspace_id: uuid.UUID, col: ColumnCreate, position: int
) -> uuid.UUID:
    try:
        async with conn.begin_nested():
            row = await conn.execute(
                text(
                    "INSERT INTO columns (table_id, workspace_id, name, type, position, required, options, "
                    "filter_display, ai) VALUES (:t, :w, :n, :ty, :p, :r, CAST(:o AS jsonb), :f, "
                    "CAST(:ai AS jsonb)) RETURNING id"
                ),
                {
                    "t": table_id, "w": workspace_id, "n": col.name, "ty": col.type, "p": position,
                    "r": col.required, "o": json.dumps(col.options) if col.options is not None else None,
                    "f": col.filter_display,
                    "ai": col.ai.model_dump_json() if col.ai is not None else None,
                },
            )
    except IntegrityError:
        raise Conflict(f'A column named "{col.name}" already exists', column=col.name) from None
    return row.scalar_one()


async def _renumber(conn: AsyncConnection, table_id: uuid.UUID, order: list[uuid.UUID]) -> None:
    await conn.execute(
        text(
            "UPDATE columns c SET position = o.ord - 1 FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY "
            "AS o(id, ord) WHERE c.id = o.id AND c.table_id = :t AND c.position <> o.ord - 1"
        ),
        {"ids": order, "t": table_id},
    )


def _check_ai(table: TablePublic, ai: Any, own_name: str) -> None:
    if ai is None:
        return
    names = {c.name for c in table.columns}
    for dep in ai.depends_on:
        if dep not in names:
            raise Invalid(f'AI column "{own_name}" depends on unknown column "{dep}"', column=own_name)
        if dep == own_name:
            raise Invalid(f'AI column "{own_name}" cannot depend on itself', column=own_name)


def _check_cycle(columns: list[tuple[Any, str, Any]], changed: Any, old_name: str | None = None) -> None:
    """Invalid naming the circle when AI columns would read each other round (ai_cycles.column_cycle)."""
    found = column_cycle(columns, aliases={old_name.casefold(): changed} if old_name else None, first=[changed])
    if found:
        raise Invalid(f"AI columns cannot read each other in a circle: {describe(found)}. "
                      "Remove one of these dependencies.", cycle=found)


async def create_column(conn: AsyncConnection, table_id: Any, col: ColumnCreate) -> ColumnPublic:
    """A new column at `col.position` (default: last). No row is written: the cells of an AI column
    are queued by the fill its caller starts in the same transaction (`ai_cells.start_fill`), which
    writes each row once; marking them beforehand cost a second write of every row, and made
    PostgreSQL check each row's foreign key again (a row updated twice in one transaction)."""
    table = await get_table(conn, table_id)
    _check_column(col)
    _check_ai(table, col.ai, col.name)
    if any(c.name.casefold() == col.name.casefold() for c in table.columns):
        raise Conflict(f'A column named "{col.name}" already exists', column=col.name)
    _check_cycle([(c.id, c.name, c.ai) for c in table.columns] + [("new", col.name, col.ai)], "new")
    if col.required:
        count = (await conn.execute(text("SELECT count(*) FROM records WHERE table_id = :t"),
                                    {"t": table.id})).scalar_one()
        if count and col.ai is None:
            raise Invalid(f'Column "{col.name}" cannot be required: {count} existing rows have no value',
                          column=col.name)
    await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id,
                             summary=f'Added column "{col.name}"', counts={"columns_added": 1})
    cid = await _insert_column(conn, table.id, table.workspace_id, col, len(table.columns))
    if col.position is not None and col.position < len(table.columns):
        order = [c.id for c in table.columns]
        order.insert(col.position, cid)
        await _renumber(conn, table.id, order)
    return next(c for c in await get_columns(conn, table.id) if c.id == cid)


async def update_column(conn: AsyncConnection, table_id: Any, column_id: Any, changes: ColumnUpdate) -> ColumnPublic:
    """Rename, retype, (un)require, change options or position. Retyping converts existing values and
    refuses when one cannot be converted (naming it)."""
    table = await get_table(conn, table_id)
    cid = as_uuid(column_id, "column")
    col = next((c for c in table.columns if c.id == cid), None)
    if col is None:
        raise NotFound(f"No column {column_id} in this table", column_id=str(column_id))
    patch = changes.model_dump(exclude_unset=True)
    merged = col.model_dump() | {k: v for k, v in patch.items() if k != "position"}
    if "options" in patch and patch["options"] is None and merged["type"] not in CHOICE_TYPES:
        merged["options"] = None
    if merged["type"] not in CHOICE_TYPES:
        merged["options"] = None
    _check_column(merged)
    if "ai" in patch and changes.ai is not None:
        _check_ai(table, changes.ai, merged["name"])
    if merged["name"].casefold() != col.name.casefold() and any(
        c.name.casefold() == merged["name"].casefold() for c in table.columns
    ):
        raise Conflict(f'A column named "{merged["name"]}" already exists', column=merged["name"])
    if "ai" in patch or merged["name"] != col.name:
        new_ai = changes.ai if "ai" in patch else col.ai
        _check_cycle([(c.id, merged["name"], new_ai) if c.id == cid else (c.id, c.name, c.ai) for c in table.columns],
                     cid, col.name)
    await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id,
                             summary=f'Changed column "{col.name}"', counts={"columns_changed": 1})
    if (merged["type"], merged["options"], merged["required"]) != (col.type, col.options, col.required):
        await _convert_values(conn, table.id, col, merged)
    ai = changes.ai.model_dump() if changes.ai is not None else (None if "ai" in patch else col.ai)
    await conn.execute(
        text(
            "UPDATE columns SET name = :n, type = :ty, required = :r, options = CAST(:o AS jsonb), "
            "filter_display = :f, ai = CAST(:ai AS jsonb) WHERE id = :c"
        ),
        {
            "c": cid, "n": merged["name"], "ty": merged["type"], "r": merged["required"],
            "o": json.dumps(merged["options"]) if merged["options"] is not None else None,
            "f": merged["filter_display"], "ai": json.dumps(ai) if ai is not None else None,
        },
    )
    if "position" in patch and patch["position"] is not None:
        await move_column(conn, table.id, cid, patch["position"])
    return next(c for c in await get_columns(conn, table.id) if c.id == cid)


async def _convert_values(conn: AsyncConnection, table_id: uuid.UUID, old: ColumnPublic, new: dict[str, Any]) -> None:
    """Re-coerce every stored value of the column to its new type; all or nothing."""
    key = str(old.id)
    rows = await conn.execute(
        text("SELECT id, data -> :k AS v FROM records WHERE table_id = :t ORDER BY id"),
        {"t": table_id, "k": key},
    )
    updates: dict[int, Any] = {}
    for rid, value in rows.all():
        if is_empty(value):
            if new["required"] and not new.get("ai"):
                raise Invalid(f'Column "{new["name"]}" cannot be required: row {rid} has no value',
                              column=new["name"], row_id=rid)
            continue
        try:
            converted = coerce(new, value)
        except Invalid as exc:
            raise Invalid(f"Cannot change the column: row {rid}: {exc.message}", row_id=rid,
                          **exc.details) from None
        if converted != value:
            updates[rid] = converted
    if updates:
        await conn.execute(
            text(
                "UPDATE records r SET data = jsonb_set(r.data, ARRAY[CAST(:k AS text)], u.value) "
                "FROM jsonb_each(CAST(:u AS jsonb)) u WHERE r.id = u.key::bigint AND r.table_id = :t"
            ),
            {"k": key, "t": table_id, "u": json.dumps({str(k): v for k, v in updates.items()})},
        )


async def move_column(conn: AsyncConnection, table_id: Any, column_id: Any, position: int) -> None:
    """Put the column at `position` (0-based, clamped), shifting the others."""
    table = await get_table(conn, table_id)
    cid = as_uuid(column_id, "column")
    order = [c.id for c in table.columns]
    if cid not in order:
        raise NotFound(f"No column {column_id} in this table", column_id=str(column_id))
    order.remove(cid)
    order.insert(max(0, min(position, len(order))), cid)
    await _renumber(conn, table.id, order)


async def delete_column(conn: AsyncConnection, table_id: Any, column_id: Any) -> None:
    """Drop the column. Its values stay in the row documents until the next rewrite of a row
    (see docs/storage.md): readers only ever project the table's current columns."""
    table = await get_table(conn, table_id)
    cid = as_uuid(column_id, "column")
    if not any(c.id == cid for c in table.columns):
        raise NotFound(f"No column {column_id} in this table", column_id=str(column_id))
    dependants = [c.name for c in table.columns if c.ai and
                  next(x.name for x in table.columns if x.id == cid) in c.ai.get("depends_on", [])]
    if dependants:
        raise Conflict(f"Column is used by AI column(s) {', '.join(dependants)}", dependants=dependants)
    await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id,
                             summary=f'Removed column "{next(c.name for c in table.columns if c.id == cid)}"',
                             counts={"columns_removed": 1})
    await conn.execute(text("DELETE FROM columns WHERE id = :c"), {"c": cid})
    await _renumber(conn, table.id, [c.id for c in table.columns if c.id != cid])


async def current_seq(conn: AsyncConnection, table_id: uuid.UUID) -> int:
    """The table's latest change number: its version, for proposals and the live view."""
    row = await conn.execute(
        text("SELECT coalesce(max(seq), 0) FROM changes WHERE table_id = :t"), {"t": table_id}
    )
    return row.scalar_one()
