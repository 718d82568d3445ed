"""Admission of LLM calls, shared by every worker process through Redis:

- a concurrency limit that halves on a rate-limit answer and grows back by one slot per `limit`
  successes (additive increase, multiplicative decrease). A slot is a member of a sorted set scored
  by its expiry and named after the process holding it: the sweeper frees the slots of processes that
  died at once, and an expired slot frees itself;
- the cost cap of a job (TABLECHAT_MAX_JOB_COST_USD): a call reserves its estimated cost against what
  the job spent plus what calls in flight may still spend. One that fits goes ahead; one that would
  pass the cap only while others are in flight waits for them; one that would pass it on what was
  spent alone is refused, and the job stops.

A call takes its slot when it starts and gives it back when it ends: two operations of one script,
which runs a batch of them atomically in Redis and reads its clock. The operations a process asks for
while a script call is on its way go together in the next one, so a busy process makes one round trip
for several calls. When every slot is taken, the calls of a process wait in line locally: a call that
ends hands its slot to the next in line in the same operation that releases it, and one poller per
process watches for slots that other processes free. An urgent call (interactive work) waits ahead of
the others in its process's line and does not queue behind them locally.

Long because the Lua script and the Python side of its protocol must be read together to be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
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
MAX_BATCH = 64  # operations per script call
# One call runs a batch of operations in order. KEYS: slots, limit, then for each operation the budget of
# the slot it gives back and of the slot it takes. ARGV: cap, slot ttl, budget ttl, then for each
# operation OP_FIELDS values: what ('take' | 'give' | 'pass': give one slot back and take one in the same
# step), the slot given back (token, ok, reserved?, estimate, cost) and the slot taken (token, reserve?,
# spent known, estimate, cap in USD). Returns each operation's answer.
OP_FIELDS = 11
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap, ttl, bttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 0, (#ARGV - 3) / OP_FIELDS - 1 do
  local a, given, taken = 3 + i * OP_FIELDS, KEYS[3 + i * 2], KEYS[4 + i * 2]
  local answer = nil
  if ARGV[a + 1] ~= 'take' then
    redis.call('ZREM', KEYS[1], ARGV[a + 2])
    if ARGV[a + 3] == '1' then
      local limit = tonumber(redis.call('GET', KEYS[2]) or cap)
      if limit < cap then redis.call('SET', KEYS[2], tostring(math.min(cap, limit + 1 / math.max(1, limit)))) end
    end
    if ARGV[a + 4] == '1' and redis.call('EXISTS', given) == 1 then
      redis.call('HINCRBYFLOAT', given, 'held', -tonumber(ARGV[a + 5]))
      redis.call('HINCRBYFLOAT', given, 'spent', tonumber(ARGV[a + 6]))
    end
    if ARGV[a + 1] == 'give' then answer = 'given' end
  end
  if answer == nil then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    local limit = math.min(cap, tonumber(redis.call('GET', KEYS[2]) or cap))
    if redis.call('ZCARD', KEYS[1]) >= math.max(1, math.floor(limit)) then answer = 'busy' end
  end
  if answer == nil and ARGV[a + 8] == '1' then
    redis.call('HSETNX', taken, 'spent', ARGV[a + 9])
    redis.call('EXPIRE', taken, bttl)
    local spent = tonumber(redis.call('HGET', taken, 'spent'))
    local held = tonumber(redis.call('HGET', taken, 'held') or '0')
    local est, budget = tonumber(ARGV[a + 10]), tonumber(ARGV[a + 11])
    if spent + est > budget then answer = 'stop'
    elseif spent + held + est > budget then answer = 'over'
    else redis.call('HINCRBYFLOAT', taken, 'held', est) end
  end
  if answer == nil then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[a + 7])
    answer = 'go'
  end
  out[i + 1] = answer
end
return out
""".replace("OP_FIELDS", str(OP_FIELDS))
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
    urgent: bool = False  # interactive work: in line ahead of every call that is not


@dataclass(eq=False)
class _Op:
    """One operation of a script call (see SCRIPT): its two budget keys, its OP_FIELDS arguments, the
    slot it takes (to give it back when its caller is gone) and the answer's future."""

    keys: tuple[str, str]
    args: list[str]
    taken: tuple[str, Spend | None]
    future: asyncio.Future


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
        self._ops: list[_Op] = []  # operations waiting for the next script call
        self._sender: asyncio.Task | None = None
        self._down = False

    def _budget_key(self, spend: Spend | None) -> str:
        return f"{self.prefix}:job:{spend.job_id}:budget" if spend else f"{self.prefix}:job:-:budget"

    async def _run(self, what: str, give: tuple[Slot, Spend | None] | None = None,
                   take: tuple[str, Spend | None] | None = None) -> str:
        """One operation, sent with the others of this process asked for meanwhile (see `_send`)."""
        op = self._op(what, give, take)
        self._queue(op)
        try:
            got = await op.future
        except asyncio.CancelledError:  # cancelled as the answer came: a slot granted must not leak
            if op.future.done() and not op.future.cancelled() and op.future.result() == "go":
                self._abandoned(op)
            raise
        if self._down:
            log.warning("Redis is back: LLM calls resume")
            self._down = False
        return got

    async def _send(self) -> None:
        """Group commit for the operations: the ones asked for while a script call is on its way go
        together in the next one (in order, atomically), so a busy process makes a round trip for several
        calls' slots instead of one or two per call. A slot granted to a caller that gave up meanwhile is
        given back."""
        while self._ops:
            batch, self._ops = self._ops[:MAX_BATCH], self._ops[MAX_BATCH:]
            try:
                got = await self._script(keys=[*self.keys[:2], *(k for op in batch for k in op.keys)],
                                         args=[self.cap, self.ttl, BUDGET_TTL_S, *(a for op in batch for a in op.args)])
            except asyncio.CancelledError:
                for op in batch:
                    op.future.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 (every caller of the batch learns of it)
                for op in batch:
                    if not op.future.done():
                        op.future.set_exception(exc)
                continue
            for op, answer in zip(batch, got, strict=True):
                answer = answer.decode() if isinstance(answer, bytes) else answer
                if not op.future.done():
                    op.future.set_result(answer)
                elif answer == "go":  # its caller was cancelled: nobody will release this slot
                    self._abandoned(op)

    def _queue(self, op: _Op) -> None:
        self._ops.append(op)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())

    def _abandoned(self, op: _Op) -> None:
        """Give back the slot an operation was granted for a caller that is gone."""
        token, spend = op.taken
        self._queue(self._op("give", give=(Slot(token), spend)))

    def _op(self, what: str, give: tuple[Slot, Spend | None] | None = None,
            take: tuple[str, Spend | None] | None = None) -> _Op:
        given, given_spend = give or (Slot(""), None)
        token, spend = take or ("", None)
        return _Op(keys=(self._budget_key(given_spend), self._budget_key(spend)), args=[
            what, given.token, "1" if given.ok else "0", "1" if given_spend else "0",
            repr(given_spend.estimate) if given_spend else "0", repr(given.cost),
            token, "1" if spend else "0", repr(spend.spent_known) if spend else "0",
            repr(spend.estimate) if spend else "0", repr(spend.cap) if spend else "0"],
            taken=(token, spend), future=asyncio.get_running_loop().create_future())

    def _redis_down(self, exc: BaseException) -> None:
        # without Redis nobody can count the calls in flight: calls wait rather than exceed the limit
        if not self._down:
            log.warning("Redis unavailable (%s): LLM calls wait", exc)
            self._down = True

    async def _wait(self, token: str, spend: Spend | None, urgent: bool = False) -> bool:
        """Take a slot named `token` (and reserve `spend`); False when the call would pass its job's cap.
        An urgent call asks at once even when others wait, and waits in line ahead of them."""
        if not self._line or urgent:
            try:
                got = await self._run("take", take=(token, spend))
                if got in ("go", "stop"):
                    return got == "go"
            except (RedisError, OSError) as exc:
                self._redis_down(exc)
        waiter = _Waiter(token, spend, asyncio.get_running_loop().create_future(), urgent=urgent)
        if urgent:
            self._line.insert(next((i for i, w in enumerate(self._line) if not w.urgent), len(self._line)), waiter)
        else:
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
    async def slot(self, spend: Spend | None = None, *, urgent: bool = False) -> AsyncIterator[Slot]:
        """Hold one slot for the duration of an LLM call (or learn that the call must not be made).
        `urgent` (interactive work) skips the local queue of calls that are not and waits ahead of them."""
        async with contextlib.nullcontext() if urgent else self._local:
            held = Slot(f"{self.owner}:{int(time.time() * 1000)}:{uuid.uuid4().hex[:12]}")
            if not await self._wait(held.token, spend, urgent):
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
