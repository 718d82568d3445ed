"""The sweeper: claims held by worker processes that died go back to the queue (their lease lock is
gone), and jobs that stopped moving get their queued cells sent again (their messages may have been
lost with a broker or a worker). Preview jobs keep their rows in `job_results` instead of cells
(db/previews.py has the same functions for them). Runs in the leader process only."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import ai_cells, previews
from db.engine import transaction
from worker.lease import live_keys
from worker.limiter import free_slots_of_dead
from worker.purge import PURGE_EVERY_S, purge_history
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, engine: AsyncEngine, settings: WorkerSettings,
                 on_jobs: Callable[[list[dict[str, Any]]], Awaitable[None]], redis: Redis | None = None):
        self.engine, self.settings, self.on_jobs, self.redis = engine, settings, on_jobs, redis
        self._seen: set[int] = set()
        self._last_full = 0.0
        self._last_purge = time.monotonic() - PURGE_EVERY_S + 60  # the first purge a minute after start

    async def sweep(self) -> dict[str, int]:
        """One pass; returns how many cells were recovered from dead workers and re-sent."""
        async with transaction(None, engine=self.engine) as conn:
            live = await live_keys(conn)
            read_at = (await conn.execute(text("SELECT extract(epoch FROM clock_timestamp())"))).scalar_one()
            jobs = await ai_cells.active_jobs(conn)
        died = self._seen - set(live)
        self._seen = set(live)
        if self.redis is not None:
            try:  # slots of dead processes count against everyone's limit until freed
                await free_slots_of_dead(self.redis, self.settings.redis_prefix, set(live), float(read_at))
            except (RedisError, OSError):
                pass
        full = bool(died) or time.monotonic() - self._last_full >= self.settings.full_sweep_s
        if full:
            self._last_full = time.monotonic()
        stats = {"recovered": 0, "resent": 0}
        for job in jobs:
            changed: list[dict[str, Any]] = []
            store = _store(job)
            async with transaction(None, engine=self.engine) as conn:
                if full:
                    n, changed = await store.recover_dead(conn, job, live, self.settings.lease_s, float(read_at))
                    stats["recovered"] += n
                if job["idle_s"] >= self.settings.stall_s:
                    n, finished = await store.requeue_stalled(conn, job)
                    stats["resent"] += n
                    changed += finished
            if changed:
                await self.on_jobs(changed)
        if full:
            async with transaction(None, engine=self.engine) as conn:
                ended = await ai_cells.ended_jobs(conn, 2 * self.settings.full_sweep_s + 60)
            for job in ended:
                async with transaction(None, engine=self.engine) as conn:
                    changed = await _store(job).release_ended(conn, job)
                if changed:
                    await self.on_jobs(changed)
        if full and time.monotonic() - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = time.monotonic()
            try:
                await purge_history(self.engine, self.settings.history_keep_days)
            except Exception:  # the sweeper's own work must go on; the next purge tries again
                log.exception("history purge failed")
        if stats["recovered"] or stats["resent"]:
            log.info("sweeper: %(recovered)d cell(s) of dead workers requeued, %(resent)d re-sent", stats)
        return stats


def _store(job: dict[str, Any]) -> Any:
    """Where a job keeps its rows: the table's cells (a fill; a batch fill's claims last as long as its
    Message Batches) or its own results (a preview)."""
    return {previews.MODE: previews, ai_cells.batches.MODE: ai_cells.batches}.get(job.get("mode"), ai_cells)
