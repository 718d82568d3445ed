"""Proposals in headless Chromium on the offline model: create a table, change its schema, change its
rows, dismiss, reload; and the live view following an edit made in another browser session."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from browser import login, new_page, screenshot, send_message
from playwright.async_api import expect
from sqlalchemy import text

from db import accounts, records
from db import tables as db_tables
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def user(engine):
    """One account for the module, with the password the browser signs in with."""
    name, password = f"pv{uuid.uuid4().hex[:8]}", "pw-proposals"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    return {"name": name, "password": password, "id": account_id}


@pytest.fixture(scope="module")
async def signed_in(chromium, app_server, user):
    """A browser context signed in once; each test opens its own tab (and chat) in it."""
    page = await new_page(chromium)
    await login(page, app_server.url, user["name"], user["password"])
    yield page.context
    await page.context.close()


@pytest.fixture
async def chat(signed_in, app_server):
    """A tab with a new chat."""
    page = await signed_in.new_page()
    await page.goto(app_server.url)
    await page.locator("#chat-input").wait_for(state="visible")
    yield page
    await page.close()


async def _table_named(engine, account_id, name: str) -> list:
    async with transaction(account_id, engine=engine) as conn:
        return [t for t in await db_tables.list_tables(conn) if t.name == name]


async def _rows(engine, account_id, table_id) -> list[dict]:
    async with transaction(account_id, engine=engine) as conn:
        table = await db_tables.get_table(conn, table_id)
        page = await records.list_records(conn, table, limit=100)
        names = {str(c.id): c.name for c in table.columns}
        return [{"id": r.id} | {names[k]: c.value for k, c in r.cells.items() if k in names} for r in page.items]


async def _wait(fn, timeout: float = 10.0):
    for _ in range(int(timeout / 0.1)):
        if found := await fn():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {fn}")


def _proposal(page, kind: str):
    return page.locator(f'[data-testid="proposal"][data-kind="{kind}"]').last


async def _create_restaurants(page, *, drop: str | None = None):
    await send_message(page, "Create a table of Italian restaurants in Chicago")
    preview = _proposal(page, "schema_create")
    await expect(preview).to_be_visible()
    if drop:
        await preview.get_by_role("checkbox", name=f"Include column {drop}").click()
    await preview.get_by_role("button", name="Create Table").click()
    await expect(preview.get_by_test_id("proposal-outcome")).to_contain_text("Created table")
    return preview


async def test_create_table_preview_uncheck_a_column_and_create(chat, engine, user):
    page = chat
    await send_message(page, "Create a table of Italian restaurants in Chicago")
    preview = _proposal(page, "schema_create")
    await expect(preview).to_be_visible()
    await expect(preview.get_by_test_id("proposal-title")).to_have_text("Italian Restaurants in Chicago")
    for name, kind in (("Name", "text"), ("Rating", "number"), ("Website", "url")):
        await expect(preview.locator(f'th[data-col="{name}"]')).to_contain_text(kind)
    await expect(preview.get_by_test_id("sample-row")).to_have_count(3)
    await expect(preview).to_contain_text("RPM Italian")
    await expect(preview.get_by_role("checkbox", name="Include sample data")).to_be_checked()
    reply = page.locator(".step").filter(has_text="I've designed a table")
    await expect(reply).to_contain_text("Create Table")

    await preview.get_by_role("checkbox", name="Include column Website").click()
    await expect(preview.get_by_role("checkbox", name="Include column Website")).not_to_be_checked()
    await screenshot(page, "proposal_create_preview")
    await preview.get_by_role("button", name="Create Table").click()
    await expect(preview.get_by_test_id("proposal-outcome")).to_contain_text("Created table")
    await expect(preview.get_by_role("button", name="Create Table")).to_have_count(0)

    (table,) = await _wait(lambda: _table_named(engine, user["id"], "Italian Restaurants in Chicago"))
    async with transaction(user["id"], engine=engine) as conn:
        columns = [c.name for c in (await db_tables.get_table(conn, table.id)).columns]
    assert "Website" not in columns and {"Name", "Rating", "Neighborhood"} <= set(columns)
    rows = await _rows(engine, user["id"], table.id)
    assert sorted(r["Name"] for r in rows) == ["Monteverde", "Piccolo Sogno", "RPM Italian"]

    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live.get_by_test_id("live-table-name")).to_have_text("Italian Restaurants in Chicago")
    await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3")
    await expect(live).to_contain_text("Monteverde")
    await expect(live.locator("th")).not_to_contain_text(["Website"])
    await expect(page.locator(".step").filter(has_text="is created and open beside the chat")).to_be_visible()
    await screenshot(page, "proposal_create_applied")
