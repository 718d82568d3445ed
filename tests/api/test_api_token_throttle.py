"""Guessing API tokens is slowed down like guessing passwords: after a few refused tokens from one address
the answer is 429 with Retry-After. The counters are shared through Redis by every process, and a process
whose Redis does not answer still counts on its own."""

from __future__ import annotations

import asyncio

import pytest
from httpx import ASGITransport, AsyncClient

from api.throttle import Limit, Throttle, client_key


def _client(api, address: str) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=api, client=(address, 5000)), base_url="http://testserver")


async def test_refused_tokens_from_one_address_end_in_429_with_retry_after(api, user, monkeypatch):
    from api import throttle as module

    monkeypatch.setattr(module, "limits", lambda: (Limit(3, 1, 30), Limit(4, 1, 30)))
    async with _client(api, "10.9.0.1") as guesser, _client(api, "10.9.0.2") as other:
        codes = []
        for i in range(8):
            r = await guesser.get("/me", headers={"Authorization": f"Bearer tc_guess{i}"})
            codes.append(r.status_code)
        assert codes == [401, 401, 401, 429, 429, 429, 429, 429]
        r = await guesser.get("/tables", headers={"Authorization": "Bearer tc_guess-more"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "too_many_requests"
        # a real token is never locked out (tokens cannot be guessed; a shared address must not stop its owner)
        assert (await guesser.get("/me", headers=user.headers)).status_code == 200
        # another address is not affected
        assert (await other.get("/me", headers={"Authorization": "Bearer tc_x"})).status_code == 401


async def test_two_processes_share_the_counts_through_redis(services, unique):
    one, two = Throttle(services.redis_url, f"tcshare{unique}"), Throttle(services.redis_url, f"tcshare{unique}")
    limit = Limit(threshold=4, base_s=2, max_s=60)
    assert [await one.failed("acct:x", limit) for _ in range(3)] == [0, 0, 0]
    assert await two.retry_after("acct:x") == 0
    assert await two.failed("acct:x", limit) == 2  # the 4th failure, counted by the other process
    assert await one.retry_after("acct:x", "ip:1.2.3.4") == 2
    assert await one.failed("acct:x", limit) == 4  # the lock doubles
    await two.succeeded("acct:x")
    assert await one.retry_after("acct:x") == 0


async def test_without_redis_each_process_still_counts(unique):
    down = Throttle("redis://127.0.0.1:1/0", f"tcdown{unique}")
    limit = Limit(threshold=2, base_s=1, max_s=60)
    assert await down.failed("acct:y", limit) == 0
    assert await down.failed("acct:y", limit) == 1
    assert await down.retry_after("acct:y") == 1
    await asyncio.sleep(1.05)
    assert await down.retry_after("acct:y") == 0


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "ip:203.0.113.7"), ("::ffff:203.0.113.7", "ip:203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"), ("2001:db8:1:2:ffff::1", "ip:2001:db8:1:2::/64"),
])
def test_addresses_are_counted_by_host_and_ipv6_by_its_64(address, key):
    assert client_key({"client": (address, 1)}) == key


def test_the_lock_grows_exponentially_up_to_its_cap():
    limit = Limit(threshold=3, base_s=1, max_s=10)
    assert [limit.lock_ms(n) for n in range(1, 9)] == [0, 0, 1000, 2000, 4000, 8000, 10000, 10000]
    assert Limit(1, 1, 900).lock_ms(10**6) == 900_000
