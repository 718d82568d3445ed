"""Queueing an AI column's cells as a fill job: the scope of a fill, a fill of chosen cells, and the jobs
of freshly inserted rows."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells import batches
from db.ai_cells.columns import ai_column
from db.ai_cells.job_rows import get_job
from db.ai_cells.outbox import enqueue, outbox_rows
from db.errors import Invalid
from db.schemas import TablePublic
from db.tables import get_table

SCOPES = ("all", "empty", "failed", "stale")
BATCH_ROWS = 5000  # rows of a batch fill per Message Batch
MAX_SCOPE_IDS = 100_000


@dataclass(frozen=True)
class NewRows:
    """The scope of the fill that queues freshly inserted rows: any number of them (an import of 100,000
    rows is one job), recorded on the job as a count, not as the list of ids."""

    ids: Sequence[int]

    def stored(self) -> dict[str, int]:
        return {"new_rows": len(self.ids)}


def scope_sql(scope: Any) -> tuple[str, dict[str, Any], bool]:
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
    thread_id: str | None = None, include_pinned: bool | None = None, mode: str = "write",
) -> dict[str, Any]:
    """Queue an AI column's cells in `scope` as one job: cells pending, job row and outbox messages in
    the caller's transaction. Cells edited by hand are left alone unless the scope names their rows;
    cells already queued or computing stay with their job. `mode` "batch" sends them through the Message
    Batches API (db/ai_cells/batches.py). Returns the job."""
    table = table if isinstance(table, TablePublic) else await get_table(conn, table)
    col = ai_column(table, column_id)
    cond, params, explicit = scope_sql(scope)
    row = await conn.execute(
        text("INSERT INTO jobs (workspace_id, table_id, column_id, thread_id, scope, reason, mode) "
             "VALUES (:w, :t, :c, :th, CAST(:s AS jsonb), :r, :m) RETURNING id"),
        {"w": table.workspace_id, "t": table.id, "c": col.id, "th": thread_id,
         "s": json.dumps(scope.stored() if isinstance(scope, NewRows) else scope), "r": reason, "m": mode},
    )
    job_id = str(row.scalar_one())
    ids = (await conn.execute(
        text(_ASSIGN.format(scope=cond)),
        {"t": table.id, "c": str(col.id), "job": job_id,
         "pinned": explicit if include_pinned is None else include_pinned, **params},
    )).scalar_one()
    if mode == batches.MODE:
        await enqueue(conn, batches.submit_messages(job_id, ids, BATCH_ROWS), batches.SUBMIT)
    else:
        await enqueue(conn, outbox_rows(job_id, ids))
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
        await enqueue(conn, outbox_rows(job_id, queued))
        await conn.execute(text("UPDATE jobs SET total = :n, scope = CAST(:s AS jsonb) WHERE id = :j"),
                           {"j": job_id, "n": len(queued), "s": json.dumps(NewRows(queued).stored())})
        started.append(job_id)
    return started


def _in_scope(table_id: Any, column_id: Any, scope: Any) -> tuple[str, dict[str, Any]]:
    """The rows a fill of `scope` would queue, as a condition on `r` and its parameters (cells edited by
    hand left out unless the scope names their rows); cells already queued are counted too."""
    cond, params, explicit = scope_sql(scope)
    pinned = "" if explicit else " AND NOT coalesce((r.meta -> :c ->> 'p')::boolean, false)"
    return f"r.table_id = :t AND ({cond}){pinned}", {"t": table_id, "c": str(column_id), **params}


async def count_in_scope(conn: AsyncConnection, table_id: Any, column_id: Any, scope: Any) -> int:
    """How many cells of an AI column a fill of `scope` covers."""
    where, values = _in_scope(table_id, column_id, scope)
    return (await conn.execute(text(f"SELECT count(*) FROM records r WHERE {where}"), values)).scalar_one()


async def rows_in_scope(conn: AsyncConnection, table_id: Any, column_id: Any, scope: Any, limit: int
                        ) -> tuple[list[int], int]:
    """The first `limit` rows (by id) of a fill of `scope`, and how many rows it covers."""
    where, values = _in_scope(table_id, column_id, scope)
    total = (await conn.execute(text(f"SELECT count(*) FROM records r WHERE {where}"), values)).scalar_one()
    rows = (await conn.execute(text(f"SELECT r.id FROM records r WHERE {where} ORDER BY r.id LIMIT :n"),
                               {**values, "n": limit})).scalars().all()
    return list(rows), total
