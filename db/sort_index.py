"""The partial index a sort of a big table by a column needs, made the first time it is asked for
(migration 0011 explains why and how). Small tables sort fast enough without one, and every index costs
each write of the table a little, so only tables of `MIN_ROWS` rows or more get them.

The index is built inside the caller's transaction (it holds writes to `records` for the build: about a
quarter of a second per 100,000 rows); a product with far bigger tables would build it CONCURRENTLY from
a worker and sort without it meanwhile.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.record_query import sort_kind
from db.schemas import ColumnPublic, TablePublic

log = logging.getLogger("tablechat.db")
MIN_ROWS = 10_000
_known: set[tuple[str, str, bool]] = set()  # indexes this process found: not asked for again


async def ensure(conn: AsyncConnection, table: TablePublic, col: ColumnPublic, direction: str) -> bool:
    """Make sure `col`'s sort index in `direction` exists if the table is big; True when one was built.
    A failure (e.g. another request building the same index) only costs this page its speed."""
    key = (str(col.id), sort_kind(col), direction == "desc")
    if key in _known:
        return False
    rows = (await conn.execute(text("SELECT coalesce(max(n), 0) FROM table_row_counts WHERE table_id = :t"),
                               {"t": table.id})).scalar_one()
    if rows < MIN_ROWS:
        return False
    try:
        async with conn.begin_nested():
            built = (await conn.execute(text("SELECT tc_sort_index(:t, :c, :k, :d)"),
                                        {"t": table.id, "c": col.id, "k": key[1], "d": key[2]})).scalar_one()
    except DBAPIError as exc:
        log.warning("no sort index for column %s: %s", col.id, exc.orig)
        return False
    if not built:  # one built now exists once this transaction commits: the next call sees it
        _known.add(key)
    return bool(built)
