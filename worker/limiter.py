"""LLM calls in flight across every worker process, kept under a limit that halves on a rate-limit
answer and grows back by one slot per `limit` successes (additive increase, multiplicative decrease).

A slot is a member of a Redis sorted set scored by its expiry, named after the process holding it:
the sweeper frees the slots of processes that died at once, and an expired slot frees itself. Scripts
run atomically in Redis and read its clock."""

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

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
ACQUIRE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(ARGV[1])
local limit = math.min(cap, tonumber(redis.call('GET', KEYS[2]) or cap))
if redis.call('ZCARD', KEYS[1]) < math.max(1, math.floor(limit)) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0
"""
RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  local cap = tonumber(ARGV[3])
  local limit = tonumber(redis.call('GET', KEYS[2]) or cap)
  if limit < cap then redis.call('SET', KEYS[2], tostring(math.min(cap, limit + 1 / math.max(1, limit)))) end
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


@dataclass
class Slot:
    """A held slot; set `ok` when the call succeeded so the limit may grow."""

    token: str
    ok: bool = False


class Limiter:
    """A concurrency limit shared through Redis by every process with the same `prefix`."""

    def __init__(self, redis: Redis, prefix: str, cap: int, *, owner: int = 0, slot_ttl_s: float = 120.0,
                 cooldown_s: float = 2.0):
        self.redis, self.cap, self.ttl, self.cooldown, self.owner = redis, cap, slot_ttl_s, cooldown_s, owner
        self.keys = slot_keys(prefix)
        self._local = asyncio.Semaphore(cap)  # no point polling Redis for more than we could use
        self._acquire = redis.register_script(ACQUIRE)
        self._release = redis.register_script(RELEASE)
        self._throttle = redis.register_script(THROTTLE)
        self._down = False

    async def _wait(self, token: str) -> None:
        pause = 0.002
        while True:
            try:
                if await self._acquire(keys=self.keys[:2], args=[self.cap, self.ttl, token]):
                    if self._down:
                        log.warning("Redis is back: LLM calls resume")
                        self._down = False
                    return
            except (RedisError, OSError) as exc:
                # without Redis nobody can count the calls in flight: wait rather than exceed the limit
                if not self._down:
                    log.warning("Redis unavailable (%s): LLM calls wait", exc)
                    self._down = True
                pause = 0.5
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(0.05, pause * 2) if not self._down else 0.5

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """Hold one slot for the duration of an LLM call."""
        async with self._local:
            held = Slot(f"{self.owner}:{int(time.time() * 1000)}:{uuid.uuid4().hex[:12]}")
            await self._wait(held.token)
            try:
                yield held
            finally:
                try:
                    await self._release(keys=self.keys[:2], args=[held.token, "1" if held.ok else "0", self.cap])
                except (RedisError, OSError):
                    pass  # the slot expires by itself

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
