"""Preview jobs: the workers compute an AI column's values for some rows and keep them as the job's
results (`job_results`) instead of writing cells, so they can be proposed for review. Plain async
functions; the caller owns the transaction.

A preview job is a row of `jobs` with `mode = 'preview'` and the column it computes in `spec` (it may not
exist yet). Each of its rows has a result row with the working state a cell has in a fill: `pending`
(waiting for `not_before`), `computing` (claimed: claim, worker, claim time, the input hash it reads),
then `done` (value; null when the model found none) or `error` (why). The same rules hold as for
fills: a row is claimed with one conditional UPDATE, so a redelivered message finds nothing to do; at
most 3 attempts; a result whose row's inputs changed meanwhile is computed again; the sweeper gives
back rows of dead workers. The table's cells never change.

Long because it is the whole life of a preview's result rows: one state machine, read in one place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ai_cells
from db.ai_cells import ACTIVE, MAX_ATTEMPTS, Claimed, Delta, Outcome
from db.ai_cells.outbox import PREVIEW, enqueue, outbox_rows
from db.errors import NotFound
from db.schemas import ColumnPublic, TablePublic
from db.tables import as_uuid

MODE = "preview"


@dataclass(frozen=True)
class Result:
    """One row of a preview: `done` with its value (None: the model found none) or `error` with why;
    `pending` / `computing` while unfinished."""

    record_id: int
    status: str
    value: Any = None
    error: str | None = None


# -- starting --------------------------------------------------------------------------------------
async def start_preview(conn: AsyncConnection, table: TablePublic, column: ColumnPublic, record_ids: Sequence[int],
                        *, scope: Any = "all", thread_id: str | None = None) -> dict[str, Any]:
    """A preview job computing `column` (it needs `ai`; it may be a column that does not exist yet, with
    an id of its own) for `record_ids` of `table`: the job, its result rows and its messages, in the
    caller's transaction. Returns the job."""
    if column.ai is None:
        raise ValueError("a preview computes an AI column: the column needs `ai`")
    ids = sorted(set(record_ids))
    row = await conn.execute(
        text("INSERT INTO jobs (workspace_id, table_id, column_id, thread_id, scope, reason, mode, spec, total, "
             " status, finished_at) "
             "VALUES (:w, :t, :c, :th, CAST(:s AS jsonb), 'preview', 'preview', CAST(:spec AS jsonb), :n, "
             " CASE WHEN :n = 0 THEN 'completed' ELSE 'queued' END, CASE WHEN :n = 0 THEN now() END) "
             "RETURNING id"),
        {"w": table.workspace_id, "t": table.id, "c": column.id, "th": thread_id, "s": json.dumps(scope),
         "spec": column.model_dump_json(), "n": len(ids)},
    )
    job_id = str(row.scalar_one())
    if ids:
        await conn.execute(text("INSERT INTO job_results (job_id, record_id, workspace_id) "
                                "SELECT :j, r, :w FROM unnest(CAST(:ids AS bigint[])) AS r"),
                           {"j": job_id, "w": table.workspace_id, "ids": ids})
        await enqueue(conn, outbox_rows(job_id, ids), PREVIEW)
    return await ai_cells.get_job(conn, job_id)


async def get_preview(conn: AsyncConnection, job_id: Any) -> tuple[dict[str, Any], ColumnPublic]:
    """A preview job and the column it computes; NotFound when there is no such preview."""
    jid = as_uuid(job_id, "job")
    spec = (await conn.execute(text("SELECT spec FROM jobs WHERE id = :j AND mode = 'preview'"),
                               {"j": jid})).scalar_one_or_none()
    if spec is None:
        raise NotFound(f"No preview job {job_id}", job_id=str(job_id))
    return await ai_cells.get_job(conn, jid), ColumnPublic.model_validate(spec)


async def results(conn: AsyncConnection, job_id: Any) -> list[Result]:
    """Every row of a preview, in row order."""
    res = await conn.execute(text("SELECT record_id, status, value, error FROM job_results WHERE job_id = :j "
                                  "ORDER BY record_id"), {"j": as_uuid(job_id, "job")})
    return [Result(rid, status, value, error) for rid, status, value, error in res.all()]


async def models_used(conn: AsyncConnection, job_id: Any) -> list[str]:
    """The models the workers called for a job (from its audit rows)."""
    res = await conn.execute(text("SELECT DISTINCT model FROM ai_runs WHERE job_id = :j ORDER BY model"),
                             {"j": as_uuid(job_id, "job")})
    return list(res.scalars().all())


# -- workers -----------------------------------------------------------------------------------------
_CLAIM = text(
    "WITH claimed AS ("
    " UPDATE job_results x SET status = 'computing', claim = :claim, worker = :w, "
    "  claimed_at = extract(epoch FROM clock_timestamp()), attempts = x.attempts + 1, "
    "  input_hash = tc_input_hash(r.data, CAST(:deps AS text[])), updated_at = now() "
    " FROM records r "
    " WHERE x.job_id = CAST(:job AS uuid) AND x.record_id = ANY(:ids) AND x.status = 'pending' "
    "  AND x.attempts < :max AND x.not_before <= extract(epoch FROM clock_timestamp()) + 0.2 "
    "  AND r.id = x.record_id AND r.table_id = :t "
    "  AND EXISTS (SELECT 1 FROM jobs WHERE id = CAST(:job AS uuid) AND status IN ('queued', 'running')) "
    " RETURNING x.record_id AS id, x.attempts AS attempt, "
    "  (SELECT coalesce(jsonb_object_agg(d, r.data -> d), '{}') FROM unnest(CAST(:deps AS text[])) AS d) AS inputs"
    "), running AS ("
    " UPDATE jobs SET status = 'running', updated_at = now() WHERE id = (SELECT id FROM jobs "
    "  WHERE id = CAST(:job AS uuid) AND status = 'queued' AND EXISTS (SELECT 1 FROM claimed) FOR UPDATE SKIP LOCKED)"
    ") SELECT id, attempt, inputs FROM claimed"
)


async def claim(conn: AsyncConnection, *, job_id: str, table_id: Any, deps: Sequence[str],
                record_ids: Sequence[int], claim_id: str, worker: int) -> list[Claimed]:
    """Take the preview's pending rows among `record_ids` in one conditional UPDATE, with the values of
    their inputs. Rows already taken, finished, or waiting for their time are skipped."""
    res = await conn.execute(_CLAIM, {"t": table_id, "ids": list(record_ids), "job": job_id, "claim": claim_id,
                                      "w": worker, "deps": list(deps), "max": MAX_ATTEMPTS})
    return sorted((Claimed(id=m["id"], attempt=m["attempt"], inputs=m["inputs"] or {}) for m in res.mappings()),
                  key=lambda c: c.id)


_WRITE = text("""
WITH u AS (
  SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS x(id bigint, claim text, kind text, val jsonb, err text, nb float8)
), cur AS (
  SELECT x.record_id AS id, r.id IS NULL AS gone,
         tc_input_hash(r.data, CAST(:deps AS text[])) IS NOT DISTINCT FROM x.input_hash AS same
  FROM job_results x JOIN u ON u.id = x.record_id AND u.claim = x.claim
  LEFT JOIN records r ON r.id = x.record_id AND r.table_id = :t
  WHERE x.job_id = CAST(:job AS uuid) AND x.status = 'computing'
  ORDER BY x.record_id FOR UPDATE OF x
), res AS (
  -- a row whose inputs changed is computed again; a row of a cancelled job goes back unfinished, one
  -- of a stopped job that would go back fails with the job's reason
  SELECT u.id, u.val, u.nb,
    CASE WHEN cur.gone THEN 'error'
         WHEN jb.status = 'cancelled' THEN 'dropped'
         WHEN k.kind IN ('retry', 'changed', 'again') AND jb.status = 'stopped' THEN 'error'
         ELSE k.kind END AS kind,
    CASE WHEN cur.gone THEN 'The row was deleted'
         WHEN k.kind IN ('retry', 'changed', 'again') AND jb.status = 'stopped'
         THEN coalesce(jb.error, 'The preview was stopped') ELSE u.err END AS err
  FROM u JOIN cur ON cur.id = u.id
  CROSS JOIN LATERAL (SELECT CASE WHEN cur.same THEN u.kind ELSE 'changed' END AS kind) k
  JOIN jobs jb ON jb.id = CAST(:job AS uuid)
)
UPDATE job_results x SET updated_at = now(),
  status = CASE res.kind WHEN 'ok' THEN 'done' WHEN 'error' THEN 'error' WHEN 'again' THEN 'computing'
           ELSE 'pending' END,
  value = CASE WHEN res.kind = 'ok' THEN res.val END,
  error = CASE WHEN res.kind = 'error' THEN res.err END,
  attempts = CASE WHEN res.kind = 'again' THEN x.attempts + 1 WHEN res.kind IN ('changed', 'dropped') THEN 0
             ELSE x.attempts END,
  not_before = CASE WHEN res.kind = 'retry' THEN coalesce(res.nb, 0) ELSE 0 END,
  claim = CASE WHEN res.kind = 'again' THEN x.claim END,
  worker = CASE WHEN res.kind = 'again' THEN x.worker END,
  claimed_at = CASE WHEN res.kind = 'again' THEN x.claimed_at END,
  input_hash = CASE WHEN res.kind IN ('changed', 'dropped') THEN NULL ELSE x.input_hash END
FROM res WHERE x.job_id = CAST(:job AS uuid) AND x.record_id = res.id
RETURNING x.record_id, res.kind, res.nb
""")


async def write_results(conn: AsyncConnection, *, job_id: str, table_id: Any, deps: Sequence[str],
                        outcomes: Sequence[Outcome], cost: float = 0.0) -> tuple[dict[int, str], list[dict[str, Any]]]:
    """Keep a preview's outcomes where the claim still holds (a row whose inputs changed meanwhile goes
    back to the queue), count them and `cost` on the job, and queue the rows that go back. Returns each
    row's fate (the outcome kinds, `changed`, `dropped`, or `lost` when the claim was no longer ours) and
    the job when its counts changed."""
    rows = [{"id": o.id, "claim": o.claim, "kind": o.kind, "val": o.value, "err": o.error, "nb": o.not_before}
            for o in outcomes]
    got = (await conn.execute(_WRITE, {"rows": json.dumps(rows), "job": job_id, "t": table_id,
                                        "deps": list(deps)})).all()
    kinds: dict[int, str] = {o.id: "lost" for o in outcomes}
    now = time.time()
    back: dict[int, list[int]] = {}
    for rid, kind, nb in got:
        kinds[rid] = kind
        if kind in ("retry", "changed"):
            delay = max(0, int(((nb if kind == "retry" and nb else now) - now) * 1000))
            back.setdefault(delay, []).append(rid)
    await enqueue(conn, [m for delay, ids in back.items() for m in outbox_rows(job_id, ids, delay)], PREVIEW)
    delta = Delta(done=sum(k == "ok" for k in kinds.values()), failed=sum(k == "error" for k in kinds.values()),
                  cost=cost)
    return kinds, await ai_cells.settle(conn, {job_id: delta})


async def cancel_job(conn: AsyncConnection, job_id: Any) -> dict[str, Any]:
    """Stop a preview: rows being computed go back to unfinished (results in flight are dropped); what
    was computed stays. A finished job is returned unchanged."""
    job = await ai_cells.get_job(conn, job_id)
    if job["status"] not in ACTIVE:
        return job
    await conn.execute(text("UPDATE job_results SET status = 'pending', claim = NULL, worker = NULL, "
                            "claimed_at = NULL, input_hash = NULL, updated_at = now() "
                            "WHERE job_id = CAST(:j AS uuid) AND status = 'computing'"), {"j": job["id"]})
    await conn.execute(text("UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now() "
                            "WHERE id = CAST(:j AS uuid) AND status IN ('queued', 'running')"), {"j": job["id"]})
    return await ai_cells.get_job(conn, job["id"])


async def stop_job(conn: AsyncConnection, job_id: str, message: str) -> list[dict[str, Any]]:
    """End a preview early with `message` (the cost cap, a dead key): its pending rows fail with that
    message; rows being computed still land. Returns the job (empty when it had already ended)."""
    # the job first: of workers stopping it at once, one wins and fails (and counts) the pending rows
    res = await conn.execute(text("UPDATE jobs SET status = 'stopped', error = :m, finished_at = now(), "
                                  "updated_at = now() WHERE id = CAST(:j AS uuid) AND status IN ('queued', 'running')"),
                             {"j": job_id, "m": message})
    if res.rowcount == 0:
        return []
    failed = (await conn.execute(text(
        "UPDATE job_results SET status = 'error', error = :m, updated_at = now() "
        "WHERE job_id = CAST(:j AS uuid) AND status = 'pending'"), {"j": job_id, "m": message})).rowcount
    return await ai_cells.settle(conn, {job_id: Delta(failed=failed)})


# -- sweeping ----------------------------------------------------------------------------------------
async def _lock_job(conn: AsyncConnection, job_id: str) -> None:
    """Take the job's row before its pending rows, in the order stop_job takes them."""
    await conn.execute(text("SELECT 1 FROM jobs WHERE id = CAST(:j AS uuid) FOR UPDATE"), {"j": job_id})


_DEAD = ("'The worker computing this row stopped before it finished (' || x.attempts || ' attempts)'")


async def recover_dead(conn: AsyncConnection, job: Mapping[str, Any], live_workers: Sequence[int],
                       lease_s: float, claimed_before: float) -> tuple[int, list[dict[str, Any]]]:
    """Rows claimed before `claimed_before` (epoch s) by workers that are gone, or claimed longer than
    `lease_s` ago, go back to the queue, or fail once they used all their attempts. Returns how many
    were recovered, and the job."""
    res = await conn.execute(
        text("WITH dead AS (SELECT record_id FROM job_results WHERE job_id = CAST(:j AS uuid) "
             " AND status = 'computing' AND ((NOT coalesce(worker = ANY(:live), false) AND claimed_at < :before) "
             "  OR claimed_at < extract(epoch FROM now()) - :lease) ORDER BY record_id FOR UPDATE) "
             "UPDATE job_results x SET updated_at = now(), claim = NULL, worker = NULL, claimed_at = NULL, "
             " not_before = 0, status = CASE WHEN x.attempts >= :max THEN 'error' ELSE 'pending' END, "
             f" error = CASE WHEN x.attempts >= :max THEN {_DEAD} END "
             "FROM dead WHERE x.job_id = CAST(:j AS uuid) AND x.record_id = dead.record_id "
             "RETURNING x.record_id, x.status"),
        {"j": job["id"], "live": list(live_workers), "lease": lease_s, "before": claimed_before,
         "max": MAX_ATTEMPTS},
    )
    rows = res.all()
    if not rows:
        return 0, []
    await enqueue(conn, outbox_rows(job["id"], [rid for rid, status in rows if status == "pending"]), PREVIEW)
    failed = sum(status == "error" for _, status in rows)
    return len(rows), await ai_cells.settle(conn, {job["id"]: Delta(failed=failed)})


async def requeue_stalled(conn: AsyncConnection, job: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """A preview that made no progress for a while: its pending rows are sent again (their messages may
    have been lost with a broker or a worker), those whose row was deleted fail. With nothing left
    pending or computing, it completes."""
    await _lock_job(conn, job["id"])
    gone = (await conn.execute(text(
        "UPDATE job_results x SET status = 'error', error = 'The row was deleted', updated_at = now() "
        "WHERE x.job_id = CAST(:j AS uuid) AND x.status = 'pending' "
        " AND NOT EXISTS (SELECT 1 FROM records r WHERE r.id = x.record_id)"), {"j": job["id"]})).rowcount
    ended = await ai_cells.settle(conn, {job["id"]: Delta(failed=gone)})
    if any(j["status"] not in ACTIVE for j in ended):
        return 0, ended
    cells = (await conn.execute(text("SELECT record_id, status, not_before FROM job_results "
                                     "WHERE job_id = CAST(:j AS uuid) AND status IN ('pending', 'computing')"),
                                {"j": job["id"]})).all()
    if not cells:
        done = await conn.execute(
            text("UPDATE jobs SET total = done + failed, status = 'completed', finished_at = now(), "
                 "updated_at = now() WHERE id = CAST(:j AS uuid) AND status IN ('queued', 'running')"),
            {"j": job["id"]})
        return 0, [await ai_cells.get_job(conn, job["id"])] if done.rowcount else []
    now = time.time()
    by_delay: dict[int, list[int]] = {}
    for rid, status, nb in cells:
        if status == "pending":
            by_delay.setdefault(max(0, int((nb - now) * 1000)), []).append(rid)
    await enqueue(conn, [m for delay, ids in by_delay.items() for m in outbox_rows(job["id"], ids, delay)], PREVIEW)
    await conn.execute(text("UPDATE jobs SET updated_at = now() WHERE id = CAST(:j AS uuid)"), {"j": job["id"]})
    return sum(len(v) for v in by_delay.values()), ended


async def release_ended(conn: AsyncConnection, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of a stopped preview still pending (sent back while it was being stopped) fail with its
    reason; rows of a cancelled one still marked computing (claimed as it was cancelled) go back to
    unfinished."""
    if job["status"] == "cancelled":
        await conn.execute(text("UPDATE job_results SET status = 'pending', claim = NULL, worker = NULL, "
                                "claimed_at = NULL, input_hash = NULL, updated_at = now() "
                                "WHERE job_id = CAST(:j AS uuid) AND status = 'computing'"), {"j": job["id"]})
    if job["status"] != "stopped":
        return []
    await _lock_job(conn, job["id"])
    failed = (await conn.execute(text(
        "UPDATE job_results SET status = 'error', error = :m, updated_at = now() "
        "WHERE job_id = CAST(:j AS uuid) AND status = 'pending'"),
        {"j": job["id"], "m": job.get("error") or "The preview was stopped"})).rowcount
    return await ai_cells.settle(conn, {job["id"]: Delta(failed=failed)})
