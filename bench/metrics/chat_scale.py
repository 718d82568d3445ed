"""chat200_p95_s: many chat sessions at once through HAProxy (deploy/haproxy.cfg) over 2 app processes,
against the same load through the same balancer on 1 process, in the same run."""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.chat_app import Balancer, ChatApp, Reply, chat_round, logins
from bench.context import Bench
from bench.harness import Result, metric, pct
from core.balancer import shared_pools
from core.settings import get_settings

ASK = "create a table of books"


@dataclass(frozen=True)
class ScaleSizes:
    """How much chat200 does; a test provides smaller ones as the fixture `chat_scale_sizes`."""

    sessions: int = 200
    processes: int = 2
    reply_timeout_s: float = 120.0
    start_timeout_s: float = 120.0


async def _sizes(bench: Bench) -> ScaleSizes:
    async def build() -> ScaleSizes:
        return ScaleSizes()

    return await bench.fixture("chat_scale_sizes", build)


async def _crowd(url: str, cookies: list[str], n: ScaleSizes) -> tuple[list[Reply], list[str], float]:
    started = time.perf_counter()
    replies, errors = await chat_round(url, cookies, ASK, n.reply_timeout_s)
    return replies, errors, time.perf_counter() - started


def _summary(replies: list[Reply]) -> dict[str, float]:
    seconds = [r.seconds for r in replies]
    return {"p95": pct(seconds, 95), "median": statistics.median(seconds), "max": max(seconds)}


@metric("chat200_p95_s", unit="s", target="< 1")
async def chat200(bench: Bench) -> Result:
    """p95 from sending a message to its complete reply for 200 chat sessions of 200 accounts asking at
    the same moment “create a table of books” (offline model) through HAProxy on the shipped
    configuration over 2 app processes (`chainlit run app.py`, one login secret); any session that fails
    to open, times out or gets a reply without its buttons or preview is an error, and errors fail the
    metric. Baseline: the same 200 sessions through the same balancer with 1 app process behind it."""
    n = await _sizes(bench)
    data = get_settings().data_dir
    secret = secrets.token_urlsafe(32)  # a login cookie of one process is good on the others
    logs = data / "bench-chat200-app"

    async def crowd(processes: int, cookies: list[str] | None) -> tuple[list[str], list[Reply], list[str], float,
                                                                          float, float]:
        """`processes` app processes (each with its share of one process's database connections, as
        `tablechat run --processes` gives them) behind HAProxy; the logins when not given, then one round."""
        apps = [ChatApp(bench.url, logs.with_name(f"{logs.name}{processes}-{i + 1}.log"), secret=secret,
                        env=shared_pools(processes, {})) for i in range(processes)]
        front = Balancer([a.port for a in apps], data / f"bench-chat200-haproxy-{processes}.cfg")
        try:
            await asyncio.gather(*(a.start(n.start_timeout_s) for a in apps))
            await front.start(30)
            cookies = cookies or await logins(front.url, bench.engine, n.sessions + processes)
            for app, cookie in zip(apps, cookies[n.sessions:], strict=False):  # each pays for lazy imports
                await chat_round(app.url, [cookie], ASK, n.reply_timeout_s)
            cpu, own = sum(a.cpu_s() for a in apps), time.process_time()
            replies, errors, wall = await _crowd(front.url, cookies[:n.sessions], n)
            cpu, own = sum(a.cpu_s() for a in apps) - cpu, time.process_time() - own
            errors += [f"{a.log_path.name}: {a.log().count('Traceback')} traceback(s)" for a in apps
                       if "Traceback" in a.log()]
            return cookies, replies, errors, wall, cpu, own
        finally:
            await front.stop()
            await asyncio.gather(*(a.stop() for a in apps), return_exceptions=True)

    cookies, solo_replies, solo_errors, solo_wall, solo_cpu, _ = await crowd(1, None)
    _, replies, errors, wall, cpu, client_cpu = await crowd(n.processes, cookies + cookies[:n.processes])
    if errors or solo_errors:
        shown = "; ".join(dict.fromkeys(errors + solo_errors))[:1500]
        raise RuntimeError(f"{len(errors)} error(s) over {n.processes} processes, {len(solo_errors)} on 1 "
                           f"(logs: {data}/bench-chat200-app*.log): {shown}")
    many, single = _summary(replies), _summary(solo_replies)
    extra: dict[str, Any] = {
        "sessions": len(replies), "errors": 0, "processes": n.processes, "cores": os.cpu_count(),
        "median": many["median"], "max": many["max"], "round_wall_s": wall,
        "baseline_median": single["median"], "baseline_max": single["max"], "baseline_round_wall_s": solo_wall,
        # what bounds the p95: the app's CPU for the round (opening the chats and the replies), spread over
        # the processes only as far as there are free cores; the client's own CPU competes on this machine
        "app_cpu_s": round(cpu, 2), "app_cpu_ms_per_session": round(1000 * cpu / len(replies), 1),
        "baseline_app_cpu_s": round(solo_cpu, 2), "client_cpu_s": round(client_cpu, 2),
    }
    return Result(
        value=many["p95"], baseline=single["p95"],
        note=(f"{len(replies)} sessions through HAProxy, errors 0; {n.processes} processes: median "
              f"{many['median']:.2f} s, max {many['max']:.2f} s; 1 process: p95 {single['p95']:.2f} s, median "
              f"{single['median']:.2f} s; app CPU {1000 * cpu / len(replies):.0f} ms per session; "
              f"{os.cpu_count()} cores"),
        extra=extra,
    )
