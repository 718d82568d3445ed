"""Writes of many rows at once (a statement per thousand rows) with the rules of db/records.py: versions
bump, AI cells written by hand are pinned, every cell write is audited. The caller owns the transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ai_cells
from db.schemas import TablePublic

CHUNK = 1000

# One statement per chunk of rows `{id, v: {column id: value}, kept: the non-null values, cleared: the
# keys set to null}`: old values are read under lock, the row rewritten (each written cell's version
# bumps, AI cells are pinned) and the edits audited, all server-side.
WRITE_CELLS = """
WITH u AS (
  SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(id bigint, v jsonb, kept jsonb, cleared text[])
), old AS (
  SELECT r.id, r.data FROM records r WHERE r.table_id = :t AND r.id = ANY(:ids) ORDER BY r.id FOR UPDATE
), upd AS (
  UPDATE records r SET
    data = (r.data || u.kept) - u.cleared,
    meta = r.meta || (SELECT jsonb_object_agg(k, coalesce(r.meta -> k, '{}'::jsonb)
                               || jsonb_build_object('v', coalesce((r.meta -> k ->> 'v')::int, 0) + 1)
                               || CASE WHEN NOT k = ANY(CAST(:ai AS text[])) THEN '{}'::jsonb
                                       WHEN :pin THEN '{"p": true, "s": "completed", "e": null}'::jsonb
                                       ELSE jsonb_build_object('p', false, 'e', null, 's', CASE
                                         WHEN u.v -> k = 'null'::jsonb THEN 'idle' ELSE 'completed' END) END)
                      FROM jsonb_object_keys(u.v) k),
    updated_at = now()
  FROM u, old WHERE r.id = u.id AND old.id = r.id
  RETURNING r.id, old.data AS before, u.v
), audit AS (
  INSERT INTO cell_edits
    (workspace_id, table_id, record_id, column_id, account_id, old_value, new_value, source)
  SELECT :w, :t, upd.id, CAST(e.key AS uuid), :a, coalesce(upd.before -> e.key, 'null'::jsonb), e.value, :s
  FROM upd, jsonb_each(upd.v) e
)
SELECT id FROM upd
"""


@asynccontextmanager
async def without_jit(conn: AsyncConnection) -> AsyncIterator[None]:
    """Plan the statements inside, and the feed triggers they fire, without JIT compilation."""
    # on large batches the triggers' estimates cross jit_above_cost, and compiling costs more than running
    before = (await conn.execute(text("SELECT current_setting('jit')"))).scalar_one()
    await conn.execute(text("SELECT set_config('jit', 'off', true)"))
    try:
        yield
    finally:
        await conn.execute(text("SELECT set_config('jit', :v, true)"), {"v": before})


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[n : n + CHUNK] for n in range(0, len(items), CHUNK)]


async def write_cells(
    conn: AsyncConnection,
    table: TablePublic,
    values: Mapping[int, Mapping[str, Any]],
    *,
    account_id: uuid.UUID | None,
    source: str = "manual",
    pin_ai: bool = True,
) -> set[int]:
    """Set coerced values (row id → {column id: value}, None clears); returns the ids of the rows written.
    AI cells written are pinned, unless `pin_ai` is False (a revert: the value it brings back stays
    the AI's, completed or, when empty, idle)."""
    ai = [str(c.id) for c in table.columns if c.ai is not None]
    rows = [
        {
            "id": rid,
            "v": v,
            "kept": {k: x for k, x in v.items() if x is not None},
            "cleared": [k for k, x in v.items() if x is None],
        }
        for rid, v in sorted(values.items())
        if v
    ]
    written: set[int] = set()
    for chunk in _chunks(rows):
        res = await conn.execute(
            text(WRITE_CELLS),
            {
                "rows": json.dumps(chunk),
                "ids": [r["id"] for r in chunk],
                "t": table.id,
                "w": table.workspace_id,
                "a": account_id,
                "s": source,
                "ai": ai,
                "pin": pin_ai,
            },
        )
        written.update(res.scalars().all())
    # as after any write by a person: AI cells written leave their jobs, cells reading them go stale
    groups: dict[frozenset[str], list[int]] = {}
    for r in rows:
        if r["id"] in written:
            groups.setdefault(frozenset(r["v"]), []).append(r["id"])
    for columns, ids in groups.items():
        await ai_cells.after_cells_written(conn, table, ids, columns)
    return written


async def delete_rows(conn: AsyncConnection, table_id: uuid.UUID, ids: Sequence[int]) -> set[int]:
    """Delete rows of one table; returns the ids that were there."""
    deleted: set[int] = set()
    for chunk in _chunks(sorted(ids)):
        res = await conn.execute(
            text("DELETE FROM records WHERE table_id = :t AND id = ANY(:ids) RETURNING id"),
            {"t": table_id, "ids": list(chunk)},
        )
        deleted.update(res.scalars().all())
    return deleted


async def set_column_order(conn: AsyncConnection, table_id: uuid.UUID, ordered: Sequence[uuid.UUID]) -> None:
    """Number the table's columns in this order; columns not listed follow, in their current order."""
    rows = await conn.execute(
        text("SELECT id FROM columns WHERE table_id = :t ORDER BY position, created_at"), {"t": table_id}
    )
    current = list(rows.scalars().all())
    present = set(current)
    listed = [c for c in dict.fromkeys(ordered) if c in present]
    taken = set(listed)
    rest = [c for c in current if c not in taken]
    await conn.execute(
        text(
            "UPDATE columns c SET position = o.ord - 1 FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY "
            "AS o(id, ord) WHERE c.id = o.id AND c.table_id = :t AND c.position <> o.ord - 1"
        ),
        {"ids": listed + rest, "t": table_id},
    )
