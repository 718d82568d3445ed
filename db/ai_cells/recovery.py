"""Sweeper recovery: cells claimed by workers that died go back to the queue, stalled jobs are sent
again, and cells still held by an ended job are let go."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells.cell_state import MAX_ATTEMPTS, RESTORE, WORKING_KEYS, set_cells, strip, update_job_cells
from db.ai_cells.job_rows import JOB_FIELDS, Delta, jsonable, settle
from db.ai_cells.outbox import FILL, enqueue, outbox_rows


def _dead_message(attempts: int) -> str:
    return (f"The worker computing this cell stopped before it finished ({attempts} attempts); "
            "start the fill again to retry")


async def recover_dead(conn: AsyncConnection, job: Mapping[str, Any], live_workers: Sequence[int],
                       lease_s: float, claimed_before: float) -> tuple[int, list[dict[str, Any]]]:
    """Cells of `job` claimed before `claimed_before` (epoch s, when `live_workers` was read) by workers
    that are gone, or claimed longer than `lease_s` ago, go back to the queue, or fail once they used
    all their attempts. Returns how many were recovered, and the job."""
    res = await conn.execute(
        text("SELECT id, meta -> :c AS m FROM records WHERE table_id = :t AND meta -> :c ->> 'j' = :j "
             " AND meta -> :c ->> 's' = 'computing' "
             " AND ((NOT coalesce((meta -> :c ->> 'w')::bigint = ANY(:live), false) "
             "       AND (meta -> :c ->> 't')::float8 < :before) "
             "      OR (meta -> :c ->> 't')::float8 < extract(epoch FROM now()) - :lease) "
             "ORDER BY id FOR UPDATE"),
        {"t": job["table_id"], "c": job["column_id"], "j": job["id"], "live": list(live_workers),
         "lease": lease_s, "before": claimed_before},
    )
    cells = [(rid, dict(m)) for rid, m in res.all()]
    if not cells:
        return 0, []
    metas, again, failed = {}, [], 0
    for rid, m in cells:
        if int(m.get("a", 0)) >= MAX_ATTEMPTS:
            metas[rid] = strip(m, *WORKING_KEYS) | {"s": "error", "e": _dead_message(int(m["a"]))}
            failed += 1
        else:
            metas[rid] = strip(m, "c", "w", "t") | {"s": "pending", "n": 0}
            again.append(rid)
    await set_cells(conn, job["table_id"], job["column_id"], metas)
    await enqueue(conn, outbox_rows(job["id"], again))
    return len(cells), await settle(conn, {job["id"]: Delta(failed=failed)})


_UNSENT = text("SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL AND payload ->> 'job' = :j)")


async def requeue_stalled(conn: AsyncConnection, job: Mapping[str, Any], kind: str = FILL
                          ) -> tuple[int, list[dict[str, Any]]]:
    """A job that made no progress for a while: send its queued cells again as messages of `kind` (their
    messages may have been lost with a broker or a worker). With nothing left queued or computing, it completes; when its
    column was deleted or lost its prompt, it is cancelled."""
    still_ai = (await conn.execute(text("SELECT ai IS NOT NULL FROM columns WHERE id = CAST(:c AS uuid)"),
                                   {"c": job["column_id"]})).scalar_one_or_none()
    if not still_ai:
        if still_ai is not None:
            await update_job_cells(conn, job, f"jsonb_build_object('s', {RESTORE})")
        ended = await conn.execute(
            text("UPDATE jobs SET status = 'cancelled', error = :m, finished_at = now(), updated_at = now() "
                 f"WHERE id = :j AND status IN ('queued', 'running') RETURNING {JOB_FIELDS}"),
            {"j": job["id"], "m": "The column was deleted or is no longer an AI column"})
        return 0, [jsonable(m) for m in ended.mappings()]
    if (await conn.execute(_UNSENT, {"j": str(job["id"])})).scalar_one():
        # its messages wait in the outbox (for their turn, or for the broker): they were not lost
        await conn.execute(text("UPDATE jobs SET updated_at = now() WHERE id = :j"), {"j": job["id"]})
        return 0, []
    res = await conn.execute(
        text("SELECT id, meta -> :c ->> 's' AS s, coalesce((meta -> :c ->> 'n')::float8, 0) AS nb "
             "FROM records WHERE table_id = :t AND meta -> :c ->> 'j' = :j"),
        {"t": job["table_id"], "c": job["column_id"], "j": job["id"]},
    )
    cells = res.all()
    if not cells:
        done = await conn.execute(
            text("UPDATE jobs SET total = done + failed, status = 'completed', finished_at = now(), "
                 "updated_at = now() WHERE id = :j AND status IN ('queued', 'running') "
                 f"RETURNING {JOB_FIELDS}"), {"j": job["id"]})
        return 0, [jsonable(m) for m in done.mappings()]
    now = time.time()
    by_delay: dict[int, list[int]] = {}
    for rid, status, nb in cells:
        if status == "pending":
            by_delay.setdefault(max(0, int((nb - now) * 1000)), []).append(rid)
    await enqueue(conn, [m for delay, ids in by_delay.items() for m in outbox_rows(job["id"], ids, delay)], kind)
    await conn.execute(text("UPDATE jobs SET updated_at = now() WHERE id = :j"), {"j": job["id"]})
    return sum(len(v) for v in by_delay.values()), []


async def release_ended(conn: AsyncConnection, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cells still held by a job that has ended (sent back to its queue while it was being stopped):
    those of a stopped job fail with its reason, the others go back to what they were."""
    if job["status"] == "stopped":
        failed = await update_job_cells(conn, job, "jsonb_build_object('s', 'error', 'e', CAST(:m AS text))",
                                         only_pending=True, m=job.get("error") or "The fill was stopped")
        return await settle(conn, {job["id"]: Delta(failed=failed)})
    await update_job_cells(conn, job, f"jsonb_build_object('s', {RESTORE})", only_pending=True)
    return []
