"""Bringing back what a change set removed, as it was: deleted rows under their own ids with their values
and states, removed columns under their own ids (their values are still in the row documents, see
docs/storage.md), and previous cell values. Used by reverts; the caller owns the transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Conflict
from db.schemas import ColumnPublic, TablePublic
from db.tables import get_columns

# working keys of an AI cell's state: a restored cell is not part of any job
WORKING = ("j", "a", "n", "ps", "c", "w", "t")


def _settled(meta: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, cell in (meta or {}).items():
        cell = {k: v for k, v in (cell or {}).items() if k not in WORKING}
        if cell.get("s") in ("pending", "computing"):
            cell["s"] = "idle"
        cell["v"] = int(cell.get("v", 0)) + 1
        out[key] = cell
    return out


async def restore_rows(conn: AsyncConnection, table: TablePublic, rows: Sequence[tuple[int, Mapping[str, Any]]]
                       ) -> set[int]:
    """Insert deleted rows again with their ids (`prev` of their feed row: {data, meta}); rows whose id
    exists already are left alone. Returns the ids inserted."""
    if not rows:
        return set()
    docs = [{"id": rid, "data": prev.get("data") or {}, "meta": _settled(prev.get("meta") or {})}
            for rid, prev in rows]
    res = await conn.execute(
        text("INSERT INTO records (id, table_id, workspace_id, data, meta) "
             "SELECT x.id, :t, :w, x.data, x.meta FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
             "AS x(id bigint, data jsonb, meta jsonb) ORDER BY x.id ON CONFLICT (id) DO NOTHING RETURNING id"),
        {"t": table.id, "w": table.workspace_id, "rows": json.dumps(docs)},
    )
    return set(res.scalars().all())


async def restore_column(conn: AsyncConnection, table: TablePublic, definition: Mapping[str, Any]) -> ColumnPublic:
    """Insert a removed column again under its id, last (the caller orders the columns); Conflict when its
    name is taken meanwhile."""
    name = definition["name"]
    if any(c.name.casefold() == str(name).casefold() for c in table.columns):
        raise Conflict(f'A column named "{name}" exists now; rename it first', column=name)
    cid = uuid.UUID(str(definition["id"]))
    try:
        async with conn.begin_nested():
            await conn.execute(
                text("INSERT INTO columns (id, table_id, workspace_id, name, type, position, required, options, "
                     "filter_display, ai) VALUES (:id, :t, :w, :n, :ty, :p, :r, CAST(:o AS jsonb), :f, "
                     "CAST(:ai AS jsonb))"),
                {"id": cid, "t": table.id, "w": table.workspace_id, "n": name, "ty": definition["type"],
                 "p": len(table.columns), "r": bool(definition.get("required")),
                 "o": json.dumps(definition["options"]) if definition.get("options") is not None else None,
                 "f": definition.get("filter_display"),
                 "ai": json.dumps(definition["ai"]) if definition.get("ai") is not None else None},
            )
    except IntegrityError:
        raise Conflict(f'Column "{name}" cannot be restored (its name or id is taken)', column=name) from None
    return next(c for c in await get_columns(conn, table.id) if c.id == cid)
