"""The login cookie is `Secure` whenever the app is reached over HTTPS: served with TLS itself, or behind a
proxy in TABLECHAT_TRUSTED_PROXIES that says `X-Forwarded-Proto: https`. The same header from anyone else
changes nothing, and plain-HTTP development keeps working."""

from __future__ import annotations

import httpx
import pytest
from browser import AppServer, app_env
from httpx import ASGITransport, AsyncClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from api import security
from core.settings import get_settings
from db import accounts
from db.engine import transaction


def _secure(response) -> list[bool]:
    cookies = response.headers.get_list("set-cookie")
    assert cookies
    return ["secure" in [a.strip().lower() for a in c.split(";")[1:]] for c in cookies]


def _app(monkeypatch, **env: str) -> Starlette:
    """A small app behind the same wall as the real one, with the given settings."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")  # install() sets it for uvicorn: undone after the test
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()

    async def set_cookie(_request):
        response = JSONResponse({"ok": True})
        response.set_cookie("access_token", "t", httponly=True, samesite="lax")
        response.set_cookie("other", "v; Secure-ish")
        return response

    app = Starlette(routes=[Route("/c", set_cookie)])
    security.install(app)
    get_settings.cache_clear()
    return app


async def _get(app, base_url: str, client: str, headers: dict | None = None):
    transport = ASGITransport(app=app, client=(client, 4000))
    async with AsyncClient(transport=transport, base_url=base_url) as c:
        return await c.get("/c", headers=headers or {})


async def test_https_itself_makes_every_cookie_secure(monkeypatch):
    app = _app(monkeypatch)
    assert _secure(await _get(app, "https://app.example", "198.51.100.1")) == [True, True]
    assert _secure(await _get(app, "http://app.example", "198.51.100.1")) == [False, False]


async def test_forwarded_proto_counts_only_from_a_trusted_proxy(monkeypatch):
    app = _app(monkeypatch, TABLECHAT_TRUSTED_PROXIES="10.0.0.5")
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert _secure(await _get(app, "http://app.example", "10.0.0.5", https)) == [True, True]
    assert _secure(await _get(app, "http://app.example", "198.51.100.7", https)) == [False, False]


async def test_a_setting_forces_secure_cookies(monkeypatch):
    app = _app(monkeypatch, TABLECHAT_SECURE_COOKIES="true")
    assert _secure(await _get(app, "http://app.example", "198.51.100.1")) == [True, True]


@pytest.fixture(scope="module")
def server(services):
    app = AppServer(app_env(services, TABLECHAT_TRUSTED_PROXIES="127.0.0.1"))
    app.start()
    yield app
    app.stop()


async def test_the_real_login_cookie_is_secure_behind_a_tls_proxy(server, engine, unique):
    name = f"sec{unique}"
    async with transaction(None, engine=engine) as conn:
        await accounts.create_account(conn, name=name, password="pw-secure-1")
    form = {"username": name, "password": "pw-secure-1"}
    async with httpx.AsyncClient(base_url=server.url) as client:
        proxied = await client.post("/login", data=form, headers={"X-Forwarded-Proto": "https"})
        assert proxied.status_code == 200 and _secure(proxied) == [True]
        plain = await client.post("/login", data=form)
        assert plain.status_code == 200 and _secure(plain) == [False]
