"""The purge of what history keeps for undoing deletions: a deleted row's values and a removed column's
definition and values stay recoverable for `keep_days` (TABLECHAT_HISTORY_KEEP_DAYS, default 30), then
go: the row's copy leaves the change feed, the column's values leave the row documents (in batches, so
no statement holds a table's rows for long). Runs in the workers' sweeper; the caller owns the
transaction of each call (the system's, outside row-level security)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

BATCH = 1000

_ROWS = """
UPDATE changes SET prev = NULL
WHERE kind = 'record' AND op = 'delete' AND prev IS NOT NULL AND created_at < now() - make_interval(days => :d)
"""
_COLUMNS = """
SELECT f.seq, f.table_id, CAST(f.column_id AS text) AS column_id FROM changes f
WHERE f.kind = 'column' AND f.op = 'delete' AND f.prev IS NOT NULL AND f.created_at < now() - make_interval(days => :d)
  AND NOT EXISTS (SELECT 1 FROM columns c WHERE c.id = f.column_id)
ORDER BY f.seq LIMIT 100
"""
_COMPACT = """
UPDATE records SET data = data - :c, meta = meta - :c
WHERE id IN (SELECT id FROM records WHERE table_id = :t AND (data ? :c OR meta ? :c) LIMIT :n)
"""


async def purge_rows(conn: AsyncConnection, keep_days: int) -> int:
    """Deleted rows older than `keep_days`: their values leave the feed. Returns how many."""
    return (await conn.execute(text(_ROWS), {"d": keep_days})).rowcount


async def removed_columns(conn: AsyncConnection, keep_days: int) -> list[tuple[int, str, str]]:
    """Columns removed more than `keep_days` ago and not restored since: (feed seq, table id, column id)."""
    return [(m.seq, m.table_id, m.column_id) for m in await conn.execute(text(_COLUMNS), {"d": keep_days})]


async def compact_batch(conn: AsyncConnection, table_id: object, column_id: str) -> int:
    """Remove one batch of a removed column's values from its table's rows; returns how many rows."""
    return (await conn.execute(text(_COMPACT), {"t": table_id, "c": column_id, "n": BATCH})).rowcount


async def forget_column(conn: AsyncConnection, seq: int) -> None:
    """The removal can no longer be reverted: its definition leaves the feed."""
    await conn.execute(text("UPDATE changes SET prev = NULL WHERE seq = :s"), {"s": seq})
