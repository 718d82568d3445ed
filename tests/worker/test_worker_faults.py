"""Faults with real processes: `tablechat worker` instances killed with SIGKILL in the middle of a fill,
and the Redis they use stopped for 20 seconds. Nothing is lost; every fill completes. (The in-process
pipeline of the other modules is not running here: these workers do all the work.)"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
from fakes.cell_llm import free_port
from workerkit import FAST, cells, expected_values, make_sheet, wait_job

import jobs
from core.settings import ROOT
from db.engine import transaction


class Instance:
    """One `tablechat worker` (its own process group, so that it can be killed whole)."""

    def __init__(self, services, fake, redis_url: str, prefix: str, log=subprocess.DEVNULL):
        env = dict(os.environ, DATABASE_URL=services.database_url, REDIS_URL=redis_url, TABLECHAT_LLM="anthropic",
                   ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=fake.url, TABLECHAT_MAX_CONCURRENCY="8",
                   PYTHONUNBUFFERED="1", **{k: str(v) for k, v in FAST.items()})
        env.update(TABLECHAT_REDIS_PREFIX=prefix, TABLECHAT_LLM_TIMEOUT_S="5")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.worker_command", "worker", "--processes", "1", "--threads", "4"],
            cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT if log != subprocess.DEVNULL
            else subprocess.DEVNULL)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        for child in psutil.process_iter(["pid"]):
            try:  # nothing of this group outlives the test
                if os.getpgid(child.pid) == self.proc.pid:
                    child.kill()
            except (psutil.Error, ProcessLookupError):
                continue


def _redis_server(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


async def _fill(engine, sheet):
    async with transaction(sheet.account, engine=engine) as conn:
        return await jobs.start_fill(conn, sheet.table.id, sheet.col("Out"), "all")


async def _until_done(engine, job_id, count, timeout=60):
    deadline = time.monotonic() + timeout
    while (await wait_job(engine, job_id, until=("queued", "running", "completed", "stopped")))["done"] < count:
        assert time.monotonic() < deadline, "the fill made no progress"
        await asyncio.sleep(0.05)


async def _warm_up(engine, unique):
    """Start-up takes seconds (imports, Dramatiq boot): fill a few cells first."""
    warm = await make_sheet(engine, unique + "w", 10)
    await wait_job(engine, (await _fill(engine, warm)).id, timeout=60)


def _check(sheet, got, fake):
    assert {c["s"] for c in got.values()} == {"completed"}
    assert {rid: c["value"] for rid, c in got.items()} == expected_values(sheet, got)
    assert all(c["v"] == 1 for c in got.values())
    assert max(fake.stats()["rows"].values()) <= 3


async def test_a_worker_killed_mid_fill_leaves_nothing_behind(engine, unique, services, fake):
    prefix = f"tckill{uuid.uuid4().hex[:6]}"
    first = Instance(services, fake, services.redis_url, prefix)  # started first: it leads relay and sweeper
    await asyncio.sleep(1.0)
    second = Instance(services, fake, services.redis_url, prefix)
    try:
        await _warm_up(engine, unique)
        sheet = await make_sheet(engine, unique, 2000)
        fake.reset(latency_s=0.15)
        job = await _fill(engine, sheet)
        await _until_done(engine, job.id, 500)
        first.kill()
        await wait_job(engine, job.id, timeout=90)
        got = await cells(engine, sheet)
    finally:
        first.stop()
        second.stop()
    _check(sheet, got, fake)
    resent = sum(1 for n in fake.stats()["rows"].values() if n > 1)
    assert resent > 0, "the killed worker had no call in flight: the test proved nothing"


async def test_redis_down_for_20_seconds_loses_nothing(engine, unique, services, fake, tmp_path):
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(tmp_path)]
    redis_proc = _redis_server(command)
    instance = Instance(services, fake, f"redis://127.0.0.1:{port}/0", f"tcdown{uuid.uuid4().hex[:6]}")
    try:
        await _warm_up(engine, unique)
        sheet = await make_sheet(engine, unique, 600)
        fake.reset(latency_s=0.1)
        job = await _fill(engine, sheet)
        await _until_done(engine, job.id, 100)
        redis_proc.terminate()  # no persistence: queued messages, limiter and progress are all gone
        redis_proc.wait(10)
        stopped_at = (await wait_job(engine, job.id, until=("queued", "running", "completed")))["done"]
        await asyncio.sleep(20)
        during = await wait_job(engine, job.id, until=("queued", "running", "completed"))
        assert during["status"] == "running" and during["done"] < 600
        redis_proc = _redis_server(command)
        done = await wait_job(engine, job.id, timeout=90)
        got = await cells(engine, sheet)
    finally:
        instance.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
    assert done["done"] == 600 and stopped_at < 600
    _check(sheet, got, fake)


async def test_a_killed_worker_process_is_started_again(engine, unique, services, fake):
    instance = Instance(services, fake, services.redis_url, f"tcre{uuid.uuid4().hex[:6]}")
    try:
        await _warm_up(engine, unique)
        (before,) = psutil.Process(instance.proc.pid).children()
        sheet = await make_sheet(engine, unique, 600)
        fake.reset(latency_s=0.1)
        job = await _fill(engine, sheet)
        await _until_done(engine, job.id, 100)
        before.kill()  # SIGKILL: the worker process only; its supervisor stays
        await wait_job(engine, job.id, timeout=90)
        (after,) = psutil.Process(instance.proc.pid).children()
        got = await cells(engine, sheet)
    finally:
        instance.stop()
    assert after.pid != before.pid
    _check(sheet, got, fake)


async def test_ctrl_c_stops_every_process_and_restarts_none(services, fake, tmp_path):
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        instance = Instance(services, fake, services.redis_url, f"tcci{uuid.uuid4().hex[:6]}", log=out)
        try:
            deadline = time.monotonic() + 60
            while log.read_text().count("ready:") < 1:  # its worker process is up
                assert time.monotonic() < deadline and instance.proc.poll() is None, log.read_text()[-2000:]
                await asyncio.sleep(0.1)
            os.killpg(instance.proc.pid, signal.SIGINT)  # what a terminal sends the whole group
            assert instance.proc.wait(30) == 0
        finally:
            instance.stop()
    text = log.read_text()
    assert "Worker has been shut down" in text and "starting it again" not in text, text[-2000:]
