"""The cost cap of a job (TABLECHAT_MAX_JOB_COST_USD). Before each call a worker reserves the call's
estimated cost on counters in Redis shared by every process: what was spent, and what calls in flight
may still spend. A call that fits goes ahead; one that would pass the cap even after the calls in
flight came back cheaper waits for them; one that would pass it on what was spent alone stops the job,
with a message saying so."""

from __future__ import annotations

from enum import Enum

from redis.asyncio import Redis
from redis.exceptions import RedisError

TTL_S = 7 * 24 * 3600

RESERVE = """
redis.call('HSETNX', KEYS[1], 'spent', ARGV[1])
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent'))
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local est, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if spent + est > cap then return 'stop' end
if spent + held + est > cap then return 'wait' end
redis.call('HINCRBYFLOAT', KEYS[1], 'held', est)
return 'go'
"""
SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'held', -tonumber(ARGV[1]))
  redis.call('HINCRBYFLOAT', KEYS[1], 'spent', tonumber(ARGV[2]))
end
return 1
"""


class Verdict(Enum):
    GO = "go"
    WAIT = "wait"
    STOP = "stop"


def stop_message(cap: float) -> str:
    return (f"Stopped: the next call would take this fill past its cost limit of ${cap:.2f} "
            "(TABLECHAT_MAX_JOB_COST_USD)")


class Budget:
    def __init__(self, redis: Redis, prefix: str, cap_usd: float):
        self.redis, self.prefix, self.cap = redis, prefix, cap_usd
        self._reserve = redis.register_script(RESERVE)
        self._settle = redis.register_script(SETTLE)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:budget"

    async def reserve(self, job_id: str, spent_known: float, estimate: float) -> Verdict:
        """May a call estimated at `estimate` go ahead? Without Redis, judge on what the database last
        said (`spent_known`)."""
        try:
            got = await self._reserve(keys=[self._key(job_id)], args=[repr(spent_known), repr(estimate),
                                                                       repr(self.cap), TTL_S])
            return Verdict(got.decode() if isinstance(got, bytes) else got)
        except (RedisError, OSError):
            return Verdict.GO if spent_known + estimate <= self.cap else Verdict.STOP

    async def settle(self, job_id: str, estimate: float, actual: float) -> None:
        """A reserved call came back having cost `actual` (0 when it failed)."""
        try:
            await self._settle(keys=[self._key(job_id)], args=[repr(estimate), repr(actual)])
        except (RedisError, OSError):
            pass

    async def forget_held(self, job_id: str) -> None:
        """Drop every reservation (those of calls whose process died would otherwise hold forever)."""
        try:
            await self.redis.hset(self._key(job_id), "held", "0")
        except (RedisError, OSError):
            pass
