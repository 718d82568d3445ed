"""Admission of LLM calls, shared by every worker process through Redis:

- a concurrency limit that halves on a rate-limit answer and grows back by one slot per `limit`
  successes (additive increase, multiplicative decrease). A slot is a member of a sorted set scored
  by its expiry and named after the process holding it: the sweeper frees the slots of processes that
  died at once, and an expired slot frees itself;
- the cost cap of a job (TABLECHAT_MAX_JOB_COST_USD): a call reserves its estimated cost against what
  the job spent plus what calls in flight may still spend. One that fits goes ahead; one that would
  pass the cap only while others are in flight waits for them; one that would pass it on what was
  spent alone is refused, and the job stops.

A call costs one round trip to Redis when it starts on a free slot and one when it ends. When every slot
is taken, the calls of a process wait in line locally: a call that ends hands its slot to the next in
line in the same round trip that releases it, and one poller per process watches for slots that other
processes free. Scripts run atomically in Redis and read its clock."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

BUDGET_TTL_S = 7 * 24 * 3600
# KEYS: slots, limit, budget of the slot released, budget of the slot taken.
# ARGV: what ('take' | 'give' | 'pass': give one slot back and take one in the same step), cap, slot ttl,
#       budget ttl, then the slot given back (token, ok, reserved?, estimate, cost) and the slot taken
#       (token, reserve?, spent known, estimate, cap in USD).
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap, ttl, bttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if ARGV[1] ~= 'take' then
  redis.call('ZREM', KEYS[1], ARGV[5])
  if ARGV[6] == '1' then
    local limit = tonumber(redis.call('GET', KEYS[2]) or cap)
    if limit < cap then redis.call('SET', KEYS[2], tostring(math.min(cap, limit + 1 / math.max(1, limit)))) end
  end
  if ARGV[7] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HINCRBYFLOAT', KEYS[3], 'held', -tonumber(ARGV[8]))
    redis.call('HINCRBYFLOAT', KEYS[3], 'spent', tonumber(ARGV[9]))
  end
  if ARGV[1] == 'give' then return 'given' end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = math.min(cap, tonumber(redis.call('GET', KEYS[2]) or cap))
if redis.call('ZCARD', KEYS[1]) >= math.max(1, math.floor(limit)) then return 'busy' end
if ARGV[11] == '1' then
  redis.call('HSETNX', KEYS[4], 'spent', ARGV[12])
  redis.call('EXPIRE', KEYS[4], bttl)
  local spent = tonumber(redis.call('HGET', KEYS[4], 'spent'))
  local held = tonumber(redis.call('HGET', KEYS[4], 'held') or '0')
  local est, budget = tonumber(ARGV[13]), tonumber(ARGV[14])
  if spent + est > budget then return 'stop' end
  if spent + held + est > budget then return 'over' end
  redis.call('HINCRBYFLOAT', KEYS[4], 'held', est)
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[10])
return 'go'
"""
THROTTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local limit = math.min(cap, tonumber(redis.call('GET', KEYS[2]) or cap))
if now < tonumber(redis.call('GET', KEYS[3]) or 0) then return tostring(limit) end
limit = math.max(1, math.floor(limit / 2))
redis.call('SET', KEYS[2], tostring(limit))
redis.call('SET', KEYS[3], tostring(now + tonumber(ARGV[2])))
return tostring(limit)
"""


def stop_message(cap: float, what: str = "fill") -> str:
    return (f"Stopped: the next call would take this {what} past its cost limit of ${cap:.2f} "
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


@dataclass(eq=False)
class _Waiter:
    """A call of this process waiting in line; its future says 'go' or 'stop'."""

    token: str
    spend: Spend | None
    future: asyncio.Future
    over_since: float | None = field(default=None)
    asking: bool = False  # a request for it is on its way to Redis: nobody else may ask for it


class Limiter:
    """A concurrency limit (and cost caps) shared through Redis by every process with the same `prefix`."""

    def __init__(self, redis: Redis, prefix: str, cap: int, *, owner: int = 0, slot_ttl_s: float = 120.0,
                 cooldown_s: float = 2.0, stale_reservations_s: float = 180.0):
        self.redis, self.prefix, self.cap, self.owner = redis, prefix, cap, owner
        self.ttl, self.cooldown, self.stale_after = slot_ttl_s, cooldown_s, stale_reservations_s
        self.keys = slot_keys(prefix)
        self._local = asyncio.Semaphore(cap)  # no point queueing in Redis for more than we could use
        self._script = redis.register_script(SCRIPT)
        self._throttle = redis.register_script(THROTTLE)
        self._line: deque[_Waiter] = deque()
        self._poller: asyncio.Task | None = None
        self._down = False

    def _budget_key(self, spend: Spend | None) -> str:
        return f"{self.prefix}:job:{spend.job_id}:budget" if spend else f"{self.prefix}:job:-:budget"

    async def _run(self, what: str, give: tuple[Slot, Spend | None] | None = None,
                   take: tuple[str, Spend | None] | None = None) -> str:
        given, given_spend = give or (Slot(""), None)
        token, spend = take or ("", None)
        got = await self._script(
            keys=[*self.keys[:2], self._budget_key(given_spend), self._budget_key(spend)],
            args=[what, self.cap, self.ttl, BUDGET_TTL_S,
                  given.token, "1" if given.ok else "0", "1" if given_spend else "0",
                  repr(given_spend.estimate) if given_spend else "0", repr(given.cost),
                  token, "1" if spend else "0", repr(spend.spent_known) if spend else "0",
                  repr(spend.estimate) if spend else "0", repr(spend.cap) if spend else "0"])
        if self._down:
            log.warning("Redis is back: LLM calls resume")
            self._down = False
        return got.decode() if isinstance(got, bytes) else got

    def _redis_down(self, exc: BaseException) -> None:
        # without Redis nobody can count the calls in flight: calls wait rather than exceed the limit
        if not self._down:
            log.warning("Redis unavailable (%s): LLM calls wait", exc)
            self._down = True

    async def _wait(self, token: str, spend: Spend | None) -> bool:
        """Take a slot named `token` (and reserve `spend`); False when the call would pass its job's cap."""
        if not self._line:
            try:
                got = await self._run("take", take=(token, spend))
                if got in ("go", "stop"):
                    return got == "go"
            except (RedisError, OSError) as exc:
                self._redis_down(exc)
        waiter = _Waiter(token, spend, asyncio.get_running_loop().create_future())
        self._line.append(waiter)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await waiter.future == "go"
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.result() == "go":
                await self._give_back(Slot(token), spend)  # granted as we were cancelled: pass it on
            raise
        finally:
            if waiter in self._line:
                self._line.remove(waiter)

    async def _poll(self) -> None:
        """While calls wait in line: ask Redis for a slot for the first of them, backing off while none
        is free (slots other processes free are seen here; this process's own are handed over)."""
        pause = 0.002
        while self._line:
            waiter = self._next()
            if waiter is None:  # the one in line is being served by a slot coming back
                await asyncio.sleep(0.001)
                continue
            waiter.asking = True
            try:
                got = await self._run("take", take=(waiter.token, waiter.spend))
            except (RedisError, OSError) as exc:
                self._redis_down(exc)
                got, pause = "down", 0.5
            finally:
                waiter.asking = False
            if got == "go" and not self._grant(waiter, got):
                await self._give_back(Slot(waiter.token), waiter.spend)  # it gave up meanwhile
                continue
            if got in ("go", "stop"):
                self._grant(waiter, got)
                pause = 0.002
                continue
            if got == "over":  # calls in flight may come back cheaper than reserved
                waiter.over_since = waiter.over_since or time.monotonic()
                if time.monotonic() - waiter.over_since > self.stale_after and waiter.spend:
                    # reservations of calls whose process died would hold forever
                    await self.redis.hset(self._budget_key(waiter.spend), "held", "0")
                    waiter.over_since = None
                pause = max(pause, 0.05)
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(0.05, pause * 2) if not self._down else 0.5

    def _next(self) -> _Waiter | None:
        """The first call in line that nobody is asking a slot for (calls that gave up leave the line)."""
        while self._line and self._line[0].future.done():
            self._line.popleft()
        for waiter in self._line:
            if not waiter.asking:
                return waiter
        return None

    def _grant(self, waiter: _Waiter, got: str) -> bool:
        """Tell a waiter its answer; False when it gave up waiting meanwhile (then it holds nothing)."""
        if waiter in self._line:
            self._line.remove(waiter)
        if waiter.future.done():
            return False
        waiter.future.set_result(got)
        return True

    async def _give_back(self, held: Slot, spend: Spend | None) -> None:
        """Release a slot, handing it to the first call waiting in line when there is one."""
        while (waiter := self._next()) is not None:
            waiter.asking = True
            try:
                got = await self._run("pass", give=(held, spend), take=(waiter.token, waiter.spend))
            except (RedisError, OSError):
                break
            finally:
                waiter.asking = False
            if got == "go" and not self._grant(waiter, got):
                # it gave up while we asked: the slot is now its; give that one back instead
                held, spend = Slot(waiter.token), waiter.spend
                continue
            if got == "stop":
                self._grant(waiter, got)
            return  # released either way; a waiter not served stays first in line for the poller
        try:
            await self._run("give", give=(held, spend))
        except (RedisError, OSError):
            # the slot expires by itself; the reservation is dropped after a while
            log.debug("releasing an LLM slot failed; it will expire", exc_info=True)

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
                await asyncio.shield(self._give_back(held, spend))

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
