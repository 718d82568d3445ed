"""`batch_cost_ratio`: what a fill costs through the Message Batches API against the same fill made now,
on the real pipeline and the fake LLM (its batches end half a second after they are submitted; the
workers poll every half second). Both fills cover the same cells of one table, so they send the same
tokens: the ratio is the price of the batch path as the jobs count it (cost_usd), half of the other."""

from __future__ import annotations

from bench.fills import Measured, Rig
from db import ai_cells
from db.engine import transaction


async def _cost(rig: Rig) -> float:
    async with transaction(None, engine=rig.engine) as conn:
        job = await ai_cells.get_job(conn, rig.last_job)
    if job["status"] != "completed" or job["failed"]:
        raise RuntimeError(f"the bench fill did not complete: {job}")
    return float(job["cost_usd"])


async def batch_cost_ratio(url: str, *, rows: int = 1000) -> Measured:
    """Cost of a batch fill of `rows` cells against the same fill now."""
    async with Rig(url) as rig:
        await rig.fake("POST", "reset", {"batch_latency_s": 0.5})
        made = await rig.table(rows)
        now_s = await rig.fill(made)
        now = await _cost(rig)
        batch_s = await rig.fill(made, mode="batch")
        batch = await _cost(rig)
        stats = await rig.fake("GET", "stats")
    return Measured(value=round(batch / now, 3), baseline=round(now, 4),
                    note=f"${batch:.4f} as a batch vs ${now:.4f} now for {rows} cells",
                    extra={"batch_usd": round(batch, 6), "now_usd": round(now, 6), "now_s": round(now_s, 2),
                           "batch_s": round(batch_s, 2), "batches": len(stats["batches"])})
