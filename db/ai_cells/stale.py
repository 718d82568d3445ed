"""When inputs change: AI cells written by hand leave their jobs, and the cells that read a changed value
go stale (and, with auto_update, are queued again after a debounce)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells.cell_state import WORKING_KEYS, lock_cells, owned_jobs, set_cells, strip
from db.ai_cells.columns import dependents
from db.ai_cells.job_rows import Delta, settle
from db.ai_cells.outbox import enqueue, outbox_rows
from db.ai_cells.settings import cell_settings
from db.schemas import TablePublic


async def release_edited(conn: AsyncConnection, table: TablePublic, record_ids: Sequence[int],
                         column_ids: Iterable[str]) -> None:
    """AI cells just written by hand leave the job that had them queued (the job's total shrinks)."""
    deltas: dict[str, Delta] = {}
    for col in table.columns:
        if col.ai is None or str(col.id) not in {str(c) for c in column_ids}:
            continue
        cells = [(rid, m) for rid, m in await lock_cells(conn, table.id, str(col.id), record_ids) if "j" in m]
        live = await owned_jobs(conn, (m["j"] for _, m in cells))
        for _, m in cells:
            if m["j"] in live:
                deltas.setdefault(m["j"], Delta()).total -= 1
        await set_cells(conn, table.id, str(col.id), {rid: strip(m, *WORKING_KEYS) for rid, m in cells})
    await settle(conn, deltas)


async def mark_dependents(conn: AsyncConnection, table: TablePublic, record_ids: Sequence[int],
                          column_ids: Iterable[str], *, debounce_s: float | None = None) -> list[str]:
    """Source cells changed: dependent AI cells being computed go back to their job's queue (the result
    in flight is dropped); computed ones turn `stale`, and with `auto_update` are queued in a new job,
    after a debounce. Cells queued and not started, or edited by hand, are left alone. Returns new jobs."""
    debounce = cell_settings().debounce_s if debounce_s is None else debounce_s
    not_before = time.time() + debounce
    delay_ms = int(debounce * 1000)
    new_jobs: list[str] = []
    for dep in dependents(table, column_ids):
        key = str(dep.id)
        cells = [(rid, m) for rid, m in await lock_cells(conn, table.id, key, record_ids)
                 if not m.get("p") and m.get("s") in ("computing", "completed", "error", "stale", "pending")]
        live = await owned_jobs(conn, (m.get("j") for _, m in cells))
        metas: dict[int, dict[str, Any]] = {}
        requeue: dict[str, list[int]] = {}
        free: list[tuple[int, dict[str, Any]]] = []
        for rid, m in cells:
            if m.get("j") in live:
                if m.get("s") == "computing":  # inputs moved under a running call: recompute later
                    metas[rid] = strip(m, "c", "w", "t") | {"s": "pending", "a": 0, "n": not_before}
                    requeue.setdefault(m["j"], []).append(rid)
            elif m.get("s") != "pending":
                free.append((rid, m))
        job_id = None
        if free and (dep.ai or {}).get("auto_update"):
            row = await conn.execute(
                text("INSERT INTO jobs (workspace_id, table_id, column_id, scope, reason, total) "
                     "VALUES (:w, :t, :c, CAST(:s AS jsonb), 'auto_update', :n) RETURNING id"),
                {"w": table.workspace_id, "t": table.id, "c": dep.id, "n": len(free),
                 "s": json.dumps(sorted(rid for rid, _ in free))},
            )
            job_id = str(row.scalar_one())
            new_jobs.append(job_id)
            requeue[job_id] = [rid for rid, _ in free]
        for rid, m in free:
            base = strip(m, *WORKING_KEYS)
            metas[rid] = base | ({"s": "pending", "j": job_id, "a": 0, "n": not_before, "ps": "stale"}
                                 if job_id else {"s": "stale"})
        await set_cells(conn, table.id, key, metas)
        await enqueue(conn, [msg for j, ids in requeue.items() for msg in outbox_rows(j, ids, delay_ms)])
    return new_jobs


async def after_cells_written(conn: AsyncConnection, table: TablePublic, record_ids: Sequence[int],
                              column_ids: Iterable[str]) -> None:
    """The hook of the write path: cells of `column_ids` in `record_ids` were just written by a person
    or an import. Hand-written AI cells leave their jobs; cells that depend on them go stale."""
    column_ids = [str(c) for c in column_ids]
    if not record_ids or not any(c.ai is not None for c in table.columns):
        return
    await release_edited(conn, table, record_ids, column_ids)
    await mark_dependents(conn, table, record_ids, column_ids)
