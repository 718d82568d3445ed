"""Reading change sets and the feed rows that belong to them (migration 0012): what a change set did, what
changed after it, the versions of one cell, and a table's list of changes. The caller owns the
transaction; row-level security limits every read to the caller's workspaces."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import NotFound
from db.tables import as_uuid

CHANGE_SET_FIELDS = ("id, workspace_id, table_id, kind, actor, summary, counts, proposal_id, reverts, "
                     "reverted_by, base_seq, created_at")


@dataclass
class ChangeSetRow:
    id: uuid.UUID
    workspace_id: uuid.UUID
    table_id: uuid.UUID | None
    kind: str
    actor: dict[str, Any]
    summary: str
    counts: dict[str, Any]
    proposal_id: uuid.UUID | None
    reverts: uuid.UUID | None
    reverted_by: uuid.UUID | None
    base_seq: int
    created_at: datetime


async def get_change_set(conn: AsyncConnection, change_set_id: Any, *, lock: bool = False) -> ChangeSetRow:
    """A change set of the caller's workspaces; NotFound otherwise (another workspace's is not found)."""
    cid = as_uuid(change_set_id, "change")
    row = (await conn.execute(
        text(f"SELECT {CHANGE_SET_FIELDS} FROM change_sets WHERE id = :id" + (" FOR UPDATE" if lock else "")),
        {"id": cid},
    )).mappings().first()
    if row is None:
        raise NotFound(f"No change {change_set_id}", change_id=str(change_set_id))
    return ChangeSetRow(**row)


async def followers(conn: AsyncConnection, cs: ChangeSetRow) -> list[uuid.UUID]:
    """The change set and the fills it started in its own transaction (new rows or a new AI column: same
    table, same transaction time), whose writes are part of what it did. A fill has none."""
    if cs.kind == "fill":
        return [cs.id]
    rows = await conn.execute(
        text("SELECT id FROM change_sets WHERE table_id = :t AND kind = 'fill' AND created_at = :at "
             "AND id <> :id AND actor ->> 'reason' IN ('new_rows', 'new_column')"),
        {"t": cs.table_id, "at": cs.created_at, "id": cs.id},
    )
    return [cs.id, *rows.scalars().all()]


@dataclass
class Effect:
    """What a change set did to its table, net of its own intermediate writes."""

    last_seq: int = 0
    table_created: bool = False
    table_before: dict[str, Any] | None = None  # name and description before a rename
    cells: list[tuple[int, str, Any, Any]] = field(default_factory=list)  # (row, column, before, after)
    rows_added: list[int] = field(default_factory=list)
    rows_deleted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row, {data, meta})
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[dict[str, Any]] = field(default_factory=list)  # the definitions before
    columns_changed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (id, definition before)


async def effect_end(conn: AsyncConnection, cs: ChangeSetRow, ids: list[uuid.UUID]) -> int:
    """The last feed number the change sets `ids` wrote on the table (what changed after it is a conflict)."""
    return (await conn.execute(
        text("SELECT coalesce(max(seq), 0) FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids)"),
        {"t": cs.table_id, "b": cs.base_seq, "ids": ids})).scalar_one()


_CELLS = """
SELECT record_id, column_id::text AS column_id,
       (array_agg(prev ORDER BY seq) FILTER (WHERE prev IS NOT NULL))[1] AS before,
       (array_agg(data -> 'value' ORDER BY seq DESC))[1] AS after
FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids) AND kind = 'cell'
GROUP BY record_id, column_id HAVING bool_or(prev IS NOT NULL)
ORDER BY record_id, column_id
"""

_OTHER = """
SELECT seq, kind, op, record_id, column_id::text AS column_id, prev
FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids) AND kind <> 'cell'
ORDER BY seq
"""


async def effect(conn: AsyncConnection, cs: ChangeSetRow, ids: list[uuid.UUID]) -> Effect:
    """The net effect of the change sets `ids` (a change set and its followers) on `cs.table_id`."""
    out = Effect()
    params = {"t": cs.table_id, "b": cs.base_seq, "ids": ids}
    out.last_seq = await effect_end(conn, cs, ids)
    for m in (await conn.execute(text(_CELLS), params)).mappings():
        before = m["before"]
        if before != m["after"]:
            out.cells.append((m["record_id"], m["column_id"], before, m["after"]))
    added: dict[int, None] = {}
    removed_cols: dict[str, dict[str, Any]] = {}
    changed_cols: dict[str, dict[str, Any]] = {}
    added_cols: dict[str, None] = {}
    for m in (await conn.execute(text(_OTHER), params)).mappings():
        kind, op = m["kind"], m["op"]
        if kind == "table":
            if op == "insert":
                out.table_created = True
            elif op == "update" and out.table_before is None:
                out.table_before = m["prev"]
        elif kind == "record" and op == "insert":
            added[m["record_id"]] = None
        elif kind == "record" and op == "delete":
            if m["record_id"] in added:  # added and deleted within the change set: nothing to undo
                added.pop(m["record_id"])
            elif m["prev"] is not None:
                out.rows_deleted.append((m["record_id"], m["prev"]))
        elif kind == "column":
            cid = m["column_id"]
            if op == "insert":
                added_cols[cid] = None
            elif op == "delete":
                if cid in added_cols:
                    added_cols.pop(cid)
                    changed_cols.pop(cid, None)
                else:
                    removed_cols[cid] = changed_cols.pop(cid, None) or m["prev"]
            elif cid not in added_cols:
                changed_cols.setdefault(cid, m["prev"])
    out.rows_added = list(added)
    out.columns_added = list(added_cols)
    out.columns_removed = [v for v in removed_cols.values() if v]
    out.columns_changed = list(changed_cols.items())
    return out


async def changed_after(
    conn: AsyncConnection, table_id: uuid.UUID, after_seq: int, ids: list[uuid.UUID], row_ids: list[int]
) -> set[tuple[int, str]]:
    """Cells of `row_ids` whose value was written after `after_seq` by another change set."""
    if not row_ids:
        return set()
    rows = await conn.execute(
        text("SELECT DISTINCT record_id, column_id::text FROM changes WHERE table_id = :t AND seq > :s "
             "AND kind = 'cell' AND prev IS NOT NULL AND record_id = ANY(:rows) "
             "AND (change_set IS NULL OR NOT change_set = ANY(:ids))"),
        {"t": table_id, "s": after_seq, "rows": sorted(set(row_ids)), "ids": ids},
    )
    return {(r, c) for r, c in rows.all()}


async def columns_changed_after(
    conn: AsyncConnection, table_id: uuid.UUID, after_seq: int, ids: list[uuid.UUID]
) -> set[str]:
    rows = await conn.execute(
        text("SELECT DISTINCT column_id::text FROM changes WHERE table_id = :t AND seq > :s AND kind = 'column' "
             "AND (change_set IS NULL OR NOT change_set = ANY(:ids))"),
        {"t": table_id, "s": after_seq, "ids": ids},
    )
    return set(rows.scalars().all())


async def undone_by(conn: AsyncConnection, cs: ChangeSetRow) -> uuid.UUID | None:
    """The revert that undid the change set and still holds (a revert reverted in its turn does not)."""
    if cs.reverted_by is None:
        return None
    got = (await conn.execute(text("SELECT reverted_by FROM change_sets WHERE id = :id"),
                              {"id": cs.reverted_by})).first()
    return cs.reverted_by if got is not None and got[0] is None else None


async def mark_reverted(conn: AsyncConnection, change_set_id: uuid.UUID, by: uuid.UUID) -> None:
    await conn.execute(text("UPDATE change_sets SET reverted_by = :by WHERE id = :id"),
                       {"by": by, "id": change_set_id})


async def change_set_of_proposal(conn: AsyncConnection, proposal_id: uuid.UUID) -> uuid.UUID | None:
    """The change set an applied proposal wrote (None: it wrote nothing)."""
    got = await conn.execute(text("SELECT id FROM change_sets WHERE proposal_id = :p ORDER BY created_at DESC "
                                  "LIMIT 1"), {"p": proposal_id})
    return got.scalar()


async def row_values(conn: AsyncConnection, table_id: uuid.UUID, row_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The values of those rows of the table that exist (row id → {column id: value})."""
    if not row_ids:
        return {}
    rows = await conn.execute(text("SELECT id, data FROM records WHERE table_id = :t AND id = ANY(:ids)"),
                              {"t": table_id, "ids": row_ids})
    return {rid: data for rid, data in rows.all()}


async def rows_touched(conn: AsyncConnection, cs: ChangeSetRow, ids: list[uuid.UUID]) -> tuple[int, bool]:
    """How many rows the change sets `ids` wrote cells of, and whether they also added or deleted rows or
    changed columns or the table (then they cannot be reverted in batches)."""
    got = (await conn.execute(text(
        "SELECT count(DISTINCT record_id) FILTER (WHERE kind = 'cell' AND prev IS NOT NULL), "
        "bool_or(kind <> 'cell') FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids)"),
        {"t": cs.table_id, "b": cs.base_seq, "ids": ids})).one()
    return int(got[0] or 0), bool(got[1])


async def next_rows(conn: AsyncConnection, table_id: uuid.UUID, after: int, n: int) -> list[int]:
    """The table's next `n` row ids after `after`, in order (the batches of a long revert)."""
    rows = await conn.execute(text("SELECT id FROM records WHERE table_id = :t AND id > :a ORDER BY id LIMIT :n"),
                              {"t": table_id, "a": after, "n": n})
    return list(rows.scalars().all())


async def net_cells(conn: AsyncConnection, cs: ChangeSetRow, ids: list[uuid.UUID], row_ids: list[int]
                    ) -> list[tuple[int, str, Any]]:
    """Per cell of those rows that the change sets changed: (row, column, value before them)."""
    rows = await conn.execute(text(
        "SELECT record_id, CAST(column_id AS text), "
        "       (array_agg(prev ORDER BY seq) FILTER (WHERE prev IS NOT NULL))[1], "
        "       (array_agg(data -> 'value' ORDER BY seq DESC))[1] "
        "FROM changes WHERE record_id = ANY(:rows) AND table_id = :t AND seq > :b AND change_set = ANY(:ids) "
        "AND kind = 'cell' GROUP BY record_id, column_id HAVING bool_or(prev IS NOT NULL) "
        "ORDER BY record_id, column_id"),
        {"rows": row_ids, "t": cs.table_id, "b": cs.base_seq, "ids": ids})
    return [(r, c, before) for r, c, before, after in rows.all() if before != after]
