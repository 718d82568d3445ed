"""Job rows: reading one, the active and the recently ended ones, and settling their counts (a job
completes when done + failed reaches its total)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import NotFound
from db.tables import as_uuid

ACTIVE = ("queued", "running")


@dataclass
class Delta:
    """A change to one job's counts."""

    total: int = 0
    done: int = 0
    failed: int = 0
    cost: float = 0.0


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key, value in out.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif key == "cost_usd" and value is not None:
            out[key] = float(value)
    return out


JOB_FIELDS = ("id, workspace_id, table_id, column_id, status, total, done, failed, cost_usd, error, reason, "
              "scope, created_at, finished_at, mode")


async def settle(conn: AsyncConnection, deltas: Mapping[str, Delta]) -> list[dict[str, Any]]:
    """Apply count changes to jobs; a job whose cells are all done or failed completes. Returns the jobs."""
    rows = [{"id": str(j), "dt": d.total, "dd": d.done, "df": d.failed, "dc": d.cost}
            for j, d in sorted(deltas.items()) if (d.total, d.done, d.failed, d.cost) != (0, 0, 0, 0.0)]
    if not rows:
        return []
    # lock in id order: writers that settle several jobs at once must not deadlock each other
    await conn.execute(_LOCK_JOBS, {"ids": [r["id"] for r in rows]})
    res = await conn.execute(_SETTLE, {"rows": json.dumps(rows)})
    return [jsonable(m) for m in res.mappings()]


_LOCK_JOBS = text("SELECT 1 FROM jobs WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR UPDATE")
_SETTLE = text(
    "UPDATE jobs j SET "
    " total = j.total + CASE WHEN j.status IN ('queued', 'running') THEN x.dt ELSE 0 END, "
    " done = j.done + x.dd, failed = j.failed + x.df, cost_usd = j.cost_usd + x.dc, updated_at = now(), "
    " status = CASE WHEN j.status IN ('queued', 'running') "
    "   AND j.done + x.dd + j.failed + x.df >= j.total + x.dt THEN 'completed' "
    "   WHEN j.status = 'queued' AND x.dd + x.df > 0 THEN 'running' ELSE j.status END, "
    " finished_at = CASE WHEN j.status IN ('queued', 'running') "
    "   AND j.done + x.dd + j.failed + x.df >= j.total + x.dt THEN now() ELSE j.finished_at END "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id uuid, dt int, dd int, df int, dc numeric) "
    f"WHERE j.id = x.id RETURNING {', '.join('j.' + f.strip() for f in JOB_FIELDS.split(','))}"
)


_GET_JOB = text(f"SELECT {JOB_FIELDS} FROM jobs WHERE id = :j")


async def get_job(conn: AsyncConnection, job_id: Any) -> dict[str, Any]:
    jid = as_uuid(job_id, "job")
    row = (await conn.execute(_GET_JOB, {"j": jid})).mappings().first()
    if row is None:
        raise NotFound(f"No job {job_id}", job_id=str(job_id))
    return jsonable(row)


async def active_jobs(conn: AsyncConnection) -> list[dict[str, Any]]:
    res = await conn.execute(text(
        "SELECT id::text AS id, table_id, column_id::text AS column_id, status, mode, "
        " extract(epoch FROM now() - updated_at) AS idle_s FROM jobs WHERE status IN ('queued', 'running') "
        "ORDER BY created_at"))
    return [dict(m) for m in res.mappings()]


async def ended_jobs(conn: AsyncConnection, within_s: float) -> list[dict[str, Any]]:
    """Jobs that ended in the last `within_s` seconds."""
    res = await conn.execute(text(
        "SELECT id::text AS id, table_id, column_id::text AS column_id, status, error, mode FROM jobs "
        "WHERE status NOT IN ('queued', 'running') AND finished_at > now() - make_interval(secs => :s)"),
        {"s": within_s})
    return [dict(m) for m in res.mappings()]


async def running_in_thread(conn: AsyncConnection, thread_id: str) -> list[str]:
    """The jobs a conversation started that are still queued or running, oldest first."""
    found = await conn.execute(text("SELECT id FROM jobs WHERE thread_id = :th AND status IN ('queued', 'running') "
                                    "ORDER BY created_at"), {"th": thread_id})
    return [str(r.id) for r in found]
