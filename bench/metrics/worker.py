"""AI-fill metrics of SPEC §10, measured by `bench.fills` on the real pipeline (`tablechat worker`
processes, the outbox, Redis, the official SDK) against the fake LLM server in its own process."""

from __future__ import annotations

from bench import batch_cost, fairness, fills
from bench.context import FULL, Bench
from bench.harness import Result, metric


def _full(bench: Bench) -> bool:
    return bench.scale.rows >= FULL.rows


def _result(m: fills.Measured, *, ratio: bool = False) -> Result:
    """A ratio's baseline is 1 (the loop it is measured against); that loop's own figure stays in extra."""
    if ratio:
        return Result(m.value, baseline=1.0, note=m.note, extra=m.extra | {"loop_baseline": m.baseline})
    return Result(m.value, baseline=m.baseline, note=m.note, extra=m.extra)


@metric("fill_speedup", unit="×", target=">= 50")
async def fill_speedup(bench: Bench) -> Result:
    """An AI fill of 1,000 rows against one SDK call per cell in a loop; the fake LLM answers in 200 ms + 5 ms
    per output token (baseline 1: the loop itself)."""
    return _result(await fills.fill_speedup(bench.url, rows=1000 if _full(bench) else 200), ratio=True)


@metric("pipeline_cells_per_s", unit="cells/s", target=">= 5000")
async def pipeline_cells_per_s(bench: Bench) -> Result:
    """10,000 cells end to end with a zero-latency fake LLM: enqueue → all completed, progress sent."""
    return _result(await fills.pipeline_cells_per_s(bench.url, cells=10_000 if _full(bench) else 2_000))


@metric("tokens_per_cell_ratio", unit="×", target="<= 0.25")
async def tokens_per_cell_ratio(bench: Bench) -> Result:
    """Billed input tokens per cell of a fill (cache reads at 10 %) vs one call per cell (baseline 1: that
    loop itself)."""
    return _result(await fills.tokens_per_cell_ratio(bench.url, rows=500 if _full(bench) else 200), ratio=True)


@metric("small_fill_during_bulk_s", unit="s", target="<= 1.5", on_ratio=True)
async def small_fill_during_bulk_s(bench: Bench) -> Result:
    """A 10-cell fill's time to done while a 100,000-cell fill runs (fake LLM at 200 ms + 5 ms per output
    token), against the same fill with the workers idle (baseline); the target bounds their ratio."""
    return _result(await fairness.small_fill_during_bulk(bench.url, bulk_cells=100_000 if _full(bench) else 10_000))


@metric("batch_cost_ratio", unit="×", target="<= 0.5")
async def batch_cost_ratio(bench: Bench) -> Result:
    """Cost of a 1,000-cell fill through the Message Batches API against the same cells filled now (fake LLM;
    baseline 1: the fill made now)."""
    m = await batch_cost.batch_cost_ratio(bench.url, rows=1000 if _full(bench) else 300)
    return Result(m.value, baseline=1.0, note=m.note, extra=m.extra)
