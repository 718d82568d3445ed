"""The purge of history past its keeping time (db/history_purge.py), run by the sweeper at most once per
`PURGE_EVERY_S`: deleted rows' copies first, then each removed column's values, batch by batch, each batch
its own transaction."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from db import history_purge
from db.engine import transaction

log = logging.getLogger(__name__)

PURGE_EVERY_S = 3600.0


async def purge_history(engine: AsyncEngine, keep_days: int) -> dict[str, int]:
    stats = {"rows": 0, "columns": 0, "compacted": 0}
    async with transaction(None, engine=engine) as conn:
        stats["rows"] = await history_purge.purge_rows(conn, keep_days)
        columns = await history_purge.removed_columns(conn, keep_days)
    for seq, table_id, column_id in columns:
        while True:
            async with transaction(None, engine=engine) as conn:
                n = await history_purge.compact_batch(conn, table_id, column_id)
            stats["compacted"] += n
            if n < history_purge.BATCH:
                break
        async with transaction(None, engine=engine) as conn:
            await history_purge.forget_column(conn, seq)
        stats["columns"] += 1
    if any(stats.values()):
        log.info("history purge: %(rows)d deleted rows and %(columns)d removed columns forgotten "
                 "(%(compacted)d rows compacted)", stats)
    return stats
