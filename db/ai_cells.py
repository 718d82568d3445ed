"""The life of AI cells: queued by fill jobs, claimed by workers, written once, marked stale when their
inputs change. Plain async functions; the caller owns the transaction.

A cell's state is `records.meta[column_id]` (see db/models.Record): `v` version, `s` status, `e` error,
`p` pinned. While a job owns the cell it also holds `j` job id, `a` attempts used, `n` not-before (epoch
seconds: backoff and debounce) and `ps` the status before the job; while a worker computes it, `c` the
claim, `w` the worker's key and `t` the claim time. `h` is the hash of the inputs (`tc_input_hash`) the
value was, or is being, computed from. A job counts `total`, `done`, `failed`; it completes when
done + failed reaches total, and a cell that leaves a job early (edited by hand, taken over) lowers
its total.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Invalid, NotFound
from db.schemas import ColumnPublic, TablePublic
from db.tables import as_uuid, get_table

QUEUE = "cells"
FILL_ACTOR = "fill_rows"
MAX_ATTEMPTS = 3
ACTIVE = ("queued", "running")
SCOPES = ("all", "empty", "failed", "stale")
MAX_SCOPE_IDS = 100_000
PLACEHOLDER = re.compile(r"\{([^{}\n]{1,200})\}")
WORKING_KEYS = ("j", "a", "n", "ps", "c", "w", "t")


class CellSettings(BaseSettings):
    """Knobs of the queueing side (the workers have theirs in worker.settings)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    debounce_s: float = Field(default=1.0, ge=0, le=60, alias="TABLECHAT_AUTO_UPDATE_DEBOUNCE_S")
    calls_per_message: int = Field(default=8, ge=1, le=100, alias="TABLECHAT_CALLS_PER_MESSAGE")


def cell_settings() -> CellSettings:
    return CellSettings()


def rows_per_message() -> int:
    from core.settings import get_settings

    return get_settings().rows_per_call * cell_settings().calls_per_message


@dataclass
class Delta:
    """A change to one job's counts."""

    total: int = 0
    done: int = 0
    failed: int = 0
    cost: float = 0.0


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


# -- columns ---------------------------------------------------------------------------------------
def dependencies(table: TablePublic, column: ColumnPublic) -> list[ColumnPublic]:
    """The columns an AI column reads: its `depends_on`, then every {Name} of its prompt, once each."""
    ai = column.ai or {}
    by_name = {c.name.casefold(): c for c in table.columns}
    names = list(ai.get("depends_on") or []) + PLACEHOLDER.findall(ai.get("prompt") or "")
    out: list[ColumnPublic] = []
    for name in names:
        col = by_name.get(name.strip().casefold())
        if col is not None and col.id != column.id and col not in out:
            out.append(col)
    return out


def dependents(table: TablePublic, column_ids: Iterable[str]) -> list[ColumnPublic]:
    """The AI columns that read any of `column_ids`."""
    changed = {str(c) for c in column_ids}
    return [c for c in table.columns if c.ai is not None and str(c.id) not in changed
            and any(str(d.id) in changed for d in dependencies(table, c))]


def ai_column(table: TablePublic, column_id: Any) -> ColumnPublic:
    """The AI column `column_id` (an id or a name) of `table`; NotFound / Invalid otherwise."""
    key = str(column_id)
    col = next((c for c in table.columns if str(c.id) == key or c.name.casefold() == key.casefold()), None)
    if col is None:
        raise NotFound(f"No column {key!r} in this table", column_id=key[:80])
    if col.ai is None:
        raise Invalid(f'Column "{col.name}" is not an AI column: it has no prompt to fill it from',
                      column=col.name)
    return col


# -- jobs --------------------------------------------------------------------------------------------
def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
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
    return [_jsonable(m) for m in res.mappings()]


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
    return _jsonable(row)


@dataclass(frozen=True)
class NewRows:
    """The scope of the fill that queues freshly inserted rows: any number of them (an import of 100,000
    rows is one job), recorded on the job as a count, not as the list of ids."""

    ids: Sequence[int]

    def stored(self) -> dict[str, int]:
        return {"new_rows": len(self.ids)}


def _scope_sql(scope: Any) -> tuple[str, dict[str, Any], bool]:
    """SQL condition on `r` for a scope, its parameters, and whether it names rows explicitly."""
    if isinstance(scope, NewRows):  # hand-set cells of new rows are pinned: they stay as given
        return "r.id = ANY(:scope_ids)", {"scope_ids": list(scope.ids)}, False
    if isinstance(scope, str):
        if scope == "all":
            return "true", {}, False
        if scope == "empty":
            return "(r.data -> :c IS NULL OR r.data -> :c IN ('null', '\"\"', '[]'))", {}, False
        if scope == "failed":
            return "r.meta -> :c ->> 's' = 'error'", {}, False
        if scope == "stale":
            return "r.meta -> :c ->> 's' = 'stale'", {}, False
        if scope == "pending":  # cells queued without a job: new rows
            return "r.meta -> :c ->> 's' = 'pending'", {}, False
    if isinstance(scope, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in scope):
        if len(scope) > MAX_SCOPE_IDS:
            raise Invalid(f"A fill names at most {MAX_SCOPE_IDS} rows", rows=len(scope))
        return "r.id = ANY(:scope_ids)", {"scope_ids": list(scope)}, True
    raise Invalid('scope is "all", "empty", "failed", "stale" or a list of row ids', scope=str(scope)[:80])


def _outbox_rows(job_id: str, ids: Sequence[int], delay_ms: int = 0) -> list[dict[str, Any]]:
    chunk = rows_per_message()
    ids = sorted(ids)
    return [{"job": job_id, "rows": ids[i: i + chunk], "delay_ms": delay_ms} for i in range(0, len(ids), chunk)]


async def enqueue(conn: AsyncConnection, messages: Sequence[Mapping[str, Any]]) -> None:
    """Write fill messages to the outbox (relayed to the broker after commit)."""
    if not messages:
        return
    await conn.execute(_ENQUEUE, {"q": QUEUE, "a": FILL_ACTOR, "m": json.dumps(list(messages))})


_ENQUEUE = text("INSERT INTO outbox (queue, actor, payload) "
                "SELECT :q, :a, e FROM jsonb_array_elements(CAST(:m AS jsonb)) AS e")


_ASSIGN = """
WITH cand AS (
  SELECT r.id, coalesce(r.meta -> :c, '{{}}'::jsonb) AS m FROM records r
  WHERE r.table_id = :t AND ({scope})
    AND (CAST(:pinned AS boolean) OR NOT coalesce((r.meta -> :c ->> 'p')::boolean, false))
    AND coalesce(r.meta -> :c ->> 's', 'idle') <> 'computing'
    AND NOT (r.meta -> :c ? 'j' AND EXISTS (
      SELECT 1 FROM jobs o WHERE o.id = (r.meta -> :c ->> 'j')::uuid AND o.status IN ('queued', 'running')))
  ORDER BY r.id FOR UPDATE OF r
), upd AS (
  UPDATE records r SET updated_at = now(), meta = jsonb_set(r.meta, ARRAY[:c],
    (cand.m - 'c' - 'w' - 't' - 'e' - 'p' - 'j' - 'a' - 'n')
    || jsonb_build_object('s', 'pending', 'j', CAST(:job AS text), 'a', 0, 'ps', coalesce(cand.m ->> 's', 'idle')))
  FROM cand WHERE r.id = cand.id RETURNING r.id
)
SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM upd
"""


async def start_fill(
    conn: AsyncConnection, table: Any, column_id: Any, scope: Any = "all", *, reason: str = "fill",
    thread_id: str | None = None, include_pinned: bool | None = None,
) -> dict[str, Any]:
    """Queue an AI column's cells in `scope` as one job: cells pending, job row and outbox messages in
    the caller's transaction. Cells edited by hand are left alone unless the scope names their rows;
    cells already queued or computing stay with their job. Returns the job."""
    table = table if isinstance(table, TablePublic) else await get_table(conn, table)
    col = ai_column(table, column_id)
    cond, params, explicit = _scope_sql(scope)
    row = await conn.execute(
        text("INSERT INTO jobs (workspace_id, table_id, column_id, thread_id, scope, reason) "
             "VALUES (:w, :t, :c, :th, CAST(:s AS jsonb), :r) RETURNING id"),
        {"w": table.workspace_id, "t": table.id, "c": col.id, "th": thread_id,
         "s": json.dumps(scope.stored() if isinstance(scope, NewRows) else scope), "r": reason},
    )
    job_id = str(row.scalar_one())
    ids = (await conn.execute(
        text(_ASSIGN.format(scope=cond)),
        {"t": table.id, "c": str(col.id), "job": job_id,
         "pinned": explicit if include_pinned is None else include_pinned, **params},
    )).scalar_one()
    await enqueue(conn, _outbox_rows(job_id, ids))
    await conn.execute(
        text("UPDATE jobs SET total = :n, status = CASE WHEN :n = 0 THEN 'completed' ELSE status END, "
             "finished_at = CASE WHEN :n = 0 THEN now() END WHERE id = :j"),
        {"n": len(ids), "j": job_id},
    )
    return await get_job(conn, job_id)


async def fill_new_rows(conn: AsyncConnection, table: TablePublic, record_ids: Sequence[int], *,
                        thread_id: str | None = None) -> list[str]:
    """Queue the AI cells of freshly inserted rows: one job per AI column over all of them, in the caller's
    transaction (the outbox hands it to the workers after commit). Cells given a value are pinned and
    stay as given; a column with nothing to queue gets no job. An AI column that reads another is queued
    alongside it: computed before the value it reads lands, it turns stale then (and with auto_update
    is recomputed), as after any change of its inputs. Returns the job ids."""
    columns = [c for c in table.columns if c.ai is not None]
    if not record_ids or not columns:
        return []
    waiting = set((await conn.execute(_WAITING, {"t": table.id, "ids": list(record_ids),
                                                  "cols": [str(c.id) for c in columns]})).scalars())
    jobs = []
    for col in columns:
        if str(col.id) in waiting:
            job = await start_fill(conn, table, col.id, NewRows(record_ids), reason="new_rows",
                                   thread_id=thread_id, include_pinned=False)
            jobs.append(job["id"])
    return jobs


# the AI columns with a cell among the rows that is queued without a job (new rows start so)
_WAITING = text(
    "SELECT c FROM unnest(CAST(:cols AS text[])) AS c WHERE EXISTS (SELECT 1 FROM records r "
    " WHERE r.table_id = :t AND r.id = ANY(:ids) AND r.meta -> c ->> 's' = 'pending' AND NOT r.meta -> c ? 'j')"
)


async def open_new_row_jobs(conn: AsyncConnection, table: TablePublic, *,
                            thread_id: str | None = None) -> dict[str, str]:
    """Before rows are inserted: one queued job per AI column (job id by column id) for their AI cells to
    name from the start (`new_cell`), so the insert is the only write of each row; `close_new_row_jobs`
    then counts and sends them. `fill_new_rows` does the same for rows already inserted."""
    columns = [str(c.id) for c in table.columns if c.ai is not None]
    if not columns:
        return {}
    res = await conn.execute(
        text("INSERT INTO jobs (workspace_id, table_id, column_id, thread_id, scope, reason) "
             "SELECT :w, :t, c, :th, CAST(:s AS jsonb), 'new_rows' FROM unnest(CAST(:cols AS uuid[])) AS c "
             "RETURNING column_id::text, id::text"),
        {"w": table.workspace_id, "t": table.id, "th": thread_id, "cols": columns,
         "s": json.dumps(NewRows(()).stored())},
    )
    return dict(res.all())


def new_cell(job_id: str | None) -> dict[str, Any]:
    """The state of a new row's AI cell that was given no value: queued, in `job_id` when there is one."""
    return {"s": "pending", "j": job_id, "a": 0} if job_id else {"s": "pending"}


async def close_new_row_jobs(conn: AsyncConnection, jobs: Mapping[str, str], ids: Sequence[int],
                             given: Mapping[str, Collection[int]]) -> list[str]:
    """After the insert: each job of `open_new_row_jobs` covers its column's cells among `ids` except the
    rows that `given` its column a value (pinned), and its messages go to the outbox; a job left with
    no cell is dropped. Returns the jobs that have cells."""
    started = []
    for column_id, job_id in jobs.items():
        skip = given.get(column_id) or ()
        queued = [i for i in ids if i not in skip] if skip else list(ids)
        if not queued:
            await conn.execute(text("DELETE FROM jobs WHERE id = :j"), {"j": job_id})
            continue
        await enqueue(conn, _outbox_rows(job_id, queued))
        await conn.execute(text("UPDATE jobs SET total = :n, scope = CAST(:s AS jsonb) WHERE id = :j"),
                           {"j": job_id, "n": len(queued), "s": json.dumps(NewRows(queued).stored())})
        started.append(job_id)
    return started


_RESTORE = ("CASE WHEN r.meta -> :c ->> 'ps' IN ('completed', 'error', 'stale') THEN r.meta -> :c ->> 'ps' "
            "ELSE 'idle' END")


async def _update_job_cells(conn: AsyncConnection, job: Mapping[str, Any], new_state: str, *,
                            only_pending: bool = False, **params: Any) -> int:
    """Rewrite the cells a job still owns (locked in id order, like every other writer)."""
    res = await conn.execute(
        text("WITH x AS (SELECT id FROM records WHERE table_id = :t AND meta -> :c ->> 'j' = :j "
             + ("AND meta -> :c ->> 's' = 'pending' " if only_pending else "")
             + "ORDER BY id FOR UPDATE) "
             "UPDATE records r SET updated_at = now(), meta = jsonb_set(r.meta, ARRAY[:c], "
             f" ((r.meta -> :c) - 'j' - 'a' - 'n' - 'ps' - 'c' - 'w' - 't') || {new_state}) "
             "FROM x WHERE r.id = x.id"),
        {"t": job["table_id"], "c": job["column_id"], "j": job["id"], **params},
    )
    return res.rowcount


async def cancel_job(conn: AsyncConnection, job_id: Any) -> dict[str, Any]:
    """Stop a job: its queued and computing cells go back to what they were (results in flight are
    dropped). A finished job is returned unchanged."""
    job = await get_job(conn, job_id)
    if job["status"] not in ACTIVE:
        return job
    await _update_job_cells(conn, job, f"jsonb_build_object('s', {_RESTORE})")
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
    failed = await _update_job_cells(conn, job, "jsonb_build_object('s', 'error', 'e', CAST(:m AS text))",
                                     only_pending=True, m=message)
    res = await conn.execute(
        text("UPDATE jobs SET status = 'stopped', error = :m, finished_at = now(), updated_at = now() "
             "WHERE id = :j AND status IN ('queued', 'running')"), {"j": job_id, "m": message})
    if res.rowcount == 0 and not failed:
        return []
    return await settle(conn, {job_id: Delta(failed=failed)})


# -- workers -----------------------------------------------------------------------------------------
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


def _job_of(row: Mapping[str, Any]) -> dict[str, Any]:
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
    messages = [m for (job, delay), ids in requeue.items() for m in _outbox_rows(job, ids, delay)]
    return kinds, [_job_of(j) for j in got.jobs], messages


_RUNS = text(
    "INSERT INTO ai_runs (workspace_id, table_id, column_id, job_id, record_ids, model, prompt_hash, "
    " input_hash, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, latency_ms, "
    " cost_usd, success, error) "
    "SELECT x.workspace_id, x.table_id, x.column_id, x.job_id, x.record_ids, x.model, x.prompt_hash, "
    " x.input_hash, x.input_tokens, x.output_tokens, x.cache_read_tokens, x.cache_write_tokens, "
    " x.latency_ms, x.cost_usd, x.success, x.error "
    "FROM jsonb_to_recordset(CAST(:runs AS jsonb)) AS x(workspace_id uuid, table_id uuid, column_id uuid, "
    " job_id uuid, record_ids jsonb, model text, prompt_hash text, input_hash text, input_tokens int, "
    " output_tokens int, cache_read_tokens int, cache_write_tokens int, latency_ms float8, "
    " cost_usd numeric, success boolean, error text)"
)


async def record_runs(conn: AsyncConnection, runs: Sequence[Mapping[str, Any]]) -> None:
    """Audit LLM calls (one row each: model, hashes, tokens, latency, cost, success, error)."""
    if not runs:
        return
    await conn.execute(_RUNS, {"runs": json.dumps(list(runs), default=str)})


# -- when inputs change ------------------------------------------------------------------------------
async def _owned_jobs(conn: AsyncConnection, job_ids: Iterable[str]) -> set[str]:
    ids = sorted({j for j in job_ids if j})
    if not ids:
        return set()
    res = await conn.execute(text("SELECT id::text FROM jobs WHERE id = ANY(CAST(:ids AS uuid[])) "
                                  "AND status IN ('queued', 'running')"), {"ids": ids})
    return set(res.scalars().all())


async def _set_cells(conn: AsyncConnection, table_id: Any, column_id: str, metas: Mapping[int, Any]) -> None:
    if metas:
        await conn.execute(
            text("UPDATE records r SET updated_at = now(), meta = jsonb_set(r.meta, ARRAY[:c], x.m) "
                 "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id bigint, m jsonb) "
                 "WHERE r.id = x.id AND r.table_id = :t"),
            {"t": table_id, "c": column_id,
             "rows": json.dumps([{"id": k, "m": v} for k, v in metas.items()])},
        )


async def _lock_cells(conn: AsyncConnection, table_id: Any, column_id: str, ids: Sequence[int]) -> list[Any]:
    res = await conn.execute(
        text("SELECT id, meta -> :c AS m FROM records WHERE table_id = :t AND id = ANY(:ids) "
             "ORDER BY id FOR UPDATE"),
        {"t": table_id, "c": column_id, "ids": list(ids)},
    )
    return [(rid, dict(m or {})) for rid, m in res.all()]


def _strip(m: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k not in keys}


async def release_edited(conn: AsyncConnection, table: TablePublic, record_ids: Sequence[int],
                         column_ids: Iterable[str]) -> None:
    """AI cells just written by hand leave the job that had them queued (the job's total shrinks)."""
    deltas: dict[str, Delta] = {}
    for col in table.columns:
        if col.ai is None or str(col.id) not in {str(c) for c in column_ids}:
            continue
        cells = [(rid, m) for rid, m in await _lock_cells(conn, table.id, str(col.id), record_ids) if "j" in m]
        live = await _owned_jobs(conn, (m["j"] for _, m in cells))
        for _, m in cells:
            if m["j"] in live:
                deltas.setdefault(m["j"], Delta()).total -= 1
        await _set_cells(conn, table.id, str(col.id), {rid: _strip(m, *WORKING_KEYS) for rid, m in cells})
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
        cells = [(rid, m) for rid, m in await _lock_cells(conn, table.id, key, record_ids)
                 if not m.get("p") and m.get("s") in ("computing", "completed", "error", "stale", "pending")]
        live = await _owned_jobs(conn, (m.get("j") for _, m in cells))
        metas: dict[int, dict[str, Any]] = {}
        requeue: dict[str, list[int]] = {}
        free: list[tuple[int, dict[str, Any]]] = []
        for rid, m in cells:
            if m.get("j") in live:
                if m.get("s") == "computing":  # inputs moved under a running call: recompute later
                    metas[rid] = _strip(m, "c", "w", "t") | {"s": "pending", "a": 0, "n": not_before}
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
            base = _strip(m, *WORKING_KEYS)
            metas[rid] = base | ({"s": "pending", "j": job_id, "a": 0, "n": not_before, "ps": "stale"}
                                 if job_id else {"s": "stale"})
        await _set_cells(conn, table.id, key, metas)
        await enqueue(conn, [msg for j, ids in requeue.items() for msg in _outbox_rows(j, ids, delay_ms)])
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


# -- the whole table at a glance -------------------------------------------------------------------------
STATUSES = ("idle", "pending", "computing", "completed", "error", "stale")


async def status_counts(conn: AsyncConnection, table: TablePublic) -> dict[str, dict[str, Any]]:
    """Per AI column (by id): how many of its cells are in each status across the whole table, and the
    fills still queued or running (`jobs`). One pass over the table's rows (the cell states live in
    them): about 0.15 s at 100,000 rows, so callers ask when the change feed moved, not on a timer."""
    columns = [str(c.id) for c in table.columns if c.ai is not None]
    out: dict[str, dict[str, Any]] = {c: {**dict.fromkeys(STATUSES, 0), "jobs": []} for c in columns}
    if not columns:
        return out
    counts = await conn.execute(_COUNT_STATES, {"t": table.id, "cols": columns})
    for column_id, status, n in counts.all():
        out[column_id][status if status in STATUSES else "idle"] += n
    active = await conn.execute(
        text("SELECT column_id::text, id::text FROM jobs WHERE table_id = :t AND status IN ('queued', 'running') "
             "ORDER BY created_at"), {"t": table.id})
    for column_id, job_id in active.all():
        if column_id in out:
            out[column_id]["jobs"].append(job_id)
    return out


_COUNT_STATES = text(
    "SELECT c.id, coalesce(r.meta -> c.id ->> 's', 'idle'), count(*) FROM records r "
    "CROSS JOIN unnest(CAST(:cols AS text[])) AS c(id) WHERE r.table_id = :t GROUP BY 1, 2"
)


# -- sweeping ----------------------------------------------------------------------------------------
async def active_jobs(conn: AsyncConnection) -> list[dict[str, Any]]:
    res = await conn.execute(text(
        "SELECT id::text AS id, table_id, column_id::text AS column_id, status, mode, "
        " extract(epoch FROM now() - updated_at) AS idle_s FROM jobs WHERE status IN ('queued', 'running') "
        "ORDER BY created_at"))
    return [dict(m) for m in res.mappings()]


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
            metas[rid] = _strip(m, *WORKING_KEYS) | {"s": "error", "e": _dead_message(int(m["a"]))}
            failed += 1
        else:
            metas[rid] = _strip(m, "c", "w", "t") | {"s": "pending", "n": 0}
            again.append(rid)
    await _set_cells(conn, job["table_id"], job["column_id"], metas)
    await enqueue(conn, _outbox_rows(job["id"], again))
    return len(cells), await settle(conn, {job["id"]: Delta(failed=failed)})


async def requeue_stalled(conn: AsyncConnection, job: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """A job that made no progress for a while: send its queued cells again (their messages may have
    been lost with a broker or a worker). With nothing left queued or computing, it completes; when its
    column was deleted or lost its prompt, it is cancelled."""
    still_ai = (await conn.execute(text("SELECT ai IS NOT NULL FROM columns WHERE id = CAST(:c AS uuid)"),
                                   {"c": job["column_id"]})).scalar_one_or_none()
    if not still_ai:
        if still_ai is not None:
            await _update_job_cells(conn, job, f"jsonb_build_object('s', {_RESTORE})")
        ended = await conn.execute(
            text("UPDATE jobs SET status = 'cancelled', error = :m, finished_at = now(), updated_at = now() "
                 f"WHERE id = :j AND status IN ('queued', 'running') RETURNING {JOB_FIELDS}"),
            {"j": job["id"], "m": "The column was deleted or is no longer an AI column"})
        return 0, [_jsonable(m) for m in ended.mappings()]
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
        return 0, [_jsonable(m) for m in done.mappings()]
    now = time.time()
    by_delay: dict[int, list[int]] = {}
    for rid, status, nb in cells:
        if status == "pending":
            by_delay.setdefault(max(0, int((nb - now) * 1000)), []).append(rid)
    await enqueue(conn, [m for delay, ids in by_delay.items() for m in _outbox_rows(job["id"], ids, delay)])
    await conn.execute(text("UPDATE jobs SET updated_at = now() WHERE id = :j"), {"j": job["id"]})
    return sum(len(v) for v in by_delay.values()), []


async def ended_jobs(conn: AsyncConnection, within_s: float) -> list[dict[str, Any]]:
    """Jobs that ended in the last `within_s` seconds."""
    res = await conn.execute(text(
        "SELECT id::text AS id, table_id, column_id::text AS column_id, status, error, mode FROM jobs "
        "WHERE status NOT IN ('queued', 'running') AND finished_at > now() - make_interval(secs => :s)"),
        {"s": within_s})
    return [dict(m) for m in res.mappings()]


async def release_ended(conn: AsyncConnection, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cells still held by a job that has ended (sent back to its queue while it was being stopped):
    those of a stopped job fail with its reason, the others go back to what they were."""
    if job["status"] == "stopped":
        failed = await _update_job_cells(conn, job, "jsonb_build_object('s', 'error', 'e', CAST(:m AS text))",
                                         only_pending=True, m=job.get("error") or "The fill was stopped")
        return await settle(conn, {job["id"]: Delta(failed=failed)})
    await _update_job_cells(conn, job, f"jsonb_build_object('s', {_RESTORE})", only_pending=True)
    return []
