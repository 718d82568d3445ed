"""Reading change sets and the feed rows that belong to them (migration 0012): what a change set did, what
changed after it, the versions of one cell, and a table's list of changes. The caller owns the
transaction; row-level security limits every read to the caller's workspaces."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Invalid, NotFound
from db.tables import as_uuid

CHANGE_SET_FIELDS = ("id, workspace_id, table_id, kind, actor, summary, counts, proposal_id, reverts, "
                     "reverted_by, base_seq, created_at")


@dataclass
class ChangeSetRow:
    id: uuid.UUID
    workspace_id: uuid.UUID
    table_id: uuid.UUID | None
    kind: str
    actor: dict[str, Any]
    summary: str
    counts: dict[str, Any]
    proposal_id: uuid.UUID | None
    reverts: uuid.UUID | None
    reverted_by: uuid.UUID | None
    base_seq: int
    created_at: datetime


async def get_change_set(conn: AsyncConnection, change_set_id: Any, *, lock: bool = False) -> ChangeSetRow:
    """A change set of the caller's workspaces; NotFound otherwise (another workspace's is not found)."""
    cid = as_uuid(change_set_id, "change")
    row = (await conn.execute(
        text(f"SELECT {CHANGE_SET_FIELDS} FROM change_sets WHERE id = :id" + (" FOR UPDATE" if lock else "")),
        {"id": cid},
    )).mappings().first()
    if row is None:
        raise NotFound(f"No change {change_set_id}", change_id=str(change_set_id))
    return ChangeSetRow(**row)


async def followers(conn: AsyncConnection, cs: ChangeSetRow) -> list[uuid.UUID]:
    """The change set and the fills it started in its own transaction (new rows or a new AI column: same
    table, same transaction time), whose writes are part of what it did."""
    rows = await conn.execute(
        text("SELECT id FROM change_sets WHERE table_id = :t AND kind = 'fill' AND created_at = :at "
             "AND id <> :id AND actor ->> 'reason' IN ('new_rows', 'new_column')"),
        {"t": cs.table_id, "at": cs.created_at, "id": cs.id},
    )
    return [cs.id, *rows.scalars().all()]


@dataclass
class Effect:
    """What a change set did to its table, net of its own intermediate writes."""

    last_seq: int = 0
    table_created: bool = False
    table_before: dict[str, Any] | None = None  # name and description before a rename
    cells: list[tuple[int, str, Any, Any]] = field(default_factory=list)  # (row, column, before, after)
    rows_added: list[int] = field(default_factory=list)
    rows_deleted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row, {data, meta})
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[dict[str, Any]] = field(default_factory=list)  # the definitions before
    columns_changed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (id, definition before)


_CELLS = """
SELECT record_id, column_id::text AS column_id,
       (array_agg(prev ORDER BY seq) FILTER (WHERE prev IS NOT NULL))[1] AS before,
       (array_agg(data -> 'value' ORDER BY seq DESC))[1] AS after
FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids) AND kind = 'cell'
GROUP BY record_id, column_id HAVING bool_or(prev IS NOT NULL)
ORDER BY record_id, column_id
"""

_OTHER = """
SELECT seq, kind, op, record_id, column_id::text AS column_id, prev
FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids) AND kind <> 'cell'
ORDER BY seq
"""


async def effect(conn: AsyncConnection, cs: ChangeSetRow, ids: list[uuid.UUID]) -> Effect:
    """The net effect of the change sets `ids` (a change set and its followers) on `cs.table_id`."""
    out = Effect()
    params = {"t": cs.table_id, "b": cs.base_seq, "ids": ids}
    out.last_seq = (await conn.execute(
        text("SELECT coalesce(max(seq), 0) FROM changes WHERE table_id = :t AND seq > :b AND change_set = ANY(:ids)"),
        params)).scalar_one()
    for m in (await conn.execute(text(_CELLS), params)).mappings():
        before = m["before"]
        if before != m["after"]:
            out.cells.append((m["record_id"], m["column_id"], before, m["after"]))
    added: dict[int, None] = {}
    removed_cols: dict[str, dict[str, Any]] = {}
    changed_cols: dict[str, dict[str, Any]] = {}
    added_cols: dict[str, None] = {}
    for m in (await conn.execute(text(_OTHER), params)).mappings():
        kind, op = m["kind"], m["op"]
        if kind == "table":
            if op == "insert":
                out.table_created = True
            elif op == "update" and out.table_before is None:
                out.table_before = m["prev"]
        elif kind == "record" and op == "insert":
            added[m["record_id"]] = None
        elif kind == "record" and op == "delete":
            if m["record_id"] in added:  # added and deleted within the change set: nothing to undo
                added.pop(m["record_id"])
            elif m["prev"] is not None:
                out.rows_deleted.append((m["record_id"], m["prev"]))
        elif kind == "column":
            cid = m["column_id"]
            if op == "insert":
                added_cols[cid] = None
            elif op == "delete":
                if cid in added_cols:
                    added_cols.pop(cid)
                    changed_cols.pop(cid, None)
                else:
                    removed_cols[cid] = changed_cols.pop(cid, None) or m["prev"]
            elif cid not in added_cols:
                changed_cols.setdefault(cid, m["prev"])
    out.rows_added = list(added)
    out.columns_added = list(added_cols)
    out.columns_removed = [v for v in removed_cols.values() if v]
    out.columns_changed = list(changed_cols.items())
    return out


async def changed_after(
    conn: AsyncConnection, table_id: uuid.UUID, after_seq: int, ids: list[uuid.UUID], row_ids: list[int]
) -> set[tuple[int, str]]:
    """Cells of `row_ids` whose value was written after `after_seq` by another change set."""
    if not row_ids:
        return set()
    rows = await conn.execute(
        text("SELECT DISTINCT record_id, column_id::text FROM changes WHERE table_id = :t AND seq > :s "
             "AND kind = 'cell' AND prev IS NOT NULL AND record_id = ANY(:rows) "
             "AND (change_set IS NULL OR NOT change_set = ANY(:ids))"),
        {"t": table_id, "s": after_seq, "rows": sorted(set(row_ids)), "ids": ids},
    )
    return {(r, c) for r, c in rows.all()}


async def columns_changed_after(
    conn: AsyncConnection, table_id: uuid.UUID, after_seq: int, ids: list[uuid.UUID]
) -> set[str]:
    rows = await conn.execute(
        text("SELECT DISTINCT column_id::text FROM changes WHERE table_id = :t AND seq > :s AND kind = 'column' "
             "AND (change_set IS NULL OR NOT change_set = ANY(:ids))"),
        {"t": table_id, "s": after_seq, "ids": ids},
    )
    return set(rows.scalars().all())


async def undone_by(conn: AsyncConnection, cs: ChangeSetRow) -> uuid.UUID | None:
    """The revert that undid the change set and still holds (a revert reverted in its turn does not)."""
    if cs.reverted_by is None:
        return None
    got = (await conn.execute(text("SELECT reverted_by FROM change_sets WHERE id = :id"),
                              {"id": cs.reverted_by})).first()
    return cs.reverted_by if got is not None and got[0] is None else None


async def mark_reverted(conn: AsyncConnection, change_set_id: uuid.UUID, by: uuid.UUID) -> None:
    await conn.execute(text("UPDATE change_sets SET reverted_by = :by WHERE id = :id"),
                       {"by": by, "id": change_set_id})


# ---- listing and cell history -------------------------------------------------------------------------

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
