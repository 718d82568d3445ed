"""Records (rows) and cells. Values are coerced per column type; cell writes use optimistic locking.

Long because every statement on the rows' JSONB layout (filters, sorts, writes) is here and nowhere else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ai_cells, change_sets, sort_indexes
from db.coerce import coerce
from db.errors import Conflict, Invalid, NotFound
from db.record_query import Filter, Sort, build
from db.schemas import CellPublic, ColumnPublic, RecordPage, RecordPublic, TablePublic
from db.tables import as_uuid, get_table

MAX_PAGE = 1000


class ColumnIndex:
    """Resolve a column by id or by name (names are matched case-insensitively)."""

    def __init__(self, columns: Sequence[ColumnPublic]):
        self.columns = list(columns)
        self.by_id = {str(c.id): c for c in columns}
        self.by_name = {c.name.casefold(): c for c in columns}
        self.specs = {str(c.id): c.model_dump() for c in columns}  # what coerce() reads, built once

    def get(self, key: str) -> ColumnPublic:
        col = self.by_id.get(str(key)) or self.by_name.get(str(key).strip().casefold())
        if col is None:
            raise Invalid(f'Unknown column "{key}"', column=key, known=[c.name for c in self.columns])
        return col

    def coerce_values(self, values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """Stored values keyed by column id; every required column present unless `partial`."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            col = self.get(key)
            if col.ai is not None and value is None:
                continue
            out[str(col.id)] = coerce(self.specs[str(col.id)], value)
        if not partial:
            for col in self.columns:
                if col.required and col.ai is None and out.get(str(col.id)) is None:
                    raise Invalid(f'Column "{col.name}" is required', column=col.name)
        return {k: v for k, v in out.items() if v is not None or partial}


def cell_of(data: Mapping[str, Any], meta: Mapping[str, Any], col_id: str) -> CellPublic:
    m = meta.get(col_id) or {}
    return CellPublic(
        value=data.get(col_id), version=m.get("v", 0), status=m.get("s", "idle"), error=m.get("e"),
        pinned=bool(m.get("p", False)),
    )


def record_of(row: Mapping[str, Any], columns: Iterable[ColumnPublic]) -> RecordPublic:
    data, meta = row["data"] or {}, row["meta"] or {}
    return RecordPublic(id=row["id"], cells={str(c.id): cell_of(data, meta, str(c.id)) for c in columns})


def _ai_meta(columns: Sequence[ColumnPublic], given: Mapping[str, Any],
             jobs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """New rows: AI cells without a given value start `pending` (in their column's job of `jobs`);
    given ones are pinned."""
    meta: dict[str, Any] = {}
    for c in columns:
        if c.ai is not None:
            key = str(c.id)
            meta[key] = {"p": True, "s": "completed"} if key in given else ai_cells.new_cell((jobs or {}).get(key))
    return meta


@dataclass(frozen=True)
class RowsAdded:
    """New rows' ids in order, and the fill jobs queued for their AI cells."""

    ids: list[int]
    jobs: list[str]


async def add_records(
    conn: AsyncConnection, table: TablePublic, rows: Sequence[Mapping[str, Any]], *, coerced: bool = False,
    thread_id: str | None = None, chunk: int | None = None,
    inserted: Callable[[list[int]], Awaitable[None]] | None = None,
) -> RowsAdded:
    """Insert rows and queue their AI cells (one fill job per AI column, in this transaction): what every
    way of adding rows uses. An AI cell given a value is pinned instead. With `chunk`, the rows go in that
    many at a time, `inserted(ids)` told after each statement (still one job per AI column)."""
    data = _coerced_rows(table, rows, coerced)
    jobs = await ai_cells.open_new_row_jobs(conn, table, thread_id=thread_id) if data else {}
    step = chunk or max(1, len(data))
    ids: list[int] = []
    for start in range(0, len(data), step):
        part = await _insert(conn, table, data[start:start + step], jobs)
        ids += part
        if inserted is not None:
            await inserted(part)
    given = {c: {rid for rid, d in zip(ids, data, strict=True) if c in d} for c in jobs}
    return RowsAdded(ids, await ai_cells.close_new_row_jobs(conn, jobs, ids, given))


async def create_records(
    conn: AsyncConnection, table: TablePublic, rows: Sequence[Mapping[str, Any]], *, coerced: bool = False
) -> list[int]:
    """Insert many rows in one statement; values keyed by column name or id. Returns the new ids in order.
    Their AI cells are left `pending` without a job: `add_records` also queues them."""
    return await _insert(conn, table, _coerced_rows(table, rows, coerced), {})


def _coerced_rows(table: TablePublic, rows: Sequence[Mapping[str, Any]], coerced: bool) -> list[dict[str, Any]]:
    """Each row's stored values keyed by column id; Invalid naming the row of a bad value."""
    idx = ColumnIndex(table.columns)
    out = []
    for n, values in enumerate(rows):
        try:
            out.append(dict(values) if coerced else idx.coerce_values(values, partial=False))
        except Invalid as exc:
            if len(rows) > 1:
                raise Invalid(f"Row {n + 1}: {exc.message}", row=n + 1, **exc.details) from None
            raise
    return out


async def _insert(conn: AsyncConnection, table: TablePublic, rows: Sequence[Mapping[str, Any]],
                  jobs: Mapping[str, str]) -> list[int]:
    """One statement; the ids come back in the rows' order."""
    if not rows:
        return []
    await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id,
                             summary=f"Added {len(rows)} row{'s' if len(rows) != 1 else ''}",
                             counts={"rows_added": len(rows)})
    docs = [{"d": data, "m": _ai_meta(table.columns, data, jobs)} for data in rows]
    res = await conn.execute(
        text(
            "INSERT INTO records (table_id, workspace_id, data, meta) "
            "SELECT :t, :w, e.value -> 'd', e.value -> 'm' "
            "FROM jsonb_array_elements(CAST(:docs AS jsonb)) WITH ORDINALITY AS e(value, n) ORDER BY e.n "
            "RETURNING id"
        ),
        {"t": table.id, "w": table.workspace_id, "docs": json.dumps(docs)},
    )
    return sorted(res.scalars().all())


async def get_records(conn: AsyncConnection, table: TablePublic, ids: Sequence[int]) -> list[RecordPublic]:
    rows = await conn.execute(
        text("SELECT id, data, meta FROM records WHERE table_id = :t AND id = ANY(:ids) ORDER BY id"),
        {"t": table.id, "ids": list(ids)},
    )
    return [record_of(m, table.columns) for m in rows.mappings()]


async def get_record(conn: AsyncConnection, table: TablePublic, record_id: int) -> RecordPublic:
    found = await get_records(conn, table, [record_id])
    if not found:
        raise NotFound(f"No row {record_id} in this table", row_id=record_id)
    return found[0]


async def list_records(
    conn: AsyncConnection,
    table: TablePublic,
    *,
    limit: int = 100,
    offset: int = 0,
    filters: Sequence[Filter] = (),
    sort: Sequence[Sort] = (),
    search: str | None = None,
) -> RecordPage:
    """One page of rows in insertion order (or `sort`, nulls last, row id breaking ties), with the total
    matching the filters and the case-insensitive `search` in the text-like columns. A bad clause is a
    `record_query.BadQuery`."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}", limit=limit)
    if offset < 0:
        raise Invalid("offset must not be negative", offset=offset)
    query = build(table.columns, filters=filters, sort=sort, search=search)
    params: dict[str, Any] = {**query.params, "t": table.id, "lim": limit, "off": offset}
    # a sorted page names its table, so that the table's partial sort index (db/sort_indexes.py) matches
    mine = f"r.table_id = '{uuid.UUID(str(table.id))}'::uuid" if query.first_sort else "r.table_id = :t"
    where = " AND ".join([mine, *query.where])
    if query.first_sort is not None and offset == 0:
        await sort_indexes.note_sort(conn, table, *query.first_sort)
    # A filtered page counts its matches in the same scan (the filters' JSONB operators are not leakproof,
    # so under row-level security no index can serve them and every filtered read scans the table's rows);
    # an unfiltered count stays a separate index-only scan.
    counted = ", count(*) OVER () AS n" if query.where else ""
    rows = (await conn.execute(
        text(f"SELECT r.id, r.data, r.meta{counted} FROM records r WHERE {where} "
             f"ORDER BY {', '.join(query.order)} LIMIT :lim OFFSET :off"),
        params,
    )).mappings().all()
    items = [record_of(m, table.columns) for m in rows]
    if offset == 0 and len(items) < limit:
        total = len(items)
    elif counted and rows:
        total = rows[0]["n"]
    else:
        total = (await conn.execute(text(f"SELECT count(*) FROM records r WHERE {where}"),
                                    {k: v for k, v in params.items() if k not in ("lim", "off")})).scalar_one()
    return RecordPage(items=items, total=total, limit=limit, offset=offset)


async def update_record(
    conn: AsyncConnection, table: TablePublic, record_id: int, values: Mapping[str, Any],
    *, account_id: uuid.UUID | None = None, source: str = "manual",
) -> RecordPublic:
    """Set several cells of one row (no version check: last write wins, each cell's version bumps)."""
    idx = ColumnIndex(table.columns)
    coerced = idx.coerce_values(values, partial=True)
    for key, value in coerced.items():
        col = idx.by_id[key]
        if value is None and col.required:
            raise Invalid(f'Column "{col.name}" is required', column=col.name)
    await _write_cells(conn, table, record_id, coerced, account_id=account_id, source=source)
    return await get_record(conn, table, record_id)


async def _write_cells(
    conn: AsyncConnection, table: TablePublic, record_id: int, values: Mapping[str, Any],
    *, account_id: uuid.UUID | None, source: str, expect_version: tuple[str, int] | None = None,
) -> Mapping[str, Any]:
    """Write coerced values into one row, bump each cell's version, pin AI cells, audit old → new."""
    names = {str(c.id): c.name for c in table.columns}
    # the edit's change set is named (unless one is) in the statement that locks the row
    ctes, named, params = change_sets.ensure_cte(
        workspace_id=table.workspace_id, table_id=table.id, counts={"cells": len(values), "rows_updated": 1},
        summary=f"Edited {', '.join(names.get(k, '?') for k in list(values)[:5])} of row {record_id}")
    row = await conn.execute(
        text(f"WITH {ctes} SELECT data, meta, {named} AS change_set FROM records "
             "WHERE id = :r AND table_id = :t FOR UPDATE OF records"),
        {"r": record_id, "t": table.id, **params},
    )
    current = row.mappings().first()
    if current is None:
        raise NotFound(f"No row {record_id} in this table", row_id=record_id)
    data, meta = dict(current["data"]), dict(current["meta"])
    if expect_version is not None:
        key, version = expect_version
        have = (meta.get(key) or {}).get("v", 0)
        if have != version:
            raise Conflict(
                f"The cell changed since version {version} (now {have}); reload and try again",
                current=cell_of(data, meta, key).model_dump(),
            )
    ai_cols = {str(c.id) for c in table.columns if c.ai is not None}
    edits = []
    for key, value in values.items():
        old = data.get(key)
        cell = dict(meta.get(key) or {})
        cell["v"] = cell.get("v", 0) + 1
        if key in ai_cols:
            cell.update(p=True, s="completed", e=None)
        meta[key] = cell
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        edits.append({"c": key, "o": old, "n": value})
    await conn.execute(
        text("UPDATE records SET data = CAST(:d AS jsonb), meta = CAST(:m AS jsonb), updated_at = now() "
             "WHERE id = :r"),
        {"r": record_id, "d": json.dumps(data), "m": json.dumps(meta)},
    )
    await ai_cells.after_cells_written(conn, table, [record_id], values.keys())
    if edits:
        await conn.execute(
            text(
                "INSERT INTO cell_edits (workspace_id, table_id, record_id, column_id, account_id, "
                "old_value, new_value, source) SELECT :w, :t, :r, CAST(e ->> 'c' AS uuid), :a, e -> 'o', "
                "e -> 'n', :s FROM jsonb_array_elements(CAST(:edits AS jsonb)) e"
            ),
            {"w": table.workspace_id, "t": table.id, "r": record_id, "a": account_id, "s": source,
             "edits": json.dumps(edits)},
        )
    return {"data": data, "meta": meta}


async def update_cell(
    conn: AsyncConnection, table_id: Any, record_id: int, column_id: Any, *, value: Any, version: int,
    account_id: uuid.UUID | None = None,
) -> CellPublic:
    """Set one cell if its version is still `version`; else Conflict carrying the current cell.
    `table_id` may be the table already read in this transaction."""
    table = table_id if isinstance(table_id, TablePublic) else await get_table(conn, table_id)
    col = ColumnIndex(table.columns).get(str(column_id))
    stored = coerce(col.model_dump(), value)
    key = str(col.id)
    after = await _write_cells(conn, table, record_id, {key: stored}, account_id=account_id,
                               source="manual", expect_version=(key, version))
    return cell_of(after["data"], after["meta"], key)


async def list_cells(conn: AsyncConnection, table_id: Any, column_id: Any, *, limit: int = 1000,
                     offset: int = 0) -> list[dict[str, Any]]:
    """One column's cells, row by row: `{record_id, value, version, status, error}`."""
    table = await get_table(conn, table_id)
    col = ColumnIndex(table.columns).get(str(column_id))
    if not 1 <= limit <= 10_000:
        raise Invalid("limit must be between 1 and 10000", limit=limit)
    rows = await conn.execute(
        text("SELECT id, data, meta FROM records WHERE table_id = :t ORDER BY id LIMIT :l OFFSET :o"),
        {"t": table.id, "l": limit, "o": max(0, offset)},
    )
    key = str(col.id)
    return [{"record_id": m["id"], **cell_of(m["data"], m["meta"], key).model_dump()} for m in rows.mappings()]


async def delete_records(conn: AsyncConnection, table_id: Any, record_ids: Sequence[int]) -> int:
    """Delete rows; NotFound when none of them exists."""
    tid = as_uuid(table_id, "table")
    await change_sets.ensure(conn, workspace_id=None, table_id=tid,
                             summary=f"Deleted {len(record_ids)} row{'s' if len(record_ids) != 1 else ''}",
                             counts={"rows_deleted": len(record_ids)})
    res = await conn.execute(
        text("DELETE FROM records WHERE table_id = :t AND id = ANY(:ids)"), {"t": tid, "ids": list(record_ids)}
    )
    if res.rowcount == 0:
        raise NotFound(f"No row {', '.join(map(str, record_ids))} in this table", row_ids=list(record_ids))
    return res.rowcount


async def count_records(conn: AsyncConnection, table_id: uuid.UUID) -> int:
    return (await conn.execute(text("SELECT count(*) FROM records WHERE table_id = :t"), {"t": table_id})).scalar_one()

