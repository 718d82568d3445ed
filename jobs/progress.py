"""Job progress as events on a Redis stream per job, throttled to a few a second, the last one always
sent. The database holds the truth; the stream only tells listeners (the chat) that it moved."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
STREAM_LEN = 200
STREAM_TTL_S = 24 * 3600


def stream_key(prefix: str, job_id: str) -> str:
    return f"{prefix}:job:{job_id}:progress"


def summary(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job as people read it: status, counts (queued = still to do), cost so far, an ETA."""
    total, done, failed = int(job["total"]), int(job["done"]), int(job["failed"])
    active = job["status"] in ACTIVE
    queued = max(0, total - done - failed) if active else 0
    eta = None
    created = job.get("created_at")
    if active and isinstance(created, datetime) and done + failed:
        elapsed = (datetime.now(UTC) - created).total_seconds()
        eta = round(elapsed / (done + failed) * queued, 1)
    return {"job_id": str(job["id"]), "status": job["status"], "total": total, "done": done, "failed": failed,
            "queued": queued, "cost_usd": round(float(job.get("cost_usd") or 0), 6), "error": job.get("error"),
            "eta_s": eta}


class Progress:
    """Publishes job summaries; at most one event per job per `interval_s`, then a trailing one."""

    def __init__(self, redis: Redis, prefix: str, interval_s: float = 0.25):
        self.redis, self.prefix, self.interval = redis, prefix, interval_s
        self._last: dict[str, float] = {}
        self._latest: dict[str, Mapping[str, Any]] = {}
        self._trailing: dict[str, asyncio.TimerHandle] = {}

    async def publish(self, job: Mapping[str, Any]) -> None:
        """Tell listeners about `job` now, or soon when an event just went out (a final state: now)."""
        jid = str(job["id"])
        now = time.monotonic()
        final = job["status"] not in ACTIVE
        if not final and now - self._last.get(jid, 0.0) < self.interval:
            self._latest[jid] = job
            if jid not in self._trailing:
                delay = self.interval - (now - self._last.get(jid, 0.0))
                self._trailing[jid] = asyncio.get_running_loop().call_later(delay, self._flush_trailing, jid)
            return
        self._last[jid] = now
        self._latest.pop(jid, None)
        handle = self._trailing.pop(jid, None)
        if handle is not None:
            handle.cancel()
        if final:
            self._last.pop(jid, None)
        await self._send(job)

    def _flush_trailing(self, jid: str) -> None:
        self._trailing.pop(jid, None)
        job = self._latest.pop(jid, None)
        if job is not None:
            self._last[jid] = time.monotonic()
            asyncio.get_running_loop().create_task(self._send(job))

    async def _send(self, job: Mapping[str, Any]) -> None:
        event = {k: "" if v is None else str(v) for k, v in summary(job).items()}
        key = stream_key(self.prefix, event["job_id"])
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(key, event, maxlen=STREAM_LEN, approximate=True)
                pipe.expire(key, STREAM_TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # progress is a courtesy; the fill goes on without it
            log.debug("progress event for job %s not sent: %s", event["job_id"], exc)


async def read(redis: Redis, prefix: str, job_id: str, after: str = "0-0", block_ms: int | None = None,
               count: int = 100) -> list[tuple[str, dict[str, str]]]:
    """Events of a job after stream id `after` (waiting up to `block_ms` for the first)."""
    found = await redis.xread({stream_key(prefix, job_id): after}, count=count, block=block_ms)
    out = []
    for _key, entries in (found.items() if isinstance(found, dict) else found or []):  # RESP3 or RESP2
        for entry_id, fields in entries:
            decode = (lambda b: b.decode() if isinstance(b, bytes) else b)
            out.append((decode(entry_id), {decode(k): decode(v) for k, v in fields.items()}))
    return out
