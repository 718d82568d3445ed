"""The live view's side of the REST API: the chat's login cookie is accepted for same-origin script calls
(with the CSRF header), never on its own, and a records page carries the change-feed cursor."""

from __future__ import annotations

import os
import secrets
import uuid

import pytest
from httpx import ASGITransport, AsyncClient

from api.app import create_api
from db import accounts, records
from db import tables as db_tables
from db.engine import transaction
from db.schemas import ColumnCreate
from ui.login_cookie import LOGIN_COOKIE

HEADER = {"X-Requested-With": "tablechat"}


@pytest.fixture(scope="module")
def secret():
    """The login secret the cookies are signed with (the app sets it from settings at import)."""
    old = os.environ.get("CHAINLIT_AUTH_SECRET")
    os.environ["CHAINLIT_AUTH_SECRET"] = secrets.token_urlsafe(32)
    yield os.environ["CHAINLIT_AUTH_SECRET"]
    if old is None:
        os.environ.pop("CHAINLIT_AUTH_SECRET", None)
    else:
        os.environ["CHAINLIT_AUTH_SECRET"] = old


@pytest.fixture
async def client(engine):
    async with AsyncClient(transport=ASGITransport(app=create_api(engine, login_cookie=LOGIN_COOKIE)), base_url="http://testserver") as c:
        yield c


def cookie_for(name: str, account_id, session_id) -> dict[str, str]:
    """The `access_token` cookie that Chainlit's login sets for this user."""
    from chainlit.auth.jwt import create_jwt
    from chainlit.user import User

    metadata = {"account_id": str(account_id), "session_id": str(session_id)}
    return {"access_token": create_jwt(User(identifier=name, metadata=metadata))}


async def _session(engine, account_id):
    """A sign-in of the account, as the login callback records it."""
    from db import sessions

    async with transaction(None, engine=engine) as conn:
        return await sessions.open_session(conn, account_id)


async def _account_with_table(engine, unique: str):
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=f"ck{unique}", password="pw-cookie")
        ws = await accounts.create_workspace(conn, owner_id=account_id)
    async with transaction(account_id, engine=engine) as conn:
        table = await db_tables.create_table(conn, workspace_id=ws["id"], name=f"Cookies {unique}", description="",
                                             columns=[ColumnCreate(name="Flavour", type="text")])
        (rid,) = await records.create_records(conn, table, [{"Flavour": "Oat"}])
    return account_id, table, rid


async def test_the_login_cookie_reads_the_users_tables_and_the_feed_from_the_pages_cursor(
        secret, client, engine, unique):
    account_id, table, rid = await _account_with_table(engine, unique)
    client.cookies.update(cookie_for(f"ck{unique}", account_id, await _session(engine, account_id)))
    listed = await client.get("/tables", headers=HEADER)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["items"]] == [f"Cookies {unique}"]

    page = await client.get(f"/tables/{table.id}/records?limit=10", headers=HEADER)
    assert page.status_code == 200
    body = page.json()
    assert [r["cells"][str(table.columns[0].id)]["value"] for r in body["items"]] == ["Oat"]
    assert body["cursor"] > 0
    nothing = await client.get(f"/tables/{table.id}/updates?cursor={body['cursor']}", headers=HEADER)
    assert nothing.json()["changes"] == []

    cell = body["items"][0]["cells"][str(table.columns[0].id)]
    edited = await client.patch(f"/tables/{table.id}/records/{rid}/cells/Flavour",
                                json={"value": "Spelt", "version": cell["version"]}, headers=HEADER)
    assert edited.status_code == 200
    feed = (await client.get(f"/tables/{table.id}/updates?cursor={body['cursor']}", headers=HEADER)).json()
    assert [(c["kind"], c["data"]["value"]) for c in feed["changes"]] == [("cell", "Spelt")]


async def test_a_cookie_alone_is_refused_without_the_header(secret, client, engine, unique):
    account_id, _, _ = await _account_with_table(engine, unique)
    client.cookies.update(cookie_for(f"ck{unique}", account_id, await _session(engine, account_id)))
    refused = await client.get("/tables")
    assert refused.status_code == 401
    assert "X-Requested-With" in refused.json()["error"]["message"]
    wrong = await client.get("/tables", headers={"X-Requested-With": "XMLHttpRequest"})
    assert wrong.status_code == 401


async def test_forged_or_mismatched_cookies_are_refused(secret, client, engine, unique):
    account_id, _, _ = await _account_with_table(engine, unique)
    import jwt

    forged = jwt.encode({"identifier": f"ck{unique}", "metadata": {"account_id": str(account_id)},
                         "exp": 4102444800}, "another-secret", algorithm="HS256")
    for cookies in ({"access_token": forged},
                    cookie_for(f"ck{unique}", uuid.uuid4(), await _session(engine, account_id)),  # a name with another account's id
                    cookie_for(f"nobody{unique}", account_id, await _session(engine, account_id)),
                    {"access_token": "not-a-token"}):
        client.cookies.clear()
        client.cookies.update(cookies)
        answer = await client.get("/tables", headers=HEADER)
        assert answer.status_code == 401, cookies
        assert "Traceback" not in answer.text


async def test_a_bearer_token_still_wins_over_a_cookie(secret, client, engine, unique):
    account_id, _, _ = await _account_with_table(engine, unique)
    client.cookies.update(cookie_for(f"ck{unique}", account_id, await _session(engine, account_id)))
    answer = await client.get("/tables", headers={"Authorization": "Bearer not-a-real-token", **HEADER})
    assert answer.status_code == 401 and "API token" in answer.json()["error"]["message"]
