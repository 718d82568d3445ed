"""The live view's push (`GET …/events`, api/live_feed.py): how soon an edit reaches 200 open views of a
table, and how many database statements one open, idle view costs against today's one-second poll.
Through a real HTTP server (uvicorn on the bench's loop and engine): an in-process ASGI client cannot
follow a stream that does not end."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

from api.routes_events import RECHECK_S
from bench.context import Bench
from bench.harness import Result, metric, pct

SUBSCRIBERS = 200
EDITS = 30
EDIT_GAP_S = 0.1
IDLE_WINDOW_S = 20.0  # longer than the stream's 15 s heartbeat
POLL_WINDOW_S = 5.0
POLL_EVERY_S = 1.0  # LiveTable's POLL_MS


@asynccontextmanager
async def served(bench: Bench) -> AsyncIterator[tuple[str, Any]]:
    """The API on a free local port in this process; yields (base url, app)."""
    import uvicorn

    from api.app import create_api

    app = create_api(engine=bench.engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        for hub in getattr(app.state, "feed_hubs", {}).values():
            await hub.close()
        server.should_exit = True
        await task


@asynccontextmanager
async def counted_statements(bench: Bench) -> AsyncIterator[list[int]]:
    """A one-item list holding how many SQL statements the bench's engine has run since the block began."""
    box = [0]

    def count(*_: Any) -> None:
        box[0] += 1

    event.listen(bench.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield box
    finally:
        event.remove(bench.engine.sync_engine, "before_cursor_execute", count)


async def _small_table(bench: Bench, http: Any) -> tuple[str, str, int, int]:
    """A 100-row table of the bench login: (table id, column id, a row id, feed cursor)."""
    r = await http.post("/tables", json={"name": f"Live {time.time_ns()}",
                                         "columns": [{"name": "Title", "type": "text"},
                                                     {"name": "Points", "type": "number"}]})
    r.raise_for_status()
    table = r.json()
    tid, cid = table["id"], table["columns"][1]["id"]
    r = await http.post(f"/tables/{tid}/records", json={"rows": [{"Title": f"row {i}", "Points": i}
                                                                for i in range(100)]})
    r.raise_for_status()
    page = (await http.get(f"/tables/{tid}/records", params={"limit": 1})).json()
    return tid, cid, page["items"][0]["id"], page["cursor"]


async def _subscribers(base: str, bench: Bench, tid: str, cursor: int, n: int) -> asyncio.subprocess.Process:
    """`n` views of the table in a process of their own (bench/subscribers.py), all caught up."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.subscribers", base, bench.token, tid, str(cursor), str(n),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    if line.strip() != b"ready":
        proc.kill()
        raise RuntimeError(f"the subscribers did not open: {line!r}")
    return proc


async def _pushed(bench: Bench, base: str, http: Any, app: Any, n: int, edits: int) -> dict[str, Any]:
    """Latencies (ms) from each of `edits` REST cell edits to its event at each of `n` subscribers of a new
    table, the edits' own round trips, and how many shared feed reads they took."""
    tid, cid, rid, cursor = await _small_table(bench, http)
    proc = await _subscribers(base, bench, tid, cursor, n)
    hub = next(iter(app.state.feed_hubs.values()))
    reads_before = hub.reads
    starts: list[float] = []
    edit_ms = []
    version = 0
    try:
        for value in range(edits):
            starts.append(time.time())
            began = time.perf_counter()
            r = await http.patch(f"/tables/{tid}/records/{rid}/cells/{cid}", json={"value": value, "version": version})
            r.raise_for_status()
            edit_ms.append((time.perf_counter() - began) * 1000)
            version = r.json()["version"]
            await asyncio.sleep(EDIT_GAP_S)
        await asyncio.sleep(2)  # for the last events to arrive
    finally:
        out, _ = await asyncio.wait_for(proc.communicate(b"done\n"), 60)
    reads = hub.reads - reads_before
    feed = (await http.get(f"/tables/{tid}/updates", params={"cursor": cursor})).json()["changes"]
    seqs = [c["seq"] for c in feed]
    if len(seqs) != edits:
        raise RuntimeError(f"{len(seqs)} changes in the feed for {edits} edits")
    sent = dict(zip(seqs, starts))
    arrived: dict[int, list[float]] = {seq: [] for seq in seqs}
    for row in out.decode().splitlines():
        seq, at = row.split()
        arrived[int(seq)].append(float(at))
    missing = sum(n - len(v) for v in arrived.values())
    if missing:
        raise RuntimeError(f"{missing} of {edits * n} pushed changes never arrived")
    return {"latencies": [(at - sent[seq]) * 1000 for seq, ats in arrived.items() for at in ats],
            "first": [(min(ats) - sent[seq]) * 1000 for seq, ats in arrived.items()],
            "edit_ms": edit_ms, "reads": reads}


@metric("push_latency_p95_ms", unit="ms", target="<= 50")
async def push_latency(bench: Bench) -> Result:
    """p95 from sending a cell edit through the REST API to its `change` event at a subscriber, with 200
    views of the table following its event stream from another process, as browsers would (30 edits,
    each seen by all 200); baseline: the p95 of the edit's own round trip. The note also gives the p95
    with one subscriber (the way there without the fan-out)."""
    import httpx

    async with served(bench) as (base, app), httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {bench.token}"},
            timeout=httpx.Timeout(30, read=None)) as http:
        one = await _pushed(bench, base, http, app, 1, EDITS)
        many = await _pushed(bench, base, http, app, SUBSCRIBERS, EDITS)
    latencies, edit_ms = many["latencies"], many["edit_ms"]
    first_ms = pct(many["first"], 50)
    one_p95 = pct(one["latencies"], 95)
    return Result(
        value=pct(latencies, 95), baseline=pct(edit_ms, 95),
        note=f"{SUBSCRIBERS} subscribers × {EDITS} edits; median {pct(latencies, 50):.1f} ms, "
             f"max {max(latencies):.0f} ms, first subscriber {first_ms:.0f} ms (medians); edit median "
             f"{pct(edit_ms, 50):.0f} ms; one subscriber alone: p95 {one_p95:.0f} ms; "
             f"{many['reads']} shared feed reads for {EDITS} edits",
        extra={"median_ms": pct(latencies, 50), "first_subscriber_median_ms": first_ms,
               "p99_ms": pct(latencies, 99), "max_ms": max(latencies), "one_subscriber_p95_ms": one_p95,
               "edit_median_ms": pct(edit_ms, 50), "shared_reads": many["reads"], "subscribers": SUBSCRIBERS,
               "edits": EDITS},
    )


async def _one_recheck(bench: Bench, http: Any, tid: str, cursor: int) -> int:
    """The statements of one of a stream's periodic checks of its caller and table (made due at once)."""
    from api import routes_events

    every = routes_events.RECHECK_S
    routes_events.RECHECK_S = 1.0
    try:
        async with http.stream("GET", f"/tables/{tid}/events", params={"cursor": cursor}) as r:
            r.raise_for_status()
            lines = r.aiter_lines()
            async for line in lines:
                if line.startswith("event: ready"):
                    break
            async with counted_statements(bench) as box:
                await asyncio.sleep(1.5)
            return box[0]
    finally:
        routes_events.RECHECK_S = every


@metric("idle_view_queries_per_min", unit="queries/min", target="<= 1")
async def idle_view_queries(bench: Bench) -> Result:
    """SQL statements per minute caused by one open live view of a table nobody changes: its event stream
    held open for 20 s (heartbeats included), after it has opened; baseline: the same view polling
    `/updates` every second as it did before the push (statements over 5 s, per minute)."""
    import httpx

    async with served(bench) as (base, app), httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {bench.token}"},
            timeout=httpx.Timeout(30, read=None)) as http:
        tid, _, _, cursor = await _small_table(bench, http)
        async with counted_statements(bench) as polled:
            polls = 0
            start = time.perf_counter()
            while time.perf_counter() - start < POLL_WINDOW_S:
                (await http.get(f"/tables/{tid}/updates", params={"cursor": cursor})).raise_for_status()
                polls += 1
                await asyncio.sleep(POLL_EVERY_S)
            poll_window = time.perf_counter() - start
        pings = 0
        async with http.stream("GET", f"/tables/{tid}/events", params={"cursor": cursor}) as r:
            r.raise_for_status()
            lines = r.aiter_lines()
            async for line in lines:
                if line.startswith(("event: ready", "event:ready")):
                    break
            async with counted_statements(bench) as idle:
                start = time.perf_counter()

                async def read() -> None:
                    nonlocal pings
                    async for line in lines:
                        pings += line.startswith(":")

                try:
                    await asyncio.wait_for(read(), IDLE_WINDOW_S)
                except TimeoutError:
                    pass
                idle_window = time.perf_counter() - start
        listener_checks = 60 / next(iter(app.state.feed_hubs.values())).listener.check_every_s
        recheck = await _one_recheck(bench, http, tid, cursor)
    per_min = idle[0] * 60 / idle_window + recheck * 60 / RECHECK_S
    poll_per_min = polled[0] * 60 / poll_window
    return Result(
        value=per_min, baseline=poll_per_min,
        note=f"{idle[0]} statements in {idle_window:.0f} s open, {pings} heartbeats, and {recheck} every "
             f"{RECHECK_S / 60:g} min to check the token and the table again; the poll: {polls} requests, "
             f"{polled[0]} statements in {poll_window:.0f} s; plus {listener_checks:g}/min per process (the "
             "listener's link check), whatever the number of views",
        extra={"idle_statements": idle[0], "recheck_statements": recheck, "recheck_every_s": RECHECK_S, "idle_window_s": idle_window, "heartbeats": pings,
               "poll_requests": polls, "poll_statements": polled[0], "listener_checks_per_min": listener_checks},
    )
