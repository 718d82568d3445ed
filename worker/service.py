"""The leader's loop: relay the outbox (woken by NOTIFY) and sweep. Every `tablechat worker` runs this;
one at a time leads (a PostgreSQL advisory lock), the others wait to take over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from redis.asyncio import Redis

from core.settings import get_settings
from db.engine import make_engine
from jobs.progress import Progress
from worker.lease import LEADER_KEY, AdvisoryLock
from worker.outbox import Relay
from worker.settings import WorkerSettings, get_worker_settings
from worker.sweeper import Sweeper

log = logging.getLogger(__name__)

POLL_S = 1.0
BULK_POLL_S = 0.05  # while bulk messages wait for room in the broker, it is topped up this often
FORGET_EVERY_S = 3600.0
MAINTAIN_EVERY_S = 600.0  # sort indexes (db/sort_indexes.py), when the schema owner's URL is configured


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
    return event.is_set()


async def serve(stop: asyncio.Event, broker: Any | None = None, settings: WorkerSettings | None = None) -> None:
    """Lead when possible until `stop` is set."""
    if broker is None:
        from worker.broker import broker
    app, settings = get_settings(), settings or get_worker_settings()
    leader = AdvisoryLock(app.database_url or "", LEADER_KEY)
    redis = Redis.from_url(app.redis_url or "redis://127.0.0.1:6379/0", socket_connect_timeout=2, socket_timeout=10)
    progress = Progress(redis, settings.redis_prefix, settings.progress_interval_s)
    engine = make_engine(app.database_url or "", pool_size=2)
    try:
        while not stop.is_set():
            try:
                leading = await leader.acquire(wait=False)
            except (OSError, asyncpg.PostgresError) as exc:  # the database is unreachable: try again later
                log.warning("leader lock unavailable: %s", exc)
                leading = False
            if not leading:
                await _wait(stop, settings.sweep_interval_s)
                continue
            log.info("leading: relaying the outbox and sweeping")
            try:
                await _lead(leader, stop, Relay(engine, broker, window=settings.bulk_window),
                            Sweeper(engine, settings, _publisher(progress), redis), settings.sweep_interval_s)
            except Exception:
                log.exception("leader loop failed; starting over")
                await _wait(stop, 1.0)
            finally:
                with contextlib.suppress(Exception):
                    await leader.release()
    finally:
        await redis.aclose()
        await engine.dispose()


def _publisher(progress: Progress):
    async def publish(jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            await progress.publish(job)
    return publish


async def _lead(leader: AdvisoryLock, stop: asyncio.Event, relay: Relay, sweeper: Sweeper, sweep_s: float) -> None:
    wake = asyncio.Event()
    conn = leader.connection
    await conn.add_listener("tc_outbox", lambda *_: wake.set())
    loop = asyncio.get_running_loop()
    next_sweep = next_forget = next_maintain = loop.time()
    owner_url = get_settings().database_owner_url
    maintaining: asyncio.Task[Any] | None = None
    try:
        while not stop.is_set() and leader.held:
            wake.clear()
            if owner_url and loop.time() >= next_maintain and (maintaining is None or maintaining.done()):
                # beside the relay, not in its way: an index built CONCURRENTLY may take a while
                maintaining = asyncio.create_task(_maintain(owner_url))
                next_maintain = loop.time() + MAINTAIN_EVERY_S
            await relay.drain()
            if loop.time() >= next_sweep:
                await sweeper.sweep()
                next_sweep = loop.time() + sweep_s
                await relay.drain()
            if loop.time() >= next_forget:
                await relay.forget_sent()
                next_forget = loop.time() + FORGET_EVERY_S
            if wake.is_set():
                continue
            await _wait(wake, BULK_POLL_S if relay.bulk_waits else min(POLL_S, max(0.05, next_sweep - loop.time())))
    finally:  # an index build cut short is dropped and tried again by the next round
        if maintaining is not None and not maintaining.done():
            maintaining.cancel()


async def _maintain(owner_url: str) -> None:
    from db.sort_indexes import maintain

    try:
        await maintain(owner_url)
    except Exception:  # the next round tries again; the app works without the indexes, only slower
        log.exception("building sort indexes failed")
