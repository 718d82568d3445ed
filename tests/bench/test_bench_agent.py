"""The agent and apply metrics at tiny sizes on the run's database: each key lands in the printed table
and in bench.json with a number and its baseline."""

import dataclasses
import json
import math

from bench.__main__ import main
from bench.context import QUICK, Bench
from bench.harness import METRICS
from bench.metrics.agent import AgentSizes
from bench.report import entry, merge_write, render

KEYS = ("agent_overhead_p95_ms", "prompt_growth_ratio", "chat50_p95_s", "apply_10k_s")
TINY = AgentSizes(turns=20, warmup=2, small_rows=20, sessions=3, solo_runs=1, apply_runs=1,
                  reply_timeout_s=30, start_timeout_s=60)


def test_the_keys_are_registered(capsys):
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for key in KEYS:
        assert f"{key}  (" in listed


async def test_quick_agent_metrics_print_and_write_numbers(database_url, engine, tmp_path):
    scale = dataclasses.replace(QUICK, rows=300, warmup=2)
    bench = Bench(url=database_url, engine=engine, scale=scale)
    await bench.setup()
    bench.provide("agent_sizes", TINY)
    entries = {}
    for m in [m for m in METRICS if m.key in KEYS]:
        entries[m.key] = entry(m, await m.run(bench), scale)

    table = render(entries)
    written = merge_write(tmp_path / "bench.json", entries)
    assert json.loads((tmp_path / "bench.json").read_text()) == written
    for key in KEYS:
        cells = next(line for line in table.splitlines() if line.startswith(key)).split()
        assert float(cells[1].replace(",", "")) > 0 and float(cells[3].replace(",", "")) > 0, cells
        e = written[key]
        assert isinstance(e["value"], float | int) and math.isfinite(e["value"]) and e["value"] > 0, e
        assert e["baseline"] > 0 and e["target"] and e["met"] in (True, False), e

    assert written["agent_overhead_p95_ms"]["turns"] == TINY.turns
    overhead = written["agent_overhead_p95_ms"]
    # the floor answers without reading the request or calling a tool: typically it is not the slower one
    assert overhead["baseline_median"] <= overhead["median"] <= overhead["value"], overhead
    growth = written["prompt_growth_ratio"]
    assert (growth["rows_big"], growth["rows_small"]) == (300, TINY.small_rows)
    assert growth["tokens_big"] >= growth["tokens_small"] > 1000
    chat = written["chat50_p95_s"]
    assert (chat["sessions"], chat["errors"], chat["baseline_runs"]) == (TINY.sessions, 0, TINY.solo_runs)
    assert chat["max"] >= chat["value"] >= chat["median"] > 0
    assert len(written["apply_10k_s"]["runs_s"]) == TINY.apply_runs
