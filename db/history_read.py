"""Reading history: a table's change sets (newest first), one cell's versions with who or what wrote each
(an AI value with its model, rows as sent, raw answer, tokens and cost), and model spend. The caller owns
the transaction; row-level security limits every read to the caller's workspaces."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Invalid, NotFound

MAX_LIMIT = 200

_LIST = """
SELECT s.id, s.kind, s.actor, s.created_at, s.summary, s.counts, s.reverts, s.reverted_by, s.proposal_id,
       j.cost_usd AS job_cost, j.done AS job_done, j.failed AS job_failed, j.status AS job_status
FROM change_sets s LEFT JOIN jobs j ON s.kind = 'fill' AND j.id = s.id
WHERE s.table_id = :t AND (CAST(:before AS timestamptz) IS NULL OR s.created_at < :before)
ORDER BY s.created_at DESC, s.id DESC LIMIT :lim
"""


def change_item(m: Any) -> dict[str, Any]:
    counts = dict(m["counts"] or {})
    if m["kind"] == "fill" and m["job_done"] is not None:
        counts.update(cells=int(m["job_done"]), failed=int(m["job_failed"] or 0))
    return {
        "id": str(m["id"]), "kind": m["kind"], "actor": m["actor"], "created_at": m["created_at"].isoformat(),
        "summary": m["summary"], "cells": int(counts.get("cells", 0)), "counts": counts,
        "cost_usd": float(m["job_cost"]) if m["job_cost"] is not None else None,
        "reverts": str(m["reverts"]) if m["reverts"] else None,
        "reverted_by": str(m["reverted_by"]) if m["reverted_by"] else None,
        "proposal_id": str(m["proposal_id"]) if m["proposal_id"] else None,
        "status": m["job_status"],
    }


async def list_changes(
    conn: AsyncConnection, table_id: uuid.UUID, *, limit: int = 50, before: datetime | None = None
) -> list[dict[str, Any]]:
    """The table's change sets, newest first (`before`: older than that time, for the next page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", limit=limit)
    rows = await conn.execute(text(_LIST), {"t": table_id, "before": before, "lim": limit})
    return [change_item(m) for m in rows.mappings()]


_HISTORY = """
SELECT c.seq, c.kind, c.data, c.prev, c.created_at, c.change_set, s.kind AS cs_kind, s.actor, s.proposal_id,
       s.reverts, s.summary
FROM changes c LEFT JOIN change_sets s ON s.id = c.change_set
WHERE c.record_id = :r AND c.table_id = :t
  AND ((c.kind = 'cell' AND c.column_id = :c AND c.prev IS NOT NULL) OR (c.kind = 'record' AND c.op = 'insert'))
ORDER BY c.seq DESC LIMIT :lim
"""


async def cell_versions(conn: AsyncConnection, table_id: uuid.UUID, record_id: int, column_id: uuid.UUID,
                        *, limit: int = 100) -> list[dict[str, Any]]:
    """The value writes of one cell, newest first, each with the change set that made it; the row's
    insertion (its first value) counts as one."""
    rows = await conn.execute(text(_HISTORY), {"r": record_id, "c": column_id, "t": table_id, "lim": limit})
    return [dict(m) for m in rows.mappings()]


_RUN = """
SELECT id, model, request, answer, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       latency_ms, cost_usd, success, error, created_at, record_ids
FROM ai_runs WHERE job_id = :j AND column_id = :c AND record_ids @> CAST(:rid AS jsonb) AND created_at <= :at
ORDER BY id DESC LIMIT :n
"""


async def ai_runs_for(conn: AsyncConnection, job_id: uuid.UUID, column_id: uuid.UUID, record_id: int,
                      at: datetime, limit: int = 5) -> list[dict[str, Any]]:
    """The LLM calls of a fill job that computed one row's cell, newest first (its attempts)."""
    rows = await conn.execute(text(_RUN), {"j": job_id, "c": column_id, "rid": f"[{int(record_id)}]", "at": at,
                                           "n": limit})
    return [dict(m) for m in rows.mappings()]


_SPEND = """
SELECT column_id, coalesce(sum(cost_usd), 0) AS total,
       coalesce(sum(cost_usd) FILTER (WHERE created_at >= date_trunc('day', now())), 0) AS today,
       coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cache_read_tokens), 0) AS cached_tokens, count(*) AS calls
FROM ai_runs WHERE (CAST(:t AS uuid) IS NULL OR table_id = :t) AND (CAST(:w AS uuid) IS NULL OR workspace_id = :w)
GROUP BY column_id
"""


async def spend(conn: AsyncConnection, *, table_id: uuid.UUID | None = None,
                workspace_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Model spend per AI column and in all (today since midnight UTC, and in total)."""
    rows = (await conn.execute(text(_SPEND), {"t": table_id, "w": workspace_id})).mappings().all()
    per = {str(m["column_id"]): {"today_usd": float(m["today"]), "total_usd": float(m["total"]),
                                 "calls": int(m["calls"]), "input_tokens": int(m["input_tokens"]),
                                 "cached_tokens": int(m["cached_tokens"]), "output_tokens": int(m["output_tokens"])}
           for m in rows}
    return {"columns": per, "today_usd": round(sum(v["today_usd"] for v in per.values()), 6),
            "total_usd": round(sum(v["total_usd"] for v in per.values()), 6)}


SOURCE_OF_KIND = {"edit": "edit", "proposal": "proposal", "fill": "ai", "import": "import", "revert": "revert"}


async def cell_history(conn: AsyncConnection, table_id: uuid.UUID, record_id: int, column_id: uuid.UUID,
                       *, limit: int = 100) -> list[dict[str, Any]]:
    """Each value a cell has had, newest first: `{version, value, previous, at, source}`, the source
    saying who or what wrote it (an edit by whom, a proposal in which chat, an import, a revert, or an
    AI run with its model, prompt as sent, raw answer, tokens, cost, attempts and duration)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", limit=limit)
    found = await cell_versions(conn, table_id, record_id, column_id, limit=limit)
    if not found:
        raise NotFound(f"No row {record_id} in this table", row_id=record_id)
    out = []
    for n, v in enumerate(found):
        data = v["data"] or {}
        actor = v["actor"] or {}
        kind = SOURCE_OF_KIND.get(v["cs_kind"] or "", "unknown")
        source: dict[str, Any] = {"kind": kind, "change_id": str(v["change_set"]) if v["change_set"] else None,
                                  "summary": v["summary"]}
        for key in ("account_id", "thread_id", "proposal_id", "column_id", "reason"):
            if actor.get(key):
                source[key] = actor[key]
        if v["reverts"]:
            source["reverts"] = str(v["reverts"])
        if v["kind"] == "record":  # the row's insertion: its value then is what the next write replaced
            newer = found[n - 1] if n > 0 else None
            value = newer["prev"] if newer is not None else await _current(conn, record_id, column_id)
            source["row_created"] = True
            out.append({"version": 0, "value": value, "at": v["created_at"].isoformat(), "source": source})
            continue
        if kind == "ai" and v["change_set"]:
            runs = await ai_runs_for(conn, v["change_set"], column_id, record_id, v["created_at"])
            if runs:
                run = runs[0]
                source.update(
                    model=run["model"], prompt=run["request"], answer=run["answer"],
                    tokens={"input": run["input_tokens"], "cached": run["cache_read_tokens"],
                            "cache_write": run["cache_write_tokens"], "output": run["output_tokens"]},
                    cost_usd=float(run["cost_usd"]), duration_ms=round(float(run["latency_ms"]), 1),
                    attempts=len(runs), rows_in_call=len(run["record_ids"] or []),
                )
        out.append({"version": data.get("version"), "value": data.get("value"), "previous": v["prev"],
                    "at": v["created_at"].isoformat(), "source": source})
    return out


async def _current(conn: AsyncConnection, record_id: int, column_id: uuid.UUID) -> Any:
    got = await conn.execute(text("SELECT data -> CAST(:c AS text) FROM records WHERE id = :r"),
                             {"r": record_id, "c": str(column_id)})
    return got.scalar()


_USAGE = """
SELECT r.table_id, t.name AS table_name, r.column_id, c.name AS column_name,
       coalesce(sum(r.cost_usd), 0) AS total,
       coalesce(sum(r.cost_usd) FILTER (WHERE r.created_at >= date_trunc('day', now())), 0) AS today,
       count(*) AS calls
FROM ai_runs r LEFT JOIN data_tables t ON t.id = r.table_id LEFT JOIN columns c ON c.id = r.column_id
WHERE (CAST(:w AS uuid) IS NULL OR r.workspace_id = :w)
GROUP BY r.table_id, t.name, r.column_id, c.name
ORDER BY total DESC
"""


async def usage(conn: AsyncConnection, *, workspace_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Model spend of a workspace (None: every workspace the caller sees) per table and AI column, today
    (since midnight UTC) and in total; deleted tables and columns keep their spend, unnamed."""
    rows = (await conn.execute(text(_USAGE), {"w": workspace_id})).mappings().all()
    tables: dict[str, dict[str, Any]] = {}
    for m in rows:
        t = tables.setdefault(str(m["table_id"]), {"table_id": str(m["table_id"]), "name": m["table_name"],
                                                   "today_usd": 0.0, "total_usd": 0.0, "columns": []})
        t["columns"].append({"column_id": str(m["column_id"]), "name": m["column_name"], "calls": int(m["calls"]),
                             "today_usd": float(m["today"]), "total_usd": float(m["total"])})
        t["today_usd"] += float(m["today"])
        t["total_usd"] += float(m["total"])
    listed = sorted(tables.values(), key=lambda t: -t["total_usd"])
    return {"tables": listed, "today_usd": round(sum(t["today_usd"] for t in listed), 6),
            "total_usd": round(sum(t["total_usd"] for t in listed), 6)}
