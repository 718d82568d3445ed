"""Benchmarks of the fill pipeline (SPEC §10), as functions for the bench harness:

- `fill_speedup`: an AI fill of 1,000 rows against a one-SDK-call-per-cell loop, the fake LLM answering in
  200 ms + 5 ms per output token (the loop is timed on a sample of cells and scaled to all of them);
- `pipeline_cells_per_s`: 10,000 cells, zero-latency fake, from the enqueue to the job's final progress
  event, on warm workers (see WARM_UP_CELLS) and a vacuumed database (see Rig.settle);
- `tokens_per_cell_ratio`: billed input tokens per cell (cache writes at 125 %, reads at 10 %) of a fill
  against one uncached call per cell with the same instructions. The fake caches a prefix only from the
  model's minimum cacheable length (worker/llm.py MIN_CACHE_TOKENS), as the API does: a fill's prefix of
  a couple of hundred tokens is not cached, and the ratio comes from the rows per call and their encoding.

Each runs the real pipeline: `tablechat worker` processes, the outbox, Redis, the official SDK, talking
to the fake LLM server (tests/fakes/cell_llm.py) in a process of its own. The database at `url` must be
migrated; each run makes its own login and tables there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
from redis.asyncio import Redis
from sqlalchemy import text

from core.settings import ROOT, get_settings
from db import accounts, ai_cells, records, tables
from db.engine import make_engine, transaction
from db.schemas import AiConfig, ColumnCreate, TablePublic
from jobs import progress
from worker import prompt
from worker.llm import AnthropicCellModel, min_cache_tokens

FAKE = ROOT / "tests" / "fakes" / "cell_llm.py"
# Workers are long-lived: the first 10,000 cells a fresh worker fills cost it 50-80% more CPU per
# cell (connections opened and statements prepared per pool connection, caches filled), so measurements
# start on workers that have filled this many cells.
WARM_UP_CELLS = 2000
WORDS = ("cloud", "billing", "platform", "for", "mid-size", "retailers", "with", "a", "focus", "on", "fast",
         "checkout,", "loyalty", "programs", "and", "inventory", "sync", "across", "stores", "warehouses", "and",
         "marketplaces")


@dataclass
class Measured:
    """A measurement: the value, the baseline measured in the same run, and what else was seen."""

    value: float
    baseline: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _description(n: int) -> str:
    return f"Company {n}: " + " ".join(WORDS[(n + i) % len(WORDS)] for i in range(14))


class Rig:
    """The fake LLM and `tablechat worker` processes, for one measurement."""

    def __init__(self, url: str, *, concurrency: int | None = None, rows_per_call: int | None = None,
                 processes: int = 2, threads: int = 8):
        settings = get_settings()
        self.url = url
        self.concurrency = concurrency or settings.max_concurrency
        self.rows_per_call = rows_per_call or settings.rows_per_call
        self.processes, self.threads = processes, threads
        self.redis_url = settings.redis_url or "redis://127.0.0.1:6379/0"
        self.prefix = f"tcbench{uuid.uuid4().hex[:8]}"
        self.fake_url = ""
        self.engine = make_engine(url, pool_size=4)
        self._procs: list[subprocess.Popen] = []
        self.redis = Redis.from_url(self.redis_url, socket_timeout=None)  # reads block for a whole fill
        self.http = httpx.AsyncClient(timeout=30)

    def _start(self) -> None:
        port = _free_port()
        self.fake_url = f"http://127.0.0.1:{port}"
        self._procs.append(subprocess.Popen([sys.executable, str(FAKE), "--port", str(port)], cwd=ROOT,
                                            stdout=subprocess.DEVNULL, start_new_session=True))
        env = dict(os.environ, DATABASE_URL=self.url, REDIS_URL=self.redis_url, TABLECHAT_REDIS_PREFIX=self.prefix,
                   TABLECHAT_LLM="anthropic", ANTHROPIC_API_KEY="bench", ANTHROPIC_BASE_URL=self.fake_url,
                   TABLECHAT_MAX_CONCURRENCY=str(self.concurrency), TABLECHAT_ROWS_PER_CALL=str(self.rows_per_call),
                   TABLECHAT_MAX_JOB_COST_USD="1000", TABLECHAT_BATCH_POLL_S="0.5", PYTHONUNBUFFERED="1")
        self._procs.append(subprocess.Popen(
            [sys.executable, "-m", "cli.worker_command", "worker", "--processes", str(self.processes),
             "--threads", str(self.threads)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))

    async def __aenter__(self) -> Self:
        self._start()
        for _ in range(200):
            try:
                await self.fake("GET", "stats")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        async with transaction(None, engine=self.engine) as conn:
            self.account = await accounts.create_account(conn, name=f"bench-{self.prefix}", password="bench-pw")
            self.workspace = (await accounts.create_workspace(conn, owner_id=self.account))["id"]
        await self.fill(await self.table(WARM_UP_CELLS))  # warm up: imports, connections, caches, the leader lock
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
            try:  # nothing of the group outlives the measurement
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        keys = await self.redis.keys(f"{self.prefix}:*")
        if keys:
            await self.redis.delete(*keys)
        await self.redis.aclose()
        await self.http.aclose()
        await self.engine.dispose()

    async def fake(self, method: str, action: str, body: Any = None) -> dict[str, Any]:
        r = await self.http.request(method, f"{self.fake_url}/_fake/{action}", json=body)
        r.raise_for_status()
        return r.json()

    async def table(self, rows: int) -> tuple[TablePublic, str]:
        """A table of `rows` companies with an AI column (its cells pending, not yet queued)."""
        async with transaction(self.account, engine=self.engine) as conn:
            t = await tables.create_table(conn, workspace_id=self.workspace, name=f"Companies {rows}", columns=[
                ColumnCreate(name="Company", type="text"), ColumnCreate(name="Description", type="long_text")])
            data = [{"Company": f"Company {n}", "Description": _description(n)} for n in range(rows)]
            for i in range(0, rows, 5000):
                await records.create_records(conn, t, data[i: i + 5000])
            col = await tables.create_column(conn, t.id, ColumnCreate(name="Pitch", type="text", ai=AiConfig(
                prompt="Write a one-line sales pitch for {Company}, based on {Description}.")))
            return await tables.get_table(conn, t.id), str(col.id)

    async def settle(self) -> None:
        """VACUUM (ANALYZE) the tables a fill works on: the vacuum that the bench's earlier writes (other
        metrics' 100,000-row tables, the warm-up) call for runs before the measurement, not during it."""
        async with self.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM (ANALYZE) records, changes, jobs, outbox, ai_runs"))

    async def fill(self, made: tuple[TablePublic, str], mode: str = "write") -> float:
        """Seconds from queueing every cell to the job's final progress event (`mode` batch: through the
        Message Batches API); the job is then `last_job`."""
        table, column = made
        started = time.perf_counter()
        async with transaction(self.account, engine=self.engine) as conn:
            job = await ai_cells.start_fill(conn, table, column, "all", mode=mode)
        self.last_job = str(job["id"])
        last = "0-0"
        while True:
            for entry_id, event in await progress.read(self.redis, self.prefix, job["id"], last, block_ms=60_000):
                last = entry_id
                if event["status"] not in ("queued", "running"):
                    if event["status"] != "completed" or event["failed"] != "0":
                        raise RuntimeError(f"the bench fill did not complete: {event}")
                    return time.perf_counter() - started

    async def one_call_per_cell(self, made: tuple[TablePublic, str], cells: int) -> float:
        """Seconds for `cells` cells filled one SDK call each, in a loop, with the same instructions (the
        system prompt as plain text: a loop like this sets no cache breakpoint)."""
        table, column = made
        col = next(c for c in table.columns if str(c.id) == column)
        deps = ai_cells.dependencies(table, col)
        pre = prompt.prefix(col, deps)
        model = AnthropicCellModel(api_key="bench", base_url=self.fake_url, timeout=60)
        async with transaction(None, engine=self.engine) as conn:
            res = await conn.execute(_INPUTS, {"t": table.id, "n": cells, "deps": [str(d.id) for d in deps]})
            rows = [ai_cells.Claimed(rid, 1, inputs) for rid, inputs in res.all()]
        started = time.perf_counter()
        for row in rows:
            req = prompt.request(pre, get_settings().cell_model, deps, [row])
            await model.client.messages.create(model=req.model, max_tokens=req.max_tokens, system=req.system,
                                               messages=[{"role": "user", "content": req.user}])
        elapsed = time.perf_counter() - started
        await model.close()
        return elapsed


_INPUTS = text("SELECT id, (SELECT jsonb_object_agg(d, r.data -> d) FROM unnest(CAST(:deps AS text[])) d) "
               "FROM records r WHERE table_id = :t ORDER BY id LIMIT :n")


async def fill_speedup(url: str, *, rows: int = 1000, sample: int = 20, concurrency: int | None = None,
                       rows_per_call: int | None = None) -> Measured:
    """A fill of `rows` rows vs one SDK call per cell in a loop (timed on `sample` cells, scaled)."""
    async with Rig(url, concurrency=concurrency, rows_per_call=rows_per_call) as rig:
        await rig.fake("POST", "reset", {"latency_s": 0.2, "per_output_token_s": 0.005})
        loop_s = await rig.one_call_per_cell(await rig.table(sample), sample) * rows / sample
        made = await rig.table(rows)
        await rig.settle()
        fill_s = await rig.fill(made)
        stats = await rig.fake("GET", "stats")
    return Measured(value=round(loop_s / fill_s, 1), baseline=round(loop_s, 1),
                    note=f"{rows} rows in {fill_s:.1f} s; loop {loop_s / rows * 1000:.0f} ms/cell",
                    extra={"fill_s": round(fill_s, 2), "loop_s_per_cell": round(loop_s / rows, 4),
                           "concurrency": rig.concurrency, "rows_per_call": rig.rows_per_call,
                           "llm_calls": stats["calls"], "max_in_flight": stats["max_inflight"]})


async def pipeline_cells_per_s(url: str, *, cells: int = 10_000, concurrency: int | None = None,
                               rows_per_call: int | None = None, processes: int = 2) -> Measured:
    """Cells per second from queueing `cells` cells to their job's final progress event, zero latency."""
    async with Rig(url, concurrency=concurrency, rows_per_call=rows_per_call, processes=processes) as rig:
        made = await rig.table(cells)
        await rig.fake("POST", "reset", {})
        await rig.settle()
        seconds = await rig.fill(made)
        stats = await rig.fake("GET", "stats")
    return Measured(value=round(cells / seconds), note=f"{cells} cells in {seconds:.2f} s",
                    extra={"seconds": round(seconds, 3), "llm_calls": stats["calls"],
                           "rows_per_call": rig.rows_per_call, "processes": processes})


def _billed(usage: dict[str, int]) -> float:
    """Input tokens as billed: cache writes at 125 %, reads at 10 % (the fake reports cache tokens only for
    a prefix the model would really cache)."""
    return (usage.get("input_tokens", 0) + 1.25 * usage.get("cache_creation_input_tokens", 0)
            + 0.1 * usage.get("cache_read_input_tokens", 0))


async def tokens_per_cell_ratio(url: str, *, rows: int = 500, sample: int = 50,
                                rows_per_call: int | None = None) -> Measured:
    """Billed input tokens per cell of a fill vs one uncached call per cell with the same instructions."""
    async with Rig(url, rows_per_call=rows_per_call) as rig:
        await rig.fake("POST", "reset", {})
        await rig.one_call_per_cell(await rig.table(sample), sample)
        per_call = _billed((await rig.fake("GET", "stats"))["usage"]) / sample
        await rig.fake("POST", "reset", {})
        await rig.fill(await rig.table(rows))
        usage = (await rig.fake("GET", "stats"))["usage"]
        per_cell = _billed(usage) / rows
        await rig.fake("POST", "reset", {"min_cache_tokens": 0})  # a model that would cache this short prefix
        await rig.fill(await rig.table(rows))
        cached = _billed((await rig.fake("GET", "stats"))["usage"]) / rows
    model = get_settings().cell_model
    return Measured(value=round(per_cell / per_call, 3), baseline=round(per_call, 1),
                    note=f"{per_cell:.1f} vs {per_call:.1f} billed input tokens per cell ({model}: caches from "
                         f"{min_cache_tokens(model)} tokens)",
                    extra={"per_cell": round(per_cell, 1), "per_call": round(per_call, 1), "model": model,
                           "min_cache_tokens": min_cache_tokens(model),
                           "ratio_if_any_prefix_were_cached": round(cached / per_call, 3), "usage": usage,
                           "rows_per_call": rig.rows_per_call})


def main() -> None:
    """`python -m bench.fills [KEY…]`: run the measurements against the configured database."""
    from core.services import resolve
    from db.migrate import upgrade

    found = resolve(db_name="tablechat_bench")
    os.environ.update(DATABASE_URL=found.database_url, REDIS_URL=found.redis_url)
    get_settings.cache_clear()
    upgrade(found.owner_url, app_url=found.database_url)
    chosen = sys.argv[1:] or ["fill_speedup", "pipeline_cells_per_s", "tokens_per_cell_ratio"]
    try:
        for key in chosen:
            result = asyncio.run(globals()[key](found.database_url))
            print(f"{key}: {result.value}  (baseline {result.baseline}; {result.note})  {result.extra}", flush=True)
    finally:
        found.stop()


if __name__ == "__main__":
    main()
