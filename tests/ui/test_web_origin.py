"""Another origin gets nothing from a signed-in user: no CORS for credentialed requests, no API answer, no
chat socket. The app's own pages and the origins listed in TABLECHAT_ALLOWED_ORIGINS still work.
Against the real server (uvicorn, Chainlit, socket.io), as a browser page on another port would talk to it."""

from __future__ import annotations

import json
import uuid

import aiohttp
import httpx
import pytest
from browser import AppServer, app_env

from db import accounts
from db.engine import transaction

EVIL = "http://evil.example"
FRIEND = "https://friend.example"
CSRF = {"X-Requested-With": "tablechat"}


@pytest.fixture(scope="module")
def server(services):
    app = AppServer(app_env(services, TABLECHAT_ALLOWED_ORIGINS=FRIEND))
    app.start()
    yield app
    app.stop()


@pytest.fixture
async def signed_in(server, engine, unique):
    """A client holding the login cookie of a new account that has one table."""
    name = f"orig{unique}"
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=name, password="pw-origin-1")
        await accounts.create_workspace(conn, owner_id=acc)
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.post("/login", data={"username": name, "password": "pw-origin-1"})
        assert r.status_code == 200, r.text
        made = await client.post("/api/v1/tables", json={"name": "Secrets", "columns": [{"name": "S"}]},
                                 headers=CSRF)
        assert made.status_code == 201, made.text
        yield client


async def _tables(client) -> list[str]:
    r = await client.get("/api/v1/tables", headers=CSRF)
    return [t["name"] for t in r.json()["items"]]


async def test_a_foreign_origin_gets_no_data_and_creates_nothing(server, signed_in):
    evil = {"Origin": EVIL, **CSRF}
    preflight = await signed_in.options("/api/v1/tables", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-requested-with"})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400

    read = await signed_in.get("/api/v1/tables", headers=evil)
    assert read.status_code == 403
    assert "Secrets" not in read.text and "access-control-allow-origin" not in read.headers

    made = await signed_in.post("/api/v1/tables", json={"name": "Planted", "columns": [{"name": "x"}]},
                                headers=evil)
    assert made.status_code == 403
    for path in ("/project/threads", "/user"):  # Chainlit's own routes, behind the same wall
        r = await signed_in.request("POST" if path.endswith("threads") else "GET", path, headers=evil,
                                    json={"pagination": {"first": 20}, "filter": {}})
        assert r.status_code == 403, (path, r.status_code)
    assert await _tables(signed_in) == ["Secrets"]  # nothing planted; the same-origin call still works


async def test_the_apps_own_origin_and_a_listed_one_are_served(server, signed_in):
    own = await signed_in.get("/api/v1/tables", headers={"Origin": server.url, **CSRF})
    assert own.status_code == 200 and [t["name"] for t in own.json()["items"]] == ["Secrets"]

    preflight = await signed_in.options("/api/v1/tables", headers={
        "Origin": FRIEND, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-requested-with"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == FRIEND
    assert preflight.headers["access-control-allow-credentials"] == "true"
    friendly = await signed_in.get("/api/v1/tables", headers={"Origin": FRIEND, **CSRF})
    assert friendly.status_code == 200 and friendly.headers["access-control-allow-origin"] == FRIEND


async def _socket_handshake(server, cookies, origin: str) -> tuple[int, str]:
    """Open the chat socket as the browser does (websocket transport) and ask socket.io for a session:
    (the HTTP status of the handshake, the socket.io answer to the connect packet)."""
    url = f"ws://127.0.0.1:{server.port}/ws/socket.io/?EIO=4&transport=websocket"
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(url, headers={"Origin": origin, "Cookie": cookie})
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, ""
        async with ws:
            opened = await ws.receive_str(timeout=10)
            assert opened.startswith("0{")
            auth = {"clientType": "webapp", "sessionId": str(uuid.uuid4()), "threadId": None}
            await ws.send_str("40" + json.dumps(auth))
            return 101, await ws.receive_str(timeout=10)


async def test_the_chat_socket_refuses_a_foreign_origin(server, signed_in):
    cookies = dict(signed_in.cookies)
    status, answer = await _socket_handshake(server, cookies, EVIL)
    assert status == 403 and answer == ""
    polling = await signed_in.get("/ws/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL})
    assert polling.status_code in (400, 403) and '"sid"' not in polling.text

    same_page = await signed_in.get("/ws/socket.io/?EIO=4&transport=polling")  # no Origin: the page's own
    assert same_page.status_code == 200 and '"sid"' in same_page.text
    status, answer = await _socket_handshake(server, cookies, server.url)
    assert status == 101 and answer.startswith("40{") and '"sid"' in answer
