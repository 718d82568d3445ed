"""Fair queues on the real pipeline (`tablechat worker` processes, the outbox, Redis, the SDK, the fake LLM
answering in 200 ms + 5 ms per output token, as in `fill_speedup`):

- `small_fill_during_bulk`: a 10-cell fill's time from queueing to its final progress event while a
  100,000-cell fill runs, against the same fill with the workers idle (the median of a few of each).
  A first-in first-out queue would make it wait for the whole big fill (minutes); the target is
  1.5 times the idle figure.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.fills import Measured, Rig
from db import ai_cells
from db.engine import transaction

LATENCY = {"latency_s": 0.2, "per_output_token_s": 0.005}


async def _small_fills(rig: Rig, n: int, cells: int) -> list[float]:
    tables = [await rig.table(cells) for _ in range(n)]
    return [await rig.fill(t) for t in tables]


async def _done(rig: Rig, job_id: str) -> int:
    async with transaction(None, engine=rig.engine) as conn:
        return int((await ai_cells.get_job(conn, job_id))["done"])


async def small_fill_during_bulk(url: str, *, bulk_cells: int = 100_000, cells: int = 10, repeats: int = 5
                                 ) -> Measured:
    """Seconds to fill `cells` cells while a `bulk_cells` fill runs (median of `repeats`), against the same
    fill alone."""
    async with Rig(url) as rig:
        await rig.fake("POST", "reset", LATENCY)
        alone = await _small_fills(rig, repeats, cells)
        table, column = await rig.table(bulk_cells)
        await rig.settle()
        async with transaction(rig.account, engine=rig.engine) as conn:
            bulk = await ai_cells.start_fill(conn, table, column, "all")
        started = time.perf_counter()
        while await _done(rig, bulk["id"]) < 500:  # the big fill has every worker busy
            await asyncio.sleep(0.2)
        during = await _small_fills(rig, repeats, cells)
        done = await _done(rig, bulk["id"])
        bulk_s = time.perf_counter() - started
        async with transaction(None, engine=rig.engine) as conn:
            await ai_cells.cancel_job(conn, bulk["id"])
        stats = await rig.fake("GET", "stats")
    alone_s, during_s = statistics.median(alone), statistics.median(during)
    return Measured(value=round(during_s, 3), baseline=round(alone_s, 3),
                    note=f"{cells} cells in {during_s:.2f} s during a {bulk_cells:,}-cell fill, {alone_s:.2f} s alone",
                    extra={"alone_s": [round(x, 3) for x in alone], "during_s": [round(x, 3) for x in during],
                           "bulk_cells_done_meanwhile": done, "bulk_cells_per_s": round(done / bulk_s),
                           "max_in_flight": stats["max_inflight"], "concurrency": rig.concurrency})
