"""Import and export metrics of SPEC §10: a 100,000-row × 10-column CSV from bytes to a committed table,
and that table back to CSV; baselines are pandas alone reading and writing the same data in memory
(the floor of parsing and formatting, without types, coercion or the database)."""

from __future__ import annotations

import io
import time
from typing import Any

import pandas as pd

from bench.context import Bench
from bench.harness import Result, metric
from bench.imports import bench_import_100k, make_csv


async def _measured(bench: Bench) -> dict[str, Any]:
    async def build() -> dict[str, Any]:
        rows = bench.scale.rows
        result = await bench_import_100k(bench.engine, rows=rows)
        data = make_csv(rows)
        start = time.perf_counter()
        frame = pd.read_csv(io.BytesIO(data))
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        frame.to_csv(index=False)
        write_s = time.perf_counter() - start
        return result | {"pandas_read_s": read_s, "pandas_write_s": write_s, "rows": rows}

    return await bench.fixture("dataio_import_export", build)


@metric("import_100k_s", unit="s", target="<= 8")
async def import_100k(bench: Bench) -> Result:
    """Import a 100,000-row × 10-column CSV (detect, parse, infer types, coerce, insert, commit)."""
    m = await _measured(bench)
    return Result(m["import_100k_s"], baseline=m["pandas_read_s"],
                  note=f"{m['rows']:,} rows; baseline: pandas.read_csv of the same bytes")


@metric("export_100k_s", unit="s", target=None)
async def export_100k(bench: Bench) -> Result:
    """Export the imported table as CSV (paged reads, formula-injection guard)."""
    m = await _measured(bench)
    return Result(m["export_100k_s"], baseline=m["pandas_write_s"],
                  note=f"{m['rows']:,} rows; baseline: DataFrame.to_csv in memory")
