"""Password guessing on `POST /login` is slowed down: after a few failures per account name (or many per
client address) the answer is 429 with Retry-After, the same whether the account exists or not, and the
password is not even tried while the lock holds. Against the real server; a trusted proxy (127.0.0.1,
TABLECHAT_TRUSTED_PROXIES) lets the test speak for several client addresses with X-Forwarded-For."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from browser import AppServer, app_env
from redis import Redis

from db import accounts
from db.engine import transaction

PREFIX = f"tctest{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def server(services):
    app = AppServer(app_env(services, TABLECHAT_TRUSTED_PROXIES="127.0.0.1", TABLECHAT_REDIS_PREFIX=PREFIX,
                            TABLECHAT_LOGIN_MAX_FAILURES="3", TABLECHAT_CLIENT_MAX_FAILURES="10",
                            TABLECHAT_LOCKOUT_BASE_S="5", TABLECHAT_LOCKOUT_MAX_S="30"))
    # a lock of 5 s outlasts the tries of one test even when a loaded machine takes a second per login
    app.start()
    yield app
    app.stop()
    redis = Redis.from_url(services.redis_url)
    for key in redis.scan_iter(f"{PREFIX}:*"):
        redis.delete(key)


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def _account(engine, name: str, password: str) -> None:
    async with transaction(None, engine=engine) as conn:
        await accounts.create_account(conn, name=name, password=password)


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _login(client, name: str, password: str, address: str) -> httpx.Response:
    return await client.post("/login", data={"username": name, "password": password}, headers=_from(address))


async def test_200_wrong_passwords_in_a_row_are_mostly_refused_unanswered(client, engine, unique):
    name = f"thr{unique}"
    await _account(engine, name, "right-password-1")
    statuses = []
    for i in range(200):
        r = await _login(client, name, f"guess-{i}", f"10.1.{i % 200}.1")  # a botnet: one try per address
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["code"] == "too_many_requests"
        await asyncio.sleep(0.005)
    assert set(statuses) == {401, 429}
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
    tried = statuses.count(401)
    assert tried <= 8, f"{tried} of 200 guesses had their password checked"


async def test_a_locked_account_refuses_even_the_right_password_then_lets_it_in(client, engine, unique):
    name = f"thl{unique}"
    await _account(engine, name, "right-password-2")
    for i in range(3):
        assert (await _login(client, name, f"nope-{i}", "10.2.0.1")).status_code == 401
    locked = await _login(client, name, "right-password-2", "10.2.0.2")
    assert locked.status_code == 429 and "access_token" not in locked.headers.get("set-cookie", "")
    await asyncio.sleep(int(locked.headers["retry-after"]) + 0.2)
    ok = await _login(client, name, "right-password-2", "10.2.0.2")
    assert ok.status_code == 200 and "access_token" in ok.headers["set-cookie"]
    # the success cleared the account's count: one more wrong password is just a 401 again
    assert (await _login(client, name, "nope-again", "10.2.0.3")).status_code == 401


async def test_an_unknown_name_is_answered_exactly_like_a_real_one(client, engine, unique):
    real, ghost = f"thr{unique}real", f"thr{unique}ghost"
    await _account(engine, real, "right-password-3")
    answers = {}
    for name in (real, ghost):
        answers[name] = [await _login(client, name, f"wrong-{i}", f"10.3.{i}.{len(name)}") for i in range(5)]
    assert [r.status_code for r in answers[real]] == [r.status_code for r in answers[ghost]] == [401] * 3 + [429] * 2
    assert {r.text for r in answers[real][:3]} == {r.text for r in answers[ghost][:3]}
    assert answers[real][3].json() == answers[ghost][3].json()


async def test_one_address_trying_many_names_is_locked_and_another_address_is_not(client, engine, unique):
    await _account(engine, f"thc{unique}", "right-password-4")
    codes = [(await _login(client, f"thc{unique}x{i}", "wrong", "10.4.0.1")).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    assert (await _login(client, f"thc{unique}", "right-password-4", "10.4.0.1")).status_code == 429
    assert (await _login(client, f"thc{unique}", "right-password-4", "10.4.0.2")).status_code == 200


async def test_the_counters_are_in_redis_and_hold_no_names(client, services, unique):
    name = f"thk{unique}"
    for i in range(3):
        await _login(client, name, f"w{i}", "10.5.0.1")
    keys = [k.decode() for k in Redis.from_url(services.redis_url).scan_iter(f"{PREFIX}:throttle:*")]
    assert any(":lock:acct:" in k for k in keys) and any(":n:ip:10.5.0.1" in k for k in keys)
    assert not any(name in k for k in keys)
