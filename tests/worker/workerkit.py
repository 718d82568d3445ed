"""Helpers for the fill pipeline tests: the fake LLM in its own process, and the real pipeline (Dramatiq
worker threads on Redis, the outbox relay and the sweeper) in this one, pointed at the fake through
the real SDK. Keys in Redis live under a prefix unique to the run."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from db import accounts, records, tables
from db.engine import transaction
from db.schemas import AiConfig, ColumnCreate

PREFIX = f"tctest{uuid.uuid4().hex[:8]}"
# the broker is configured from the environment when worker.broker is first imported
os.environ.setdefault("TABLECHAT_REDIS_PREFIX", PREFIX)

FAST = {"TABLECHAT_REDIS_PREFIX": PREFIX, "TABLECHAT_RETRY_BASE_S": 0.05, "TABLECHAT_RETRY_MAX_S": 2,
        "TABLECHAT_LLM_TIMEOUT_S": 2, "TABLECHAT_SWEEP_INTERVAL_S": 0.3, "TABLECHAT_FULL_SWEEP_S": 2,
        "TABLECHAT_STALL_S": 3, "TABLECHAT_PROGRESS_INTERVAL_S": 0.1, "TABLECHAT_BATCH_POLL_S": 0.2}


def app_settings(services, cell_llm, **changes: Any):
    from core.settings import Settings

    values = {"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url, "TABLECHAT_LLM": "anthropic",
              "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": cell_llm.url, "TABLECHAT_MAX_CONCURRENCY": 8,
              "TABLECHAT_ROWS_PER_CALL": 10, "TABLECHAT_MAX_JOB_COST_USD": 5.0}
    return Settings(**{**values, **changes})


def worker_settings(**changes: Any):
    from worker.settings import WorkerSettings

    return WorkerSettings(**{**FAST, **changes})


class Pipeline:
    """Worker threads and the leader loop in this process; `restart` swaps settings between tests."""

    def __init__(self, services, cell_llm):
        import dramatiq

        from jobs.names import QUEUE
        from worker.actors import broker

        self.services, self.cell_llm, self.broker = services, cell_llm, broker
        self.queue = QUEUE
        self.worker: dramatiq.Worker | None = None
        self.leader: threading.Thread | None = None
        self._stop: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def start(self, *, threads: int = 4, offline: bool = False, **app_changes: Any) -> None:
        """Start; `offline` runs the built-in offline cell model, as `make run` does without a key."""
        from anthropic import AsyncAnthropic

        from worker import runtime
        from worker.consumers import FairWorker
        from worker.llm import AnthropicCellModel, OfflineCellModel

        app = app_settings(self.services, self.cell_llm, **({"TABLECHAT_LLM": "offline"} if offline else {}),
                           **app_changes)
        ws = worker_settings()
        url = self.cell_llm.url

        def model():
            if offline:
                return OfflineCellModel()
            client = AsyncAnthropic(api_key="test", base_url=url, max_retries=0, timeout=ws.llm_timeout_s,
                                    _strict_response_validation=True)
            return AnthropicCellModel(api_key="test", client=client)

        runtime.configure(model_factory=model, app=app, settings=ws)
        self.worker = FairWorker(self.broker, worker_threads=threads, worker_timeout=100)
        self.worker.start()
        ready = threading.Event()

        def lead() -> None:
            from worker.service import serve

            async def main() -> None:
                stop = asyncio.Event()
                self._stop = (asyncio.get_running_loop(), stop)
                ready.set()
                await serve(stop, self.broker, ws)

            asyncio.run(main())

        self.leader = threading.Thread(target=lead, name="leader", daemon=True)
        self.leader.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._stop is not None:
            loop, stop = self._stop
            loop.call_soon_threadsafe(stop.set)
            self.leader.join(15)
            self._stop = None
        if self.worker is not None:
            self.worker.stop(timeout=15_000)
            self.worker = None
        self.broker.flush_all()

    def restart(self, **changes: Any) -> None:
        self.stop()
        self.start(**changes)


@dataclass
class Sheet:
    """A table with a text source column, an AI column, and its rows."""

    account: uuid.UUID
    table: Any
    ids: list[int]

    def col(self, name: str) -> str:
        return next(str(c.id) for c in self.table.columns if c.name == name)


async def make_sheet(engine, unique: str, rows: int, *, ai_type: str = "text", options: list[str] | None = None,
                     prompt: str = "Summarize {Description} in a few words", auto_update: bool = False,
                     extra_ai: list[ColumnCreate] = ()) -> Sheet:
    """An account, a table of `rows` rows (Name, Description) and an AI column "Out" (no cell queued yet)."""
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"w{unique}{uuid.uuid4().hex[:6]}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws["id"], name="Companies", columns=[
            ColumnCreate(name="Name", type="text"), ColumnCreate(name="Description", type="long_text")])
        data = [{"Name": f"Company {n}", "Description": f"Company {n} makes product {n * 7 % 13} for market {n % 5}"}
                for n in range(rows)]
        ids = []
        for i in range(0, rows, 5000):
            ids += await records.create_records(conn, t, data[i: i + 5000])
        await tables.create_column(conn, t.id, ColumnCreate(
            name="Out", type=ai_type, options=options,
            ai=AiConfig(prompt=prompt, depends_on=["Description"], auto_update=auto_update)))
        for col in extra_ai:
            await tables.create_column(conn, t.id, col)
        t = await tables.get_table(conn, t.id)
    return Sheet(account=acc, table=t, ids=ids)


async def cells(engine, sheet: Sheet, column: str = "Out") -> dict[int, dict[str, Any]]:
    """Each row's cell of `column`: value and raw state, plus the row's inputs."""
    key = sheet.col(column)
    async with transaction(None, engine=engine) as conn:
        res = await conn.execute(text("SELECT id, data, meta -> :c AS m FROM records WHERE table_id = :t"),
                                 {"t": sheet.table.id, "c": key})
        return {rid: {"value": data.get(key), "data": data, **(m or {})} for rid, data, m in res.all()}


async def wait_job(engine, job_id: Any, timeout: float = 60.0, until=("completed", "cancelled", "stopped")
                   ) -> dict[str, Any]:
    """Poll the job until it ends (or `timeout`, then fail with its state)."""
    from db.ai_cells import get_job

    deadline = time.monotonic() + timeout
    while True:
        async with transaction(None, engine=engine) as conn:
            job = await get_job(conn, job_id)
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not finish in {timeout} s: {job}")
        await asyncio.sleep(0.05)


def expected_values(sheet: Sheet, got: dict[int, dict[str, Any]], column: str = "Out") -> dict[int, Any]:
    """What the fake answers for each row, from the row's current inputs."""
    from fakes.cell_llm import expected

    col = next(c for c in sheet.table.columns if c.name == column)
    spec = {"name": col.name, "type": col.type, "options": col.options}
    desc = sheet.col("Description")
    return {rid: expected(spec, {"Description": cell["data"].get(desc)}) for rid, cell in got.items()}


async def quiet_cells(engine, sheet: Sheet, column: str = "Out", timeout: float = 15.0) -> dict[int, dict[str, Any]]:
    """The cells once nothing is queued or computing any more (calls in flight when a job ended land)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await cells(engine, sheet, column)
        if not any(c.get("s") in ("pending", "computing") for c in got.values()) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)
