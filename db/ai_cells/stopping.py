"""Ending a job early: cancelled by a person, or stopped by a worker (the cost cap, a dead key)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells.cell_state import RESTORE, update_job_cells
from db.ai_cells.job_rows import ACTIVE, Delta, get_job, settle


async def cancel_job(conn: AsyncConnection, job_id: Any) -> dict[str, Any]:
    """Stop a job: its queued and computing cells go back to what they were (results in flight are
    dropped). A finished job is returned unchanged."""
    job = await get_job(conn, job_id)
    if job["status"] not in ACTIVE:
        return job
    await update_job_cells(conn, job, f"jsonb_build_object('s', {RESTORE})")
    await conn.execute(text("UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now() "
                            "WHERE id = :j AND status IN ('queued', 'running')"), {"j": job["id"]})
    return await get_job(conn, job["id"])


async def stop_job(conn: AsyncConnection, job_id: str, message: str) -> list[dict[str, Any]]:
    """End a job early with `message` (the cost cap, a dead key): its queued cells fail with that
    message; cells being computed still land. Returns the job (empty when it had already ended).

    Two workers may stop a job at once, and cells may go back to its queue in between (a retry written
    as it stopped): whoever fails cells counts them, even when the other one ended the job."""
    job = await get_job(conn, job_id)
    if job["status"] not in ACTIVE:
        return []
    failed = await update_job_cells(conn, job, "jsonb_build_object('s', 'error', 'e', CAST(:m AS text))",
                                     only_pending=True, m=message)
    res = await conn.execute(
        text("UPDATE jobs SET status = 'stopped', error = :m, finished_at = now(), updated_at = now() "
             "WHERE id = :j AND status IN ('queued', 'running')"), {"j": job_id, "m": message})
    if res.rowcount == 0 and not failed:
        return []
    return await settle(conn, {job_id: Delta(failed=failed)})
