"""chat200_p95_s at a tiny size on the run's database: 1 process then 2 behind HAProxy, numbers and baseline."""

import dataclasses

import pytest

from bench.context import QUICK, Bench
from bench.harness import METRICS
from bench.metrics.chat_scale import ScaleSizes
from bench.report import entry
from core import balancer


async def test_chat200_measures_two_processes_against_one(database_url, engine):
    if balancer.find_haproxy() is None:
        pytest.skip(balancer.INSTALL_HINT)
    scale = dataclasses.replace(QUICK, rows=300, warmup=2)
    bench = Bench(url=database_url, engine=engine, scale=scale)  # the metric makes its own logins: no setup
    bench.provide("chat_scale_sizes", ScaleSizes(sessions=4, reply_timeout_s=60, start_timeout_s=90))
    found = next(m for m in METRICS if m.key == "chat200_p95_s")
    e = entry(found, await found.run(bench), scale)
    assert (e["sessions"], e["errors"], e["processes"]) == (4, 0, 2)
    assert e["max"] >= e["value"] >= e["median"] > 0 and e["baseline"] > 0, e
    assert e["app_cpu_s"] > 0 and e["baseline_app_cpu_s"] > 0, e
    assert e["met"] in (True, False)
