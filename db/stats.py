"""Reads of a whole table for the agent: statistics of its columns computed in SQL, bounded whatever
the table's size (get_table), and columns as text for a data frame (analyze)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schemas import TablePublic

TOP_VALUES = 5
STATS_ROWS = 20_000  # rows that distinct counts, ranges and common values are taken from, about


async def column_stats(
    conn: AsyncConnection, table: TablePublic, *, sample: int = STATS_ROWS
) -> tuple[int, int, dict[str, dict[str, Any]]]:
    """(rows, rows looked at, stats per column id: `filled`, `distinct`, `min` / `max` of numbers and
    dates, `top` (value, rows) pairs of choice columns, most common first). Row and filled counts are
    exact (one cheap scan); the rest come from every row of a table of up to `sample` rows, else from an
    even sample of about that many."""
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
        stats[key].setdefault("top", []).append((value, n))
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


async def column_texts(conn: AsyncConnection, table_id: Any, column_ids: Sequence[Any], limit: int
                       ) -> list[tuple[Any, ...]]:
    """The first `limit` rows by id as (row id, each column's value as text or None)."""
    params: dict[str, Any] = {"t": table_id, "lim": limit}
    fields = []
    for i, column_id in enumerate(column_ids):
        params[f"k{i}"] = str(column_id)
        fields.append(f"r.data ->> :k{i} AS c{i}")
    select = ", ".join(["r.id"] + fields)
    return list((await conn.execute(
        text(f"SELECT {select} FROM records r WHERE r.table_id = :t ORDER BY r.id LIMIT :lim"), params)).all())
