"""Logout ends the session on the server: a login cookie captured before logout is refused after it, by
Chainlit's own routes (and so by its websocket, which authenticates the same way) and by the REST API."""

from __future__ import annotations

import importlib
import os
import secrets

import pytest
from httpx import ASGITransport, AsyncClient

from db import accounts, sessions
from db.engine import transaction

PASSWORD = "a long passphrase"
CSRF = {"X-Requested-With": "tablechat"}


@pytest.fixture(scope="module")
def chainlit_app(engine):
    """Chainlit's server with the entry module's callbacks, signing cookies with a secret of this module."""
    import chainlit.data

    old = os.environ.get("CHAINLIT_AUTH_SECRET")
    os.environ["CHAINLIT_AUTH_SECRET"] = secrets.token_urlsafe(32)
    importlib.import_module("app")
    chainlit.data._data_layer = None  # an earlier test may have made Chainlit settle on its own
    chainlit.data._data_layer_initialized = False
    from chainlit.server import app

    yield app
    if old is None:
        os.environ.pop("CHAINLIT_AUTH_SECRET", None)
    else:
        os.environ["CHAINLIT_AUTH_SECRET"] = old


async def _as(client: AsyncClient, method: str, path: str, token: str, **kw):
    """A request carrying only this login cookie (as a browser that kept a copy of it would send it)."""
    client.cookies.clear()
    client.cookies.set("access_token", token)
    try:
        return await client.request(method, path, **kw)
    finally:
        client.cookies.clear()


async def _sign_in(client: AsyncClient, engine, name: str) -> str:
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=name, password=PASSWORD)
        await accounts.create_workspace(conn, owner_id=acc)
    response = await client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.cookies["access_token"]


async def test_a_cookie_captured_before_logout_is_refused_after_it(chainlit_app, engine, unique):
    async with AsyncClient(transport=ASGITransport(app=chainlit_app), base_url="http://testserver") as client:
        captured = await _sign_in(client, engine, f"lo{unique}")
        assert (await _as(client, "GET", "/user", captured)).status_code == 200
        assert (await _as(client, "GET", "/api/v1/tables", captured, headers=CSRF)).status_code == 200

        assert (await _as(client, "POST", "/logout", captured)).status_code == 200

        assert (await _as(client, "GET", "/user", captured)).status_code == 401
        assert (await _as(client, "GET", "/api/v1/tables", captured, headers=CSRF)).status_code == 401
        # signing in again gives a new session that works
        fresh = await _sign_in_again(client, f"lo{unique}")
        assert (await _as(client, "GET", "/user", fresh)).status_code == 200


async def _sign_in_again(client: AsyncClient, name: str) -> str:
    response = await client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 200
    client.cookies.clear()
    return response.cookies["access_token"]


async def test_one_logout_leaves_the_other_sign_ins_alone_and_a_new_password_ends_them_all(
        chainlit_app, engine, unique):
    async with AsyncClient(transport=ASGITransport(app=chainlit_app), base_url="http://testserver") as client:
        first = await _sign_in(client, engine, f"lp{unique}")
        second = await _sign_in_again(client, f"lp{unique}")
        await _as(client, "POST", "/logout", first)
        assert (await _as(client, "GET", "/user", first)).status_code == 401
        assert (await _as(client, "GET", "/user", second)).status_code == 200

        async with transaction(None, engine=engine) as conn:
            assert await accounts.set_password(conn, name=f"lp{unique}", password="another long passphrase")
        assert (await _as(client, "GET", "/user", second)).status_code == 401


async def test_a_cookie_without_a_session_is_refused(chainlit_app, engine, unique):
    """Cookies signed before sessions existed name none: their owner signs in again."""
    from chainlit.auth.jwt import create_jwt
    from chainlit.user import User

    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"ln{unique}", password=PASSWORD)
        session_id = await sessions.open_session(conn, acc)
    old_style = create_jwt(User(identifier=f"ln{unique}", metadata={"account_id": str(acc)}))
    ours = create_jwt(User(identifier=f"ln{unique}", metadata={"account_id": str(acc), "session_id": str(session_id)}))
    async with AsyncClient(transport=ASGITransport(app=chainlit_app), base_url="http://testserver") as client:
        assert (await _as(client, "GET", "/user", old_style)).status_code == 401
        assert (await _as(client, "GET", "/user", ours)).status_code == 200
