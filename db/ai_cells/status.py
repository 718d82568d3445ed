"""The whole table at a glance: the cells of each AI column by status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schemas import TablePublic

STATUSES = ("idle", "pending", "computing", "completed", "error", "stale")


async def status_counts(conn: AsyncConnection, table: TablePublic) -> dict[str, dict[str, Any]]:
    """Per AI column (by id): how many of its cells are in each status across the whole table, and the
    fills still queued or running (`jobs`). One pass over the table's rows (the cell states live in
    them): about 0.15 s at 100,000 rows, so callers ask when the change feed moved, not on a timer."""
    columns = [str(c.id) for c in table.columns if c.ai is not None]
    out: dict[str, dict[str, Any]] = {c: {**dict.fromkeys(STATUSES, 0), "jobs": []} for c in columns}
    if not columns:
        return out
    counts = await conn.execute(_COUNT_STATES, {"t": table.id, "cols": columns})
    for column_id, status, n in counts.all():
        out[column_id][status if status in STATUSES else "idle"] += n
    active = await conn.execute(
        text("SELECT column_id::text, id::text FROM jobs WHERE table_id = :t AND status IN ('queued', 'running') "
             "ORDER BY created_at"), {"t": table.id})
    for column_id, job_id in active.all():
        if column_id in out:
            out[column_id]["jobs"].append(job_id)
    return out


_COUNT_STATES = text(
    "SELECT c.id, coalesce(r.meta -> c.id ->> 's', 'idle'), count(*) FROM records r "
    "CROSS JOIN unnest(CAST(:cols AS text[])) AS c(id) WHERE r.table_id = :t GROUP BY 1, 2"
)


async def failed_cells(conn: AsyncConnection, table_id: Any, column_id: Any, limit: int
                       ) -> tuple[list[tuple[int, str | None]], int]:
    """The first `limit` failed cells of a column (row id, error) and how many have failed in all."""
    rows = (await conn.execute(text(
        "SELECT r.id, r.meta -> :c ->> 'e' AS e, count(*) OVER () AS n FROM records r "
        "WHERE r.table_id = :t AND r.meta -> :c ->> 's' = 'error' ORDER BY r.id LIMIT :k"),
        {"t": table_id, "c": str(column_id), "k": limit})).all()
    return [(r.id, r.e) for r in rows], (rows[0].n if rows else 0)
