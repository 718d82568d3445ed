"""Admission of LLM calls, shared by every worker process through Redis, in one round trip each way:

- a concurrency limit that halves on a rate-limit answer and grows back by one slot per `limit`
  successes (additive increase, multiplicative decrease). A slot is a member of a sorted set scored
  by its expiry and named after the process holding it: the sweeper frees the slots of processes that
  died at once, and an expired slot frees itself;
- the cost cap of a job (TABLECHAT_MAX_JOB_COST_USD): a call reserves its estimated cost against what
  the job spent plus what calls in flight may still spend. One that fits goes ahead; one that would
  pass the cap only while others are in flight waits for them; one that would pass it on what was
  spent alone is refused, and the job stops.

Scripts run atomically in Redis and read its clock."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

BUDGET_TTL_S = 7 * 24 * 3600
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
ACQUIRE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(ARGV[1])
local limit = math.min(cap, tonumber(redis.call('GET', KEYS[2]) or cap))
if redis.call('ZCARD', KEYS[1]) >= math.max(1, math.floor(limit)) then return 'busy' end
if #KEYS >= 3 then
  redis.call('HSETNX', KEYS[3], 'spent', ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  local spent = tonumber(redis.call('HGET', KEYS[3], 'spent'))
  local held = tonumber(redis.call('HGET', KEYS[3], 'held') or '0')
  local est, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
  if spent + est > budget then return 'stop' end
  if spent + held + est > budget then return 'over' end
  redis.call('HINCRBYFLOAT', KEYS[3], 'held', est)
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
return 'go'
"""
RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  local cap = tonumber(ARGV[3])
  local limit = tonumber(redis.call('GET', KEYS[2]) or cap)
  if limit < cap then redis.call('SET', KEYS[2], tostring(math.min(cap, limit + 1 / math.max(1, limit)))) end
end
if #KEYS >= 3 and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[3], 'held', -tonumber(ARGV[4]))
  redis.call('HINCRBYFLOAT', KEYS[3], 'spent', tonumber(ARGV[5]))
end
return 1
"""
THROTTLE = _NOW + """
local cap = tonumber(ARGV[1])
local limit = math.min(cap, tonumber(redis.call('GET', KEYS[2]) or cap))
if now < tonumber(redis.call('GET', KEYS[3]) or 0) then return tostring(limit) end
limit = math.max(1, math.floor(limit / 2))
redis.call('SET', KEYS[2], tostring(limit))
redis.call('SET', KEYS[3], tostring(now + tonumber(ARGV[2])))
return tostring(limit)
"""


def stop_message(cap: float) -> str:
    return (f"Stopped: the next call would take this fill past its cost limit of ${cap:.2f} "
            "(TABLECHAT_MAX_JOB_COST_USD)")


@dataclass(frozen=True)
class Spend:
    """What a call may cost, against its job's cap. `spent_known` is what the database last said the
    job spent (the counter starts from it when Redis lost it)."""

    job_id: str
    estimate: float
    cap: float
    spent_known: float = 0.0


@dataclass
class Slot:
    """The outcome of asking: `refused` when the call would pass its job's cost cap (no slot is held
    then). Set `ok` when the call succeeded (so the limit may grow) and `cost` to what it cost."""

    token: str
    refused: bool = False
    ok: bool = False
    cost: float = 0.0


class Limiter:
    """A concurrency limit (and cost caps) shared through Redis by every process with the same `prefix`."""

    def __init__(self, redis: Redis, prefix: str, cap: int, *, owner: int = 0, slot_ttl_s: float = 120.0,
                 cooldown_s: float = 2.0, stale_reservations_s: float = 180.0):
        self.redis, self.prefix, self.cap, self.owner = redis, prefix, cap, owner
        self.ttl, self.cooldown, self.stale_after = slot_ttl_s, cooldown_s, stale_reservations_s
        self.keys = slot_keys(prefix)
        self._local = asyncio.Semaphore(cap)  # no point polling Redis for more than we could use
        self._acquire = redis.register_script(ACQUIRE)
        self._release = redis.register_script(RELEASE)
        self._throttle = redis.register_script(THROTTLE)
        self._down = False

    def _budget_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:budget"

    async def _wait(self, token: str, spend: Spend | None) -> bool:
        """Take a slot (and reserve `spend`); False when the call would pass its job's cap."""
        keys = self.keys[:2] + ([self._budget_key(spend.job_id)] if spend else [])
        args = [self.cap, self.ttl, token] + (
            [repr(spend.spent_known), repr(spend.estimate), repr(spend.cap), BUDGET_TTL_S] if spend else [])
        pause, over_since = 0.002, None
        while True:
            try:
                got = await self._acquire(keys=keys, args=args)
                got = got.decode() if isinstance(got, bytes) else got
                if self._down:
                    log.warning("Redis is back: LLM calls resume")
                    self._down = False
                if got == "go":
                    return True
                if got == "stop":
                    return False
                if got == "over":  # calls in flight may come back cheaper than reserved
                    over_since = over_since or time.monotonic()
                    if time.monotonic() - over_since > self.stale_after:
                        # reservations of calls whose process died would hold forever
                        await self.redis.hset(keys[2], "held", "0")
                        over_since = None
                    pause = max(pause, 0.05)
            except (RedisError, OSError) as exc:
                # without Redis nobody can count the calls in flight: wait rather than exceed the limit
                if not self._down:
                    log.warning("Redis unavailable (%s): LLM calls wait", exc)
                    self._down = True
                pause = 0.5
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(0.05, pause * 2) if not self._down else 0.5

    @asynccontextmanager
    async def slot(self, spend: Spend | None = None) -> AsyncIterator[Slot]:
        """Hold one slot for the duration of an LLM call (or learn that the call must not be made)."""
        async with self._local:
            held = Slot(f"{self.owner}:{int(time.time() * 1000)}:{uuid.uuid4().hex[:12]}")
            if not await self._wait(held.token, spend):
                held.refused = True
                yield held
                return
            try:
                yield held
            finally:
                keys = self.keys[:2] + ([self._budget_key(spend.job_id)] if spend else [])
                args = [held.token, "1" if held.ok else "0", self.cap] + (
                    [repr(spend.estimate), repr(held.cost)] if spend else [])
                try:
                    await self._release(keys=keys, args=args)
                except (RedisError, OSError):
                    # the slot expires by itself; the reservation is dropped after a while
                    log.debug("releasing an LLM slot failed; it will expire", exc_info=True)

    async def throttle(self) -> float | None:
        """A rate-limit answer came back: halve the limit (once per cooldown). Returns the new limit."""
        try:
            return float(await self._throttle(keys=self.keys, args=[self.cap, self.cooldown]))
        except (RedisError, OSError):
            return None

    async def limit(self) -> float:
        """The current limit."""
        value = await self.redis.get(self.keys[1])
        return min(self.cap, float(value)) if value is not None else float(self.cap)

    async def in_flight(self) -> int:
        return int(await self.redis.zcard(self.keys[0]))


def slot_keys(prefix: str) -> list[str]:
    return [f"{prefix}:llm:slots", f"{prefix}:llm:limit", f"{prefix}:llm:cooldown"]


async def free_slots_of_dead(redis: Redis, prefix: str, live_owners: set[int], taken_before: float) -> int:
    """Free the slots that processes no longer alive took before `taken_before` (epoch s)."""
    key = slot_keys(prefix)[0]
    dead = []
    for token in await redis.zrange(key, 0, -1):
        token = token.decode() if isinstance(token, bytes) else token
        owner, _, rest = token.partition(":")
        taken_ms = rest.partition(":")[0]
        if owner.isdigit() and taken_ms.isdigit() and int(owner) not in live_owners \
                and int(taken_ms) / 1000 < taken_before:
            dead.append(token)
    if dead:
        await redis.zrem(key, *dead)
    return len(dead)
