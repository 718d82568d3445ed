"""Batch fills (`jobs.mode = 'batch'`): the cells go through the Message Batches API at half the price,
usually within an hour, at most 24 h. A `batch` message submits some of the job's queued cells as one
batch (they stay `computing`, claimed, until its results land); the batches in flight are kept in the
job's `spec` (`{"batches": {batch id: {claim, rows, size, polled}}}`), and `batch_poll` messages ask
whether one has ended. The sweeper treats a batch job's claims as alive for BATCH_LEASE_S, and when the
job stops moving (its polls were lost) sends its queued cells and its polls again."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells import recovery
from db.ai_cells.outbox import enqueue, outbox_rows

MODE = "batch"
SUBMIT = "batch"  # outbox kinds
POLL = "batch_poll"
BATCH_LEASE_S = 25 * 3600  # a batch ends within 24 h: its claims are older than that only if it was lost


COLLECT_AGAIN_S = 600  # a batch whose results were being written this long ago is collected again


async def record_batch(conn: AsyncConnection, job_id: str, batch_id: str, claim: str, rows: Sequence[int],
                       size: int, estimate: float) -> None:
    """Remember a submitted batch on its job (and that the job moved), with what it may cost."""
    entry = {"claim": claim, "rows": list(rows), "size": size, "polled": time.time(), "estimate": estimate}
    await conn.execute(text(
        "UPDATE jobs SET updated_at = now(), spec = jsonb_set(coalesce(spec, '{}') || jsonb_build_object('batches', "
        " coalesce(spec -> 'batches', '{}')), ARRAY['batches', :b], CAST(:e AS jsonb)) WHERE id = CAST(:j AS uuid)"),
        {"j": job_id, "b": batch_id, "e": json.dumps(entry)})


async def open_batches(conn: AsyncConnection, job_id: str) -> dict[str, dict[str, Any]]:
    """The job's batches in flight, by batch id."""
    spec = (await conn.execute(text("SELECT spec FROM jobs WHERE id = CAST(:j AS uuid)"), {"j": job_id})).scalar_one_or_none()
    return dict((spec or {}).get("batches") or {})


async def polled(conn: AsyncConnection, job_id: str, batch_id: str, *, ended: bool) -> bool:
    """Note a poll of a batch (the job moved); an ended batch is forgotten. False when the batch is not the
    job's any more (another poll collected it)."""
    if ended:
        res = await conn.execute(text(
            "UPDATE jobs SET updated_at = now(), spec = spec #- ARRAY['batches', :b] "
            "WHERE id = CAST(:j AS uuid) AND spec -> 'batches' ? :b"), {"j": job_id, "b": batch_id})
    else:
        res = await conn.execute(text(
            "UPDATE jobs SET updated_at = now(), spec = jsonb_set(spec, ARRAY['batches', :b, 'polled'], "
            " to_jsonb(extract(epoch FROM clock_timestamp()))) WHERE id = CAST(:j AS uuid) AND spec -> 'batches' ? :b"),
            {"j": job_id, "b": batch_id})
    return res.rowcount == 1


async def collecting(conn: AsyncConnection, job_id: str, batch_id: str) -> bool:
    """Take the writing of an ended batch's results: False when another worker writes them (or wrote
    them less than COLLECT_AGAIN_S ago and died: then it is taken again)."""
    res = await conn.execute(text(
        "UPDATE jobs SET updated_at = now(), spec = jsonb_set(spec, ARRAY['batches', :b, 'collecting'], "
        " to_jsonb(extract(epoch FROM clock_timestamp()))) WHERE id = CAST(:j AS uuid) AND spec -> 'batches' ? :b "
        " AND coalesce((spec -> 'batches' -> :b ->> 'collecting')::float8, 0) "
        "     < extract(epoch FROM clock_timestamp()) - :again"), {"j": job_id, "b": batch_id, "again": COLLECT_AGAIN_S})
    return res.rowcount == 1


async def reserved(conn: AsyncConnection, job_id: str) -> tuple[float, float]:
    """What the job spent, and what its batches in flight may still cost."""
    row = (await conn.execute(text("SELECT cost_usd, spec FROM jobs WHERE id = CAST(:j AS uuid)"),
                              {"j": job_id})).one()
    flying = ((row.spec or {}).get("batches") or {}).values()
    return float(row.cost_usd), sum(float(b.get("estimate") or 0) for b in flying)


async def send_polls(conn: AsyncConnection, job_id: str, batch_ids: Sequence[str], delay_ms: int = 0) -> None:
    await enqueue(conn, [{"job": job_id, "rows": [], "batch": b, "delay_ms": delay_ms} for b in batch_ids], POLL)


async def recover_dead(conn: AsyncConnection, job: Mapping[str, Any], live_workers: Sequence[int],
                       lease_s: float, claimed_before: float) -> tuple[int, list[dict[str, Any]]]:
    """A batch's cells stay claimed while it runs, whoever submitted it: only claims older than any batch
    can be go back to the queue."""
    return await recovery.recover_dead(conn, job, [], BATCH_LEASE_S, claimed_before - BATCH_LEASE_S)


async def requeue_stalled(conn: AsyncConnection, job: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """A batch job that stopped moving (polls touch it): its polls and its queued cells are sent again."""
    n, changed = await recovery.requeue_stalled(conn, job, kind=SUBMIT)
    if not changed:
        await send_polls(conn, str(job["id"]), list(await open_batches(conn, str(job["id"]))))
    return n, changed


release_ended = recovery.release_ended


def submit_messages(job_id: str, ids: Sequence[int], chunk: int) -> list[dict[str, Any]]:
    """The `batch` messages of a batch fill: `chunk` rows each (one Message Batch per message)."""
    ids = sorted(ids)
    return [{"job": job_id, "rows": ids[i: i + chunk], "delay_ms": 0} for i in range(0, len(ids), chunk)]


__all__ = ["BATCH_LEASE_S", "MODE", "POLL", "SUBMIT", "collecting", "open_batches", "outbox_rows", "polled",
           "record_batch", "recover_dead", "release_ended", "requeue_stalled", "reserved", "send_polls",
           "submit_messages"]
