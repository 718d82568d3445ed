"""The revert of a change set too big for one proposal (more than 10,000 rows: a fill of a big table, a
keyed import): its cells go back to their previous values a thousand rows at a time, reading the feed per
batch, so memory stays bounded whatever the size; `progress(done, total)` is told after each batch. Cells
written since by anything else keep their current value unless named in `restore`, and are counted (the
first hundred listed). Only cell changes can be reverted this way: a change set that also added or
deleted rows or changed columns is refused. Runs in the caller's transaction: all or nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db import bulk_ops, change_sets, history
from db import tables as db_tables
from db.errors import Conflict, Invalid, NotFound

BATCH = 1000
LISTED = 100

Progress = Callable[[int, int], Awaitable[None]]


async def revert_in_batches(conn: AsyncConnection, change_set_id: Any, *, dry_run: bool = False,
                            restore: Collection[tuple[int, str]] = (), progress: Progress | None = None
                            ) -> dict[str, Any]:
    cs = await history.get_change_set(conn, change_set_id, lock=not dry_run)
    if (by := await history.undone_by(conn, cs)) is not None:
        raise Conflict("This change was reverted already", change_id=str(cs.id), reverted_by=str(by))
    try:
        table = await db_tables.get_table(conn, cs.table_id)
    except NotFound:
        raise Invalid("The table this change wrote has been deleted; it cannot be reverted") from None
    ids = await history.followers(conn, cs)
    total, structural = await history.rows_touched(conn, cs, ids)
    if structural:
        raise Invalid("This change added or deleted rows or changed columns as well as cells; only its cells "
                      "could be reverted in batches, so nothing was done", change_id=str(cs.id))
    last_seq = (await history.effect_end(conn, cs, ids))
    cols = {str(c.id) for c in table.columns}
    wanted = {(int(r), str(c)) for r, c in restore}
    new = None
    if not dry_run:
        new = await change_sets.begin(conn, workspace_id=cs.workspace_id, table_id=table.id, kind="revert",
                                      actor={"kind": "user"}, reverts=cs.id)
    after, rows_done, cells, kept = 0, 0, 0, 0
    conflicts: list[dict[str, Any]] = []
    async with bulk_ops.without_jit(conn):
        while batch := await history.next_rows(conn, table.id, after, BATCH):
            after = batch[-1]
            found = await history.net_cells(conn, cs, ids, batch)
            if not found:
                continue
            later = await history.changed_after(conn, table.id, last_seq, ids, sorted({r for r, _, _ in found}))
            values: dict[int, dict[str, Any]] = {}
            for rid, cid, before in found:
                if cid not in cols:
                    continue
                if (rid, cid) in later and (rid, cid) not in wanted:
                    kept += 1
                    if len(conflicts) < LISTED:
                        conflicts.append({"record_id": rid, "column_id": cid, "restore": before})
                    continue
                values.setdefault(rid, {})[cid] = before
            cells += sum(len(v) for v in values.values())
            if values and not dry_run:
                await bulk_ops.write_cells(conn, table, values, account_id=None, source="revert", pin_ai=False)
            rows_done += len({r for r, _, _ in found})
            if progress is not None:
                await progress(rows_done, total)
    change_id = None
    summary = f"Revert of: {cs.summary or 'a change'}"[:300]
    if new is not None and await change_sets.finish(conn, new, summary=summary, drop_if_empty=True) is not None:
        await history.mark_reverted(conn, cs.id, new)
        change_id = str(new)
    return {"change_id": change_id, "reverts": str(cs.id), "reverted": {"cells": cells, "rows": rows_done},
            "kept": kept, "conflicts": conflicts, "batched": True}
