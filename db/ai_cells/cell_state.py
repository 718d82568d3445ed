"""The per-cell state in `records.meta[column_id]` that several writers share: the keys a job adds, and
reading, locking and rewriting the cells of a column."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_ATTEMPTS = 3
WORKING_KEYS = ("j", "a", "n", "ps", "c", "w", "t")


async def owned_jobs(conn: AsyncConnection, job_ids: Iterable[str]) -> set[str]:
    """Those of `job_ids` still queued or running (a cell naming an ended job is free)."""
    ids = sorted({j for j in job_ids if j})
    if not ids:
        return set()
    res = await conn.execute(text("SELECT id::text FROM jobs WHERE id = ANY(CAST(:ids AS uuid[])) "
                                  "AND status IN ('queued', 'running')"), {"ids": ids})
    return set(res.scalars().all())


async def set_cells(conn: AsyncConnection, table_id: Any, column_id: str, metas: Mapping[int, Any]) -> None:
    """Replace the state of a column's cells (state by row id)."""
    if metas:
        await conn.execute(
            text("UPDATE records r SET updated_at = now(), meta = jsonb_set(r.meta, ARRAY[:c], x.m) "
                 "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id bigint, m jsonb) "
                 "WHERE r.id = x.id AND r.table_id = :t"),
            {"t": table_id, "c": column_id,
             "rows": json.dumps([{"id": k, "m": v} for k, v in metas.items()])},
        )


async def lock_cells(conn: AsyncConnection, table_id: Any, column_id: str, ids: Sequence[int]) -> list[Any]:
    """(row id, state) of a column's cells among `ids`, locked in id order like every other writer."""
    res = await conn.execute(
        text("SELECT id, meta -> :c AS m FROM records WHERE table_id = :t AND id = ANY(:ids) "
             "ORDER BY id FOR UPDATE"),
        {"t": table_id, "c": column_id, "ids": list(ids)},
    )
    return [(rid, dict(m or {})) for rid, m in res.all()]


def strip(m: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A cell state without `keys`."""
    return {k: v for k, v in m.items() if k not in keys}


RESTORE = ("CASE WHEN r.meta -> :c ->> 'ps' IN ('completed', 'error', 'stale') THEN r.meta -> :c ->> 'ps' "
            "ELSE 'idle' END")


async def update_job_cells(conn: AsyncConnection, job: Mapping[str, Any], new_state: str, *,
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
