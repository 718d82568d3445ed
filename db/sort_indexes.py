"""Indexes for sorted pages of big tables, built outside any person's request (migration 0014).

A request that sorts a table of 10,000 rows or more by a column notes it (`note_sort`: one call of
`tc_note_sort`, which writes nothing once the index exists). `maintain`, run as the schema owner (`tablechat
maintain`, or a scheduler calling it), builds the most wanted partial expression indexes with CREATE INDEX
CONCURRENTLY — writers of every workspace go on meanwhile — at most `PER_TABLE` per table, and drops with
DROP INDEX CONCURRENTLY the ones whose column is gone or sorts another way now. The index expression is
`record_query.sort_key`'s, so the page query (which names its table, to match the partial index) uses it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.listener import asyncpg_dsn
from db.record_query import KEY_SQL, kind_of_type
from db.schemas import ColumnPublic, TablePublic

log = logging.getLogger(__name__)

PER_TABLE = 4
MIN_ROWS = 10_000  # the same bound as tc_note_sort's


def index_name(column_id: uuid.UUID | str, kind: str, descending: bool) -> str:
    """As `tc_sort_index_name` in SQL."""
    return f"ix_sort_{str(column_id).replace('-', '')}_{kind[0]}{'d' if descending else 'a'}"


async def note_sort(conn: AsyncConnection, table: TablePublic, col: ColumnPublic, kind: str, descending: bool) -> None:
    """Count a sort of `table` by `col` for the maintenance step (nothing once its index exists)."""
    await conn.execute(text("SELECT tc_note_sort(:t, :c, :k, :d)"),
                       {"t": table.id, "c": col.id, "k": kind, "d": descending})


def _create_sql(name: str, table_id: uuid.UUID, column_id: uuid.UUID, kind: str, descending: bool) -> str:
    expr = KEY_SQL[kind].format(row="", key="'" + str(uuid.UUID(str(column_id))) + "'")
    return (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON records "
            f"({expr} {'DESC' if descending else 'ASC'} NULLS LAST, id) WHERE table_id = '{uuid.UUID(str(table_id))}'")


WANTED = """
SELECT d.table_id, d.column_id, d.kind, d.descending, d.hits FROM (
  SELECT d.*, row_number() OVER (PARTITION BY d.table_id ORDER BY d.hits DESC, d.last_at DESC) AS rank
  FROM sort_demand d JOIN columns c ON c.id = d.column_id
  JOIN table_row_counts n ON n.table_id = d.table_id AND n.n >= $1
) d WHERE d.rank <= $2 ORDER BY d.hits DESC
"""

EXISTING = """
SELECT c.relname, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind = 'i' AND c.relname LIKE 'ix\\_sort\\_%' AND i.indrelid = 'records'::regclass
"""


async def maintain(owner_url: str, *, min_rows: int = MIN_ROWS, per_table: int = PER_TABLE) -> dict[str, Any]:
    """Build the wanted sort indexes and drop the orphaned ones; returns what it did. Needs the owner of
    the schema (CREATE INDEX) and runs outside a transaction (CONCURRENTLY)."""
    from db.engine import connect_args

    conn = await asyncpg.connect(asyncpg_dsn(owner_url), **connect_args(owner_url))
    built, dropped = [], []
    try:
        existing = {r["relname"]: r["indisvalid"] for r in await conn.fetch(EXISTING)}
        for name, valid in existing.items():
            if not valid:  # a build that was interrupted leaves an invalid index behind: try again
                await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                dropped.append(name)
        kinds = {r["id"]: kind_of_type(r["type"]) for r in await conn.fetch("SELECT id, type FROM columns")}
        live = {index_name(c, k, d) for c, k in kinds.items() for d in (False, True)}
        for name in existing:
            if name not in live and name not in dropped:
                await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                dropped.append(name)
        wanted = await conn.fetch(WANTED, min_rows, per_table)
        for w in wanted:
            if kinds.get(w["column_id"]) != w["kind"]:
                continue  # the column sorts another way since: its demand starts again
            name = index_name(w["column_id"], w["kind"], w["descending"])
            if existing.get(name):
                continue
            await conn.execute(_create_sql(name, w["table_id"], w["column_id"], w["kind"], w["descending"]))
            built.append(name)
        if built:  # statistics of the new expressions (and of fresh rows), so that the planner picks them
            await conn.execute("ANALYZE records")
        await conn.execute("DELETE FROM sort_demand d WHERE NOT EXISTS (SELECT 1 FROM columns c WHERE c.id = d.column_id)")
    finally:
        await conn.close()
    if built or dropped:
        log.info("sort indexes: built %s, dropped %s", built, dropped)
    return {"built": built, "dropped": dropped}
