"""What history costs and how fast it answers: reverting the 10,000-op apply, a cell's history on the
100,000-row table, and cell edits and the fill pipeline with history against the same without it
(bench/history.py turns it off), measured in the same run."""

from __future__ import annotations

import random
import statistics
import time

from sqlalchemy import text

from bench import fills
from bench.client import open_access
from bench.context import Bench
from bench.harness import Result, metric, pct
from bench.history import history_off
from bench.metrics.data_layer import EDITED, _versions, jsonb_table
from db.engine import transaction

ROUNDS = 4  # edits with and without history alternate in this many blocks each
PIPELINE_ROUNDS = 2  # fills with and without history, alternating


@metric("revert_10k_s", unit="s", target="<= 2")
async def revert_10k(bench: Bench) -> Result:
    """Seconds to revert the 10,000-op apply of `apply_10k_s` (the revert planned from the change feed,
    stored as a proposal and applied, commit included), median of its runs; baseline: that apply in the
    same runs. Target: at most twice the apply's (1 s)."""
    from bench.apply import bench_apply_10k

    applies, reverts = [], []
    for _ in range(2 if bench.scale.rows < 100_000 else 3):
        applied, reverted = await bench_apply_10k(bench.engine, revert=True)
        applies.append(applied)
        reverts.append(reverted or 0.0)
    return Result(value=statistics.median(reverts), baseline=statistics.median(applies),
                  note="revert vs the apply it undoes; runs " + ", ".join(f"{r:.2f}" for r in reverts) + " s",
                  extra={"runs_s": [round(r, 3) for r in reverts], "apply_runs_s": [round(a, 3) for a in applies]})


@metric("cell_history_ms", unit="ms", target="<= 20")
async def cell_history(bench: Bench) -> Result:
    """p95 of `GET …/records/{rid}/cells/{cid}/history` through the API on the 100,000-row table, for cells
    edited a few times each (their feed rows among the table's million); baseline: the bare SELECT of
    one cell's feed rows."""
    big = await jsonb_table(bench)
    col = big.column(EDITED)
    rnd = random.Random(5)
    picked = rnd.sample(big.ids, 50)
    async with open_access(bench) as access:
        for n in range(3):  # three versions each, besides the row's creation
            versions = await _versions(bench, big, col, picked)
            for rid in picked:
                await access.edit_cell(big.table.id, rid, col, f"History {n} {rid}", versions[rid])
        calls, bare = [], []
        for i in range(bench.scale.feed_calls):
            rid = picked[i % len(picked)]
            start = time.perf_counter()
            got = await access.client.get(f"/tables/{big.table.id}/records/{rid}/cells/{col}/history")
            calls.append((time.perf_counter() - start) * 1000)
            if got.status_code != 200 or len(got.json()["items"]) < 4:
                raise RuntimeError(f"history of row {rid}: {got.status_code} {got.text[:200]}")
            start = time.perf_counter()
            async with transaction(bench.account_id, engine=bench.engine) as conn:
                await conn.execute(text("SELECT seq, data, prev FROM changes WHERE record_id = :r AND "
                                        "column_id = :c ORDER BY seq DESC LIMIT 50"), {"r": rid, "c": col})
            bare.append((time.perf_counter() - start) * 1000)
    return Result(value=pct(calls, 95), baseline=pct(bare, 95),
                  note=f"median {statistics.median(calls):.1f} ms over {len(calls)} calls",
                  extra={"median": statistics.median(calls), "baseline_median": statistics.median(bare)})


async def _edits(bench: Bench, access, big, col, ids: list[int]) -> list[float]:
    versions = await _versions(bench, big, col, ids)
    out = []
    for rid in ids:
        start = time.perf_counter()
        cell = await access.edit_cell(big.table.id, rid, col, f"Timed {rid}", versions[rid])
        out.append((time.perf_counter() - start) * 1000)
        if cell["version"] != versions[rid] + 1:
            raise RuntimeError(f"edit of row {rid} answered {cell}")
    return out


@metric("cell_edit_history_ratio", unit="×", target="<= 1.15")
async def cell_edit_history(bench: Bench) -> Result:
    """p99 of a manual cell edit through the API (as `cell_edit_p99_ms`) with history over the same without
    it (the feed triggers of before history, no change set), in alternating blocks on the 100,000-row
    table; baseline 1."""
    big = await jsonb_table(bench)
    col = big.column(EDITED)
    s = bench.scale
    per_block = max(50, s.edits // ROUNDS)
    ids = random.Random(17).sample(big.ids, 2 * ROUNDS * per_block + s.warmup)
    warm, rest = ids[:s.warmup], ids[s.warmup:]
    with_h: list[float] = []
    without: list[float] = []
    async with open_access(bench) as access:
        await _edits(bench, access, big, col, warm)
        for n in range(ROUNDS):
            block = rest[2 * n * per_block:(2 * n + 2) * per_block]
            with_h += await _edits(bench, access, big, col, block[:per_block])
            async with history_off(bench.engine):
                await _edits(bench, access, big, col, block[per_block:per_block + 5])  # re-planned, warm
                without += await _edits(bench, access, big, col, block[per_block + 5:])
    on, off = pct(with_h, 99), pct(without, 99)
    return Result(value=round(on / off, 3), baseline=1.0,
                  note=f"p99 {on:.1f} ms with history, {off:.1f} ms without; medians "
                       f"{statistics.median(with_h):.1f} / {statistics.median(without):.1f} ms",
                  extra={"p99_with_ms": on, "p99_without_ms": off, "edits_each": len(with_h)})


@metric("pipeline_history_ratio", unit="×", target="<= 1.15")
async def pipeline_history(bench: Bench) -> Result:
    """Cells per second of the fill pipeline (as `pipeline_cells_per_s`, zero-latency fake LLM) without
    history over the same with it, alternating; baseline 1. The workers keep each call's rows as sent and
    raw answer in both (that write is not turned off)."""
    cells = 10_000 if bench.scale.rows >= 100_000 else 2_000
    on, off = [], []
    for _ in range(PIPELINE_ROUNDS):
        on.append((await fills.pipeline_cells_per_s(bench.url, cells=cells)).value)
        async with history_off(bench.engine):
            off.append((await fills.pipeline_cells_per_s(bench.url, cells=cells)).value)
    with_h, without = statistics.median(on), statistics.median(off)
    return Result(value=round(without / with_h, 3), baseline=1.0,
                  note=f"{with_h:,.0f} cells/s with history, {without:,.0f} without",
                  extra={"with_cells_per_s": on, "without_cells_per_s": off, "cells": cells})
