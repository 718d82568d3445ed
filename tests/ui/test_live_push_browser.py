"""The live table in Chromium hears of changes through the pushed event stream, not the poll: an edit made
through the REST API shows up while the page never asks `/updates`; with the stream refused, it polls."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from browser import login, new_page, screenshot, send_message
from playwright.async_api import expect
from sqlalchemy import text

from db import accounts
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def user(engine):
    name, password = f"push{uuid.uuid4().hex[:8]}", "pw-push-live"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
        token = await accounts.create_token(conn, account_id=account_id, name="tests")
    return {"name": name, "password": password, "id": account_id, "token": token}


async def _open_movies(page, app_server, user, engine) -> str:
    await login(page, app_server.url, user["name"], user["password"])
    await send_message(page, "Create a table of movies to watch")
    create = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
    await create.get_by_role("button", name="Create Table").click()
    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live.locator('tr:has-text("Inception")')).to_be_visible()
    async with transaction(None, engine=engine) as conn:
        found = await conn.execute(text("SELECT t.id FROM data_tables t JOIN memberships m ON m.workspace_id = "
                                        "t.workspace_id WHERE m.account_id = :a ORDER BY t.created_at DESC LIMIT 1"),
                                   {"a": user["id"]})
        return str(found.scalar_one())


async def _rename_inception(app_server, user, table_id: str, title: str) -> None:
    headers = {"Authorization": f"Bearer {user['token']}"}
    async with httpx.AsyncClient(base_url=app_server.url + "/api/v1", headers=headers) as api:
        page = (await api.get(f"/tables/{table_id}/records", params={"q": "Inception"})).json()
        row = page["items"][0]
        cols = {c["name"]: c["id"] for c in (await api.get(f"/tables/{table_id}")).json()["columns"]}
        r = await api.patch(f"/tables/{table_id}/records/{row['id']}", json={"values": {cols["Title"]: title}})
        assert r.status_code == 200, r.text


async def test_an_api_edit_appears_without_the_poll(chromium, app_server, user, engine):
    page = await new_page(chromium)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        table_id = await _open_movies(page, app_server, user, engine)
        for _ in range(100):  # the view opens its stream once it has its first page
            if any("/events" in u for u in asked):
                break
            await asyncio.sleep(0.1)
        assert any("/events" in u for u in asked)
        await _rename_inception(app_server, user, table_id, "Inception (pushed)")
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.locator('tr:has-text("Inception (pushed)")')).to_be_visible(timeout=5_000)
        assert not [u for u in asked if "/updates" in u], "the view polled although the stream was open"
        await screenshot(page, "live_table_pushed")
    finally:
        await page.context.close()


async def test_without_the_stream_the_view_polls(chromium, app_server, user, engine):
    page = await new_page(chromium)
    await page.route("**/events*", lambda route: route.abort())
    try:
        table_id = await _open_movies(page, app_server, user, engine)
        await _rename_inception(app_server, user, table_id, "Inception (polled)")
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.locator('tr:has-text("Inception (polled)")')).to_be_visible(timeout=10_000)
    finally:
        await page.context.close()
