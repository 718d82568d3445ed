"""The workers' side: claiming queued cells, writing what came back (and counting it on the jobs), and
auditing the calls."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells.cell_state import MAX_ATTEMPTS
from db.ai_cells.job_rows import JOB_FIELDS
from db.ai_cells.outbox import outbox_rows


@dataclass
class Claimed:
    """A cell a worker now computes: its row, the attempt this is (1-based) and the input values."""

    id: int
    attempt: int
    inputs: dict[str, Any]


@dataclass
class Outcome:
    """What a worker makes of a claimed cell. kind: `ok` (value), `error` (final), `retry` (back to the
    queue at `not_before`), `again` (this worker tries once more at once, one attempt more)."""

    id: int
    claim: str
    kind: str
    value: Any = None
    error: str | None = None
    not_before: float | None = None


@dataclass
class Written:
    """What a write did: rows by what happened to them (kinds, plus `changed` when the inputs moved
    meanwhile and `lost` when the claim was no longer ours), and the jobs' counts afterwards."""

    kinds: dict[int, str] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)


_CLAIM = text(
    "WITH claimed AS ("
    " UPDATE records r SET updated_at = now(), meta = jsonb_set(r.meta, ARRAY[:c], (r.meta -> :c) "
    "  || jsonb_build_object('s', 'computing', 'c', CAST(:claim AS text), 'w', CAST(:w AS bigint), "
    "     't', extract(epoch FROM clock_timestamp()), "
    "     'a', coalesce((r.meta -> :c ->> 'a')::int, 0) + 1, "
    "     'h', tc_input_hash(r.data, CAST(:deps AS text[])))) "
    " WHERE r.table_id = :t AND r.id = ANY(:ids) AND r.meta -> :c ->> 'j' = :job "
    "  AND r.meta -> :c ->> 's' = 'pending' AND coalesce((r.meta -> :c ->> 'a')::int, 0) < :max "
    "  AND EXISTS (SELECT 1 FROM jobs WHERE id = CAST(:job AS uuid) AND status IN ('queued', 'running')) "
    "  AND coalesce((r.meta -> :c ->> 'n')::float8, 0) <= extract(epoch FROM clock_timestamp()) + 0.2 "
    " RETURNING r.id, (r.meta -> :c ->> 'a')::int AS attempt, "
    "  (SELECT coalesce(jsonb_object_agg(d, r.data -> d), '{}') FROM unnest(CAST(:deps AS text[])) AS d) AS inputs"
    "), running AS ("  # skipped when a writer holds the job's row: its count update makes the job running
    " UPDATE jobs SET status = 'running', updated_at = now() WHERE id = (SELECT id FROM jobs "
    "  WHERE id = CAST(:job AS uuid) AND status = 'queued' AND EXISTS (SELECT 1 FROM claimed) FOR UPDATE SKIP LOCKED)"
    ") SELECT id, attempt, inputs FROM claimed"
)


async def claim(
    conn: AsyncConnection, *, job_id: str, table_id: Any, column_id: str, deps: Sequence[str],
    record_ids: Sequence[int], claim_id: str, worker: int,
) -> list[Claimed]:
    """Take the job's queued cells among `record_ids` in one statement (a conditional UPDATE); returns
    what was taken with the values of its inputs. Cells already taken, finished, or waiting for their
    time are skipped."""
    res = await conn.execute(
        _CLAIM,
        {"t": table_id, "c": column_id, "ids": list(record_ids), "job": job_id, "claim": claim_id,
         "w": worker, "deps": list(deps), "max": MAX_ATTEMPTS},
    )
    taken = [Claimed(id=m["id"], attempt=m["attempt"], inputs=m["inputs"] or {}) for m in res.mappings()]
    return sorted(taken, key=lambda c: c.id)


_WRITE_SQL = """
WITH u AS (
  SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS x(id bigint, claim text, kind text, val jsonb, err text, nb float8)
), cur AS (
  SELECT r.id, r.meta -> :c AS m, tc_input_hash(r.data, CAST(:deps AS text[])) = (r.meta -> :c ->> 'h') AS same
  FROM records r JOIN u ON u.id = r.id
  WHERE r.table_id = :t AND r.meta -> :c ->> 's' = 'computing' AND r.meta -> :c ->> 'c' = u.claim
  ORDER BY r.id FOR UPDATE OF r
), res AS (
  -- a cell headed back to the queue of a job that has ended: it fails with the job (stopped) or
  -- goes back to what it was (cancelled)
  SELECT u.id, cur.m, u.val, u.nb,
    CASE WHEN k.kind NOT IN ('retry', 'changed', 'again') OR jb.status IN ('queued', 'running') THEN k.kind
         WHEN jb.status = 'stopped' THEN 'error' ELSE 'dropped' END AS kind,
    CASE WHEN k.kind IN ('retry', 'changed', 'again') AND jb.status = 'stopped'
         THEN coalesce(jb.error, 'The fill was stopped') ELSE u.err END AS err
  FROM u JOIN cur ON cur.id = u.id
  CROSS JOIN LATERAL (SELECT CASE WHEN cur.same THEN u.kind ELSE 'changed' END AS kind) k
  LEFT JOIN jobs jb ON jb.id = (cur.m ->> 'j')::uuid
), upd AS (
UPDATE records r SET updated_at = now(),
  data = CASE WHEN res.kind <> 'ok' THEN r.data
              WHEN res.val IS NULL OR jsonb_typeof(res.val) = 'null' THEN r.data - :c
              ELSE jsonb_set(r.data, ARRAY[:c], res.val) END,
  meta = jsonb_set(r.meta, ARRAY[:c], CASE res.kind
    WHEN 'ok' THEN jsonb_build_object('v', coalesce((res.m ->> 'v')::int, 0) + 1, 's', 'completed',
                                      'h', res.m -> 'h')
    WHEN 'error' THEN jsonb_strip_nulls(jsonb_build_object('v', res.m -> 'v', 's', 'error', 'e', res.err,
                                                           'h', res.m -> 'h'))
    WHEN 'again' THEN res.m || jsonb_build_object('a', coalesce((res.m ->> 'a')::int, 0) + 1)
    WHEN 'changed' THEN (res.m - 'c' - 'w' - 't') || jsonb_build_object('s', 'pending', 'a', 0, 'n', 0)
    WHEN 'dropped' THEN (res.m - 'j' - 'a' - 'n' - 'ps' - 'c' - 'w' - 't') || jsonb_build_object('s',
      CASE WHEN res.m ->> 'ps' IN ('completed', 'error', 'stale') THEN res.m ->> 'ps' ELSE 'idle' END)
    ELSE (res.m - 'c' - 'w' - 't') || jsonb_build_object('s', 'pending', 'n', res.nb) END)
FROM res WHERE r.id = res.id
RETURNING r.id, res.kind, res.m ->> 'j' AS job
), spent AS (
  SELECT * FROM jsonb_to_recordset(CAST(:costs AS jsonb)) AS x(job text, dc numeric)
), delta AS (
  SELECT job, sum(dd) AS dd, sum(df) AS df, sum(dc) AS dc FROM (
    SELECT job, count(*) FILTER (WHERE kind = 'ok') AS dd, count(*) FILTER (WHERE kind = 'error') AS df,
           0::numeric AS dc FROM upd WHERE job IS NOT NULL GROUP BY job
    UNION ALL SELECT job, 0, 0, dc FROM spent) d
  GROUP BY job
), locked AS (  -- in id order: writers that settle several jobs at once must not deadlock each other
  SELECT j.id FROM jobs j JOIN delta x ON j.id = CAST(x.job AS uuid) ORDER BY j.id FOR UPDATE OF j
), settled AS (
  UPDATE jobs j SET done = j.done + x.dd, failed = j.failed + x.df, cost_usd = j.cost_usd + x.dc,
    updated_at = now(),
    status = CASE WHEN j.status IN ('queued', 'running') AND j.done + x.dd + j.failed + x.df >= j.total
                  THEN 'completed' WHEN j.status = 'queued' AND x.dd + x.df > 0 THEN 'running' ELSE j.status END,
    finished_at = CASE WHEN j.status IN ('queued', 'running') AND j.done + x.dd + j.failed + x.df >= j.total
                       THEN now() ELSE j.finished_at END
  FROM delta x, locked l WHERE j.id = CAST(x.job AS uuid) AND l.id = j.id
  RETURNING JOB_COLUMNS
)
SELECT (SELECT coalesce(jsonb_agg(jsonb_build_array(id, kind, job)), '[]') FROM upd) AS cells,
       (SELECT coalesce(jsonb_agg(to_jsonb(s)), '[]') FROM settled s) AS jobs
"""
_WRITE = text(_WRITE_SQL.replace("JOB_COLUMNS", ", ".join("j." + f.strip() for f in JOB_FIELDS.split(","))))


def job_of(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "finished_at"):
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    return out


async def write_results(
    conn: AsyncConnection, *, table_id: Any, column_id: str, deps: Sequence[str], outcomes: Sequence[Outcome],
    costs: Mapping[str, float] | None = None,
) -> tuple[dict[int, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Write one column's outcomes where the claim still holds and the inputs are unchanged (cells whose
    inputs changed meanwhile go back to the queue), and count them, with `costs`, on their jobs: one
    statement, so that in autocommit the table's feed lock is held for no round trip. Returns each row's
    fate, the jobs, and the messages that send the cells going back to the queue (for `enqueue`)."""
    rows = [{"id": o.id, "claim": o.claim, "kind": o.kind, "val": o.value, "err": o.error, "nb": o.not_before}
            for o in outcomes]
    spent = [{"job": str(j), "dc": c} for j, c in (costs or {}).items()]
    got = (await conn.execute(_WRITE, {"rows": json.dumps(rows), "t": table_id, "c": column_id,
                                        "deps": list(deps), "costs": json.dumps(spent)})).one()
    kinds: dict[int, str] = {o.id: "lost" for o in outcomes}
    requeue: dict[tuple[str, int], list[int]] = {}
    wanted = {o.id: o for o in outcomes}
    now = time.time()
    for rid, kind, job in got.cells:
        kinds[rid] = kind
        if kind in ("retry", "changed"):
            nb = wanted[rid].not_before if kind == "retry" else None
            delay = max(0, int(((nb or now) - now) * 1000))
            requeue.setdefault((job, delay), []).append(rid)
    messages = [m for (job, delay), ids in requeue.items() for m in outbox_rows(job, ids, delay)]
    return kinds, [job_of(j) for j in got.jobs], messages


_RUNS = text(
    "INSERT INTO ai_runs (workspace_id, table_id, column_id, job_id, record_ids, model, prompt_hash, "
    " input_hash, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, "
    " cost_usd, success, error, request, answer) "
    "SELECT x.workspace_id, x.table_id, x.column_id, x.job_id, x.record_ids, x.model, x.prompt_hash, "
    " x.input_hash, x.input_tokens, x.output_tokens, x.cache_read_tokens, x.cache_write_tokens, "
    " x.latency_ms, x.cost_usd, x.success, x.error, x.request, x.answer "
    "FROM jsonb_to_recordset(CAST(:runs AS jsonb)) AS x(workspace_id uuid, table_id uuid, column_id uuid, "
    " job_id uuid, record_ids jsonb, model text, prompt_hash text, input_hash text, input_tokens int, "
    " output_tokens int, cache_read_tokens int, cache_write_tokens int, latency_ms float8, "
    " cost_usd numeric, success boolean, error text, request text, answer text)"
)


async def record_runs(conn: AsyncConnection, runs: Sequence[Mapping[str, Any]]) -> None:
    """Audit LLM calls (one row each: model, hashes, tokens, latency, cost, success, error)."""
    if not runs:
        return
    await conn.execute(_RUNS, {"runs": json.dumps(list(runs), default=str)})
