"""Reading the change feed that the database triggers write (see db/migrations/versions/0002)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Invalid
from db.records import record_of
from db.schemas import Change, ChangePage, TablePublic

MAX_CHANGES = 1000


async def read_changes(
    conn: AsyncConnection, table: TablePublic, *, cursor: int = 0, limit: int = 500
) -> ChangePage:
    """Everything after `cursor`, in order, deletions included; inserted rows carry their cells.
    `more` says another call would return more."""
    if cursor < 0:
        raise Invalid("cursor must not be negative", cursor=cursor)
    if not 1 <= limit <= MAX_CHANGES:
        raise Invalid(f"limit must be between 1 and {MAX_CHANGES}", limit=limit)
    rows = await conn.execute(
        text(
            "SELECT c.seq, c.kind, c.op, c.record_id, c.column_id, c.data, r.data AS rdata, r.meta AS rmeta "
            "FROM changes c LEFT JOIN records r ON c.kind = 'record' AND c.op = 'insert' AND r.id = c.record_id "
            "WHERE c.table_id = :t AND c.seq > :cur ORDER BY c.seq LIMIT :lim"
        ),
        {"t": table.id, "cur": cursor, "lim": limit + 1},
    )
    found = rows.mappings().all()
    more = len(found) > limit
    changes = []
    for m in found[:limit]:
        data: Any = m["data"]
        if m["kind"] == "record":
            ident = str(m["record_id"])
            if m["op"] == "insert" and m["rdata"] is not None:
                data = record_of({"id": m["record_id"], "data": m["rdata"], "meta": m["rmeta"]},
                                 table.columns).model_dump(mode="json")
        elif m["kind"] == "cell":
            ident = f"{m['record_id']}:{m['column_id']}"
        elif m["kind"] == "column":
            ident = str(m["column_id"])
        else:
            ident = str(table.id)
        changes.append(Change(seq=m["seq"], kind=m["kind"], op=m["op"], id=ident, record_id=m["record_id"],
                              column_id=m["column_id"], data=data))
    new_cursor = changes[-1].seq if changes else cursor
    return ChangePage(cursor=new_cursor, changes=changes, more=more)
