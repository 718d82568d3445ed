"""Failed logins and failed API tokens slow their sender down: after a few failures a key (an account name,
a client address) is locked for a time that doubles with each further failure, and a locked key is answered
429 with `Retry-After` before its password is even looked at.

The counters live in Redis so that every app process behind one address shares them; should Redis not
answer, each process keeps counting on its own in memory (weaker, but never open)."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import get_settings

log = logging.getLogger("tablechat.throttle")

MAX_LOGIN_BODY = 16 * 1024
# KEYS: failure counter, lock. ARGV: threshold, base ms, max ms, how long the counter is remembered (ms).
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if n < tonumber(ARGV[1]) then return 0 end
local ms = math.floor(math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ (n - tonumber(ARGV[1]))))
redis.call('SET', KEYS[2], '1', 'PX', ms)
return ms
"""


@dataclass(frozen=True)
class Limit:
    """A key is locked from its `threshold`-th failure on: base, 2 × base, 4 × base … up to `max_s`."""

    threshold: int
    base_s: float
    max_s: float

    def lock_ms(self, failures: int) -> int:
        if failures < self.threshold:
            return 0
        return int(min(self.max_s, self.base_s * 2 ** min(failures - self.threshold, 40)) * 1000)


class _Memory:
    """The same counters in this process only, for when Redis does not answer."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, float]] = {}
        self.locks: dict[str, float] = {}

    def retry_after(self, key: str) -> float:
        left = self.locks.get(key, 0.0) - time.monotonic()
        return max(left, 0.0)

    def fail(self, key: str, limit: Limit) -> float:
        now = time.monotonic()
        if len(self.counts) > 100_000:  # a flood of addresses must not grow this without bound
            self.counts.clear()
            self.locks.clear()
        count, until = self.counts.get(key, (0, 0.0))
        count = count + 1 if until > now else 1
        self.counts[key] = (count, now + 2 * limit.max_s)
        ms = limit.lock_ms(count)
        if ms:
            self.locks[key] = now + ms / 1000
        return ms / 1000

    def clear(self, key: str) -> None:
        self.counts.pop(key, None)
        self.locks.pop(key, None)


class Throttle:
    """Failure counters and locks by key, in Redis under `prefix`."""

    def __init__(self, redis_url: str | None, prefix: str = "tablechat") -> None:
        self.redis_url = redis_url or "redis://127.0.0.1:6379/0"
        self.prefix = f"{prefix}:throttle"
        self.memory = _Memory()
        # a client per event loop: redis.asyncio connections belong to the loop that opened them
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()

    def _redis(self) -> Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=1)
            self._clients[loop] = client
        return client

    def _keys(self, key: str) -> tuple[str, str]:
        return f"{self.prefix}:n:{key}", f"{self.prefix}:lock:{key}"

    async def retry_after(self, *keys: str) -> int:
        """Whole seconds until every one of `keys` is unlocked; 0 when none is locked."""
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.pttl(self._keys(key)[1])
                left = max([ms / 1000 for ms in await pipe.execute() if ms > 0], default=0.0)
        except (RedisError, OSError):
            log.warning("Redis does not answer: login throttling counts in this process only")
            left = max(self.memory.retry_after(k) for k in keys)
        return math.ceil(left)

    async def failed(self, key: str, limit: Limit) -> int:
        """Count a failure of `key`; the whole seconds it is now locked for (0: not locked)."""
        count_key, lock_key = self._keys(key)
        try:
            ms = await self._redis().eval(_FAIL, 2, count_key, lock_key, limit.threshold,
                                          int(limit.base_s * 1000), int(limit.max_s * 1000),
                                          int(limit.max_s * 2000))
            return math.ceil(int(ms) / 1000)
        except (RedisError, OSError):
            log.warning("Redis does not answer: login throttling counts in this process only")
            return math.ceil(self.memory.fail(key, limit))

    async def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (the account whose password was right)."""
        self.memory.clear(key)
        try:
            await self._redis().delete(*self._keys(key))
        except (RedisError, OSError):
            pass


@lru_cache
def shared() -> Throttle:
    """The throttle of this process, on the configured Redis."""
    settings = get_settings()
    return Throttle(settings.redis_url, settings.redis_prefix)


def limits() -> tuple[Limit, Limit]:
    """(per account name, per client address), from the settings."""
    s = get_settings()
    return (Limit(s.login_max_failures, s.lockout_base_s, s.lockout_max_s),
            Limit(s.client_max_failures, s.lockout_base_s, s.lockout_max_s))


def client_key(scope: Scope) -> str:
    """The caller's address as the key of its counters (an IPv6 caller by its /64: one host has many)."""
    host = (scope.get("client") or ("unknown", 0))[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"ip:{host}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def account_key(name: str) -> str:
    """An account name as a key: folded like logins are, hashed so Redis holds no names."""
    return "acct:" + hashlib.sha256(name.strip().casefold().encode("utf-8", "replace")).hexdigest()[:32]


def too_many(retry_after: int, message: str = "Too many failed attempts; try again later") -> JSONResponse:
    """429 in the API's error shape. Said the same way whether or not the account exists."""
    return JSONResponse({"error": {"code": "too_many_requests", "message": message,
                                   "details": {"retry_after": retry_after}}},
                        status_code=429, headers={"Retry-After": str(max(retry_after, 1))})


class LoginThrottle:
    """Guards Chainlit's `POST /login` (form fields username, password): a locked account name or client
    address is answered 429 without trying the password; every 401 counts against both; a success clears
    the account's count (not the address's: one good login must not buy a guesser more attempts)."""

    def __init__(self, app: ASGIApp, throttle: Throttle, account: Limit, client: Limit, path: str = "/login"):
        self.app, self.throttle = app, throttle
        self.account, self.client = account, client
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_LOGIN_BODY:
                await JSONResponse({"detail": "Login form too large"}, status_code=413)(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        keys = [client_key(scope), account_key(await _username(scope, body))]
        wait = await self.throttle.retry_after(*keys)
        if wait:
            await too_many(wait)(scope, receive, send)
            return
        status = 0

        async def replay() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 401:  # counted before the caller hears of it: the next try already meets it
                    await self.throttle.failed(keys[0], self.client)
                    await self.throttle.failed(keys[1], self.account)
            await send(message)

        await self.app(scope, replay, watch)
        if 200 <= status < 300:
            await self.throttle.succeeded(keys[1])


async def _username(scope: Scope, body: bytes) -> str:
    """The username field of a login form, however it is encoded; "" when there is none."""

    async def once() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        value = (await Request(scope, once).form()).get("username")
    except Exception:  # noqa: BLE001 -- a malformed form still counts against the address
        return ""
    return value if isinstance(value, str) else ""


async def token_failed(scope: Scope) -> None:
    """Count a refused API token against the caller's address; raise 429 once the address is locked.
    A token is only checked against this lock after it failed: tokens are 256-bit random, so a good one
    never waits and the hot path needs no Redis round trip, while a guesser is slowed from the start."""
    from starlette.exceptions import HTTPException

    wait = await shared().failed("tok:" + client_key(scope), limits()[1])
    if not wait:
        wait = await shared().retry_after("tok:" + client_key(scope))
    if wait:
        raise HTTPException(429, "Too many failed attempts; try again later", headers={"Retry-After": str(wait)})
