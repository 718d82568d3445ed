"""The bench harness: entries and the merged bench.json, and one small real run on PostgreSQL."""

import json
import subprocess
import sys

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.__main__ import main
from bench.context import FULL
from bench.harness import Metric, Result, Target
from bench.report import entry, merge_write, render
from core.settings import ROOT


async def _noop(bench):
    return Result(0)


def test_entry_has_value_baseline_ratio_and_target():
    m = Metric("x_s", "s", Target.parse("<= 8"), "x", _noop)
    fast, slow = entry(m, Result(4.0, baseline=8.0), FULL), entry(m, Result(9.0, baseline=3.0), FULL)
    assert (fast["value"], fast["baseline"], fast["ratio"], fast["target"], fast["met"]) == (4, 8, 0.5, "<= 8", True)
    assert (slow["ratio"], slow["met"]) == (3, False)
    assert "NO" in render({"x_s": slow}).splitlines()[2]
    assert Target.parse(">= 50").met(60) and not Target.parse("< 1").met(1)
    with pytest.raises(ValueError):
        Target.parse("about 8")


def test_merge_keeps_keys_not_measured(tmp_path):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"fill_speedup": {"value": 60}, "first_page_ms": {"value": 99}}))
    merge_write(out, {"first_page_ms": {"value": 12}})
    assert json.loads(out.read_text()) == {"fill_speedup": {"value": 60}, "first_page_ms": {"value": 12}}


def test_unknown_key_is_refused():
    with pytest.raises(SystemExit, match="unknown metric"):
        main(["--only", "first_page_ms,no_such_metric"])


def _bench_databases(url):
    dsn = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'tablechat_bench_%'")}


def test_small_run_writes_every_key_and_drops_its_database(tmp_path, database_url):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"fill_speedup": {"value": 60}}))
    before = _bench_databases(database_url)
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--rows", "3000", "--out", str(out),
         "--only", "first_page_ms,cell_edit_p99_ms,updates_p95_ms"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert _bench_databases(database_url) <= before
    header = next(line for line in run.stdout.splitlines() if line.startswith("metric"))
    assert header.split()[:5] == ["metric", "value", "baseline", "ratio", "target"]
    written = json.loads(out.read_text())
    assert set(written) == {"fill_speedup", "first_page_ms", "cell_edit_p99_ms", "updates_p95_ms"}
    for key in ("first_page_ms", "cell_edit_p99_ms", "updates_p95_ms"):
        e = written[key]
        assert e["unit"] == "ms" and e["rows"] == 3000 and e["target"] in ("<= 50", "<= 20")
        assert e["value"] > 0 and e["baseline"] > 0
        assert e["ratio"] == pytest.approx(e["value"] / e["baseline"], rel=0.01)
        assert key in run.stdout
    assert written["first_page_ms"]["p95"] >= written["first_page_ms"]["value"]
