"""`python -m bench [--only KEY,KEY] [--quick]`: measure, print one table, merge into .data/bench.json."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import metrics  # noqa: F401  (registers the metrics)
from bench.context import FULL, QUICK, Bench, Scale
from bench.harness import METRICS, Metric
from bench.report import entry, merge_write, render


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--only", metavar="KEY[,KEY]", help="measure only these keys")
    p.add_argument("--quick", action="store_true",
                   help="a smaller run (10,000 rows); writes .data/bench-quick.json unless --out is given")
    p.add_argument("--rows", type=int, help="rows of the big table (default 100,000; 10,000 with --quick)")
    p.add_argument("--out", type=Path, help="where to merge the results (default .data/bench.json)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--list", action="store_true", help="list the metrics and exit")
    return p


def _select(only: str | None) -> list[Metric]:
    if not only:
        return list(METRICS)
    wanted = [k.strip() for k in only.split(",") if k.strip()]
    known = {m.key for m in METRICS}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise SystemExit(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [m for m in METRICS if m.key in wanted]


async def _measure(url: str, selected: list[Metric], scale: Scale) -> tuple[dict[str, Any], list[str]]:
    from db.engine import dispose_engines, get_engine

    results: dict[str, Any] = {}
    failed: list[str] = []
    bench = Bench(url=url, engine=get_engine(url), scale=scale)
    try:
        await bench.setup()
        for m in selected:
            print(f"bench: measuring {m.key} …", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                result = await m.run(bench)
            except Exception:  # noqa: BLE001  (one failing metric must not cost the others' numbers)
                traceback.print_exc()
                failed.append(m.key)
                continue
            results[m.key] = entry(m, result, scale)
            print(f"bench: {m.key} = {results[m.key]['value']} {m.unit} "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    finally:
        await dispose_engines()
    return results, failed


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for m in METRICS:
            target = f"{'ratio ' if m.on_ratio else ''}{m.target}" if m.target else "none"
            print(f"{m.key}  ({m.unit}, target {target})\n    {m.about}")
        return 0
    selected = _select(args.only)
    scale = QUICK if args.quick else FULL
    if args.rows:
        scale = dataclasses.replace(scale, rows=args.rows)
    from core.settings import get_settings

    out = args.out or get_settings().data_dir / ("bench-quick.json" if args.quick else "bench.json")
    from bench.database import bench_database

    started = time.perf_counter()
    with bench_database() as url:
        results, failed = asyncio.run(_measure(url, selected, scale))
    print(render(results))
    if results:
        merge_write(out, results)
    print(f"\n{len(results)} measured in {time.perf_counter() - started:.0f} s at {scale.rows:,} rows; "
          f"written to {out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    missed = [k for k, e in results.items() if e["met"] is False]
    if failed:
        return 2
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
