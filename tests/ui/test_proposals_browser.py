"""Proposals in headless Chromium on the offline model: create a table, change its schema and its rows
(several changes asked in one message), dismiss, reload; and the live view following an edit made in
another browser session."""

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
    await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text("Workspace:")
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


async def _thread_meta(engine, page) -> dict:
    thread_id = page.url.rstrip("/").split("/thread/")[-1]

    async def found():
        async with transaction(None, engine=engine) as conn:
            row = await conn.execute(text("SELECT metadata FROM threads WHERE id = :t"), {"t": thread_id})
            meta = row.scalar_one_or_none()
        return meta if meta and meta.get("active_table_id") else None

    return await _wait(found)


async def _columns(engine, account_id, table_id) -> list[str]:
    async with transaction(account_id, engine=engine) as conn:
        return [c.name for c in (await db_tables.get_table(conn, table_id)).columns]


async def _proposal_statuses(engine, page) -> list[str]:
    thread_id = page.url.rstrip("/").split("/thread/")[-1]
    async with transaction(None, engine=engine) as conn:
        rows = await conn.execute(text("SELECT status FROM proposals WHERE thread_id = :t ORDER BY created_at"),
                                  {"t": thread_id})
        return list(rows.scalars())


async def test_schema_changes_supersede_show_data_loss_and_apply(chat, engine, user):
    page = chat
    await _create_restaurants(page)
    table_id = (await _thread_meta(engine, page))["active_table_id"]
    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3")

    await send_message(page, "make Rating required")
    updates = page.locator('[data-testid="proposal"][data-kind="schema_update"]')
    first = updates.first
    await expect(first.locator('th[data-col="Rating"]')).to_have_attribute("data-state", "modified")
    await expect(first.locator('th[data-col="Rating"]')).to_contain_text("→ required")
    await expect(live).to_contain_text("editing paused")

    # two changes in one message: one proposal, superseding the pending one
    await send_message(page, "add a column Priority (select) and remove column Notes")
    await expect(updates).to_have_count(2)
    await expect(first.get_by_test_id("proposal-outcome")).to_contain_text("Superseded by a newer proposal")
    await expect(first.get_by_role("button", name="Apply")).to_have_count(0)
    both = updates.last
    await expect(both.locator('th[data-col="Priority"]')).to_have_attribute("data-state", "added")
    notes = both.locator('th[data-col="Notes"]')
    await expect(notes).to_have_attribute("data-state", "removed")
    await expect(notes).to_contain_text("Data will be lost")
    await expect(both.get_by_test_id("schema-strip")).to_contain_text("Schema changes proposed: 1 new column, 1 removed")
    reply = page.locator(".step").filter(has_text="I've proposed these changes to")
    await expect(reply).to_contain_text("removing the column “Notes”")
    await expect(reply).to_contain_text("Apply")
    await expect(reply).to_contain_text("Dismiss")
    await notes.scroll_into_view_if_needed()
    await screenshot(page, "proposal_schema_preview")

    await both.get_by_role("button", name="Apply").click()
    await expect(both.get_by_test_id("proposal-outcome")).to_contain_text("All 2 changes applied")
    columns = await _columns(engine, user["id"], table_id)
    assert "Notes" not in columns and "Priority" in columns and "Rating" in columns
    async with transaction(user["id"], engine=engine) as conn:
        table = await db_tables.get_table(conn, table_id)
    priority = next(c for c in table.columns if c.name == "Priority")
    rating = next(c for c in table.columns if c.name == "Rating")
    assert priority.type == "select" and priority.options == ["P0", "P1", "P2", "P3"]
    assert not rating.required  # the superseded proposal was not applied
    assert await _proposal_statuses(engine, page) == ["applied", "superseded", "applied"]
    await expect(live.locator('th:has-text("Notes")')).to_have_count(0)
    await expect(live.locator('th:has-text("Priority")')).to_have_count(1)
    await expect(live).not_to_contain_text("editing paused")
    await expect(page.locator(".step").filter(has_text="The table has its new columns now")).to_be_visible()
    await screenshot(page, "proposal_schema_applied")


async def test_data_proposal_from_one_message_uncheck_one_apply_two_of_three(chat, engine, user):
    page = chat
    await _create_restaurants(page)
    table_id = (await _thread_meta(engine, page))["active_table_id"]
    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3")
    before = {r["Name"]: r for r in await _rows(engine, user["id"], table_id)}

    await send_message(page, "add a row Name=Eataly, Neighborhood=River North, Rating=4.2; set Rating to 4.9 "
                             "where Name is Monteverde; delete the rows where Name is Piccolo Sogno")
    preview = _proposal(page, "data")
    rows = preview.get_by_test_id("proposed-row")
    await expect(rows).to_have_count(3)
    added, updated, deleted = (preview.locator(f'[data-testid="proposed-row"][data-state="{s}"]')
                               for s in ("added", "updated", "deleted"))
    await expect(added).to_contain_text("Eataly")
    await expect(added).to_contain_text("River North")
    await expect(updated.locator('td[title="Was: 4.7"]')).to_contain_text("4.9")
    await expect(deleted).to_contain_text("Piccolo Sogno")
    await expect(preview.get_by_test_id("data-bar")).to_contain_text("1 new row, 1 update, 1 deletion")
    reply = page.locator(".step").filter(has_text="I've proposed these changes to")
    await expect(reply).to_contain_text("deleting 1 row where Name is Piccolo Sogno")
    await expect(reply).to_contain_text("Dismiss")
    await expect(preview.get_by_role("button", name="Apply 3 of 3")).to_be_enabled()

    await deleted.get_by_role("checkbox").click()
    apply = preview.get_by_role("button", name="Apply 2 of 3")
    await expect(apply).to_be_enabled()
    await screenshot(page, "proposal_data_offline_preview")
    await apply.click()
    await expect(preview.get_by_test_id("proposal-outcome")).to_have_text("All 2 changes applied")
    await expect(added.get_by_label("applied")).to_be_visible()
    await expect(updated.get_by_label("applied")).to_be_visible()
    await expect(deleted.get_by_label("applied")).to_have_count(0)

    after = {r["Name"]: r for r in await _rows(engine, user["id"], table_id)}
    assert sorted(after) == ["Eataly", "Monteverde", "Piccolo Sogno", "RPM Italian"]
    assert {k: after["Eataly"][k] for k in ("Neighborhood", "Rating")} == {"Neighborhood": "River North", "Rating": 4.2}
    assert after["Monteverde"] == {**before["Monteverde"], "Rating": 4.9}
    assert after["Piccolo Sogno"] == before["Piccolo Sogno"]  # unchecked: kept as it was
    assert after["RPM Italian"] == before["RPM Italian"]
    await expect(live).to_contain_text("Eataly")
    await expect(live).to_contain_text("Piccolo Sogno")
    await expect(live.locator('tr:has-text("Monteverde") td[data-col="Rating"]')).to_have_text("4.9")
    await screenshot(page, "proposal_data_offline_applied")

    await preview.get_by_role("button", name="Done").click()
    await expect(page.locator(".step").filter(has_text="the changes are in the table now")).to_be_visible()
    await expect(preview.get_by_role("button", name="Done")).to_have_count(0)


async def test_dismiss_changes_nothing_and_a_reload_shows_every_preview_as_decided(chat, engine, user):
    page = chat
    await _create_restaurants(page, drop="Notes")
    table_id = (await _thread_meta(engine, page))["active_table_id"]
    before = await _rows(engine, user["id"], table_id)
    await send_message(page, "delete the rows where Rating is less than 4.6")
    data = _proposal(page, "data")
    await expect(data.get_by_test_id("proposed-row")).to_have_count(1)
    await expect(data.get_by_role("button", name="Apply 1 of 1")).to_be_visible()
    replies = await page.locator(".step").count()
    await data.get_by_role("button", name="Dismiss").click()
    await expect(data.get_by_test_id("proposal-outcome")).to_contain_text("Dismissed")
    await asyncio.sleep(1.0)  # the agent is not told of a dismissal: no new message may appear
    assert await page.locator(".step").count() == replies
    assert await _rows(engine, user["id"], table_id) == before
    assert await _proposal_statuses(engine, page) == ["applied", "dismissed"]

    await page.reload()
    create = _proposal(page, "schema_create")
    await expect(create.get_by_test_id("proposal-outcome")).to_contain_text("Created table")
    await expect(create.get_by_role("button", name="Create Table")).to_have_count(0)
    await expect(create.get_by_role("checkbox")).to_have_count(0)
    dismissed = _proposal(page, "data")
    await expect(dismissed.get_by_test_id("proposal-outcome")).to_contain_text("Dismissed")
    await expect(dismissed.get_by_role("button", name="Apply 1 of 1")).to_have_count(0)
    await screenshot(page, "proposal_reloaded")

    # the resumed chat goes on with the same active table and history
    await send_message(page, "add 2 rows")
    await expect(_proposal(page, "data").get_by_role("button", name="Apply 2 of 2")).to_be_visible()


async def test_an_edit_in_one_session_shows_in_the_others_live_view(chat, chromium, app_server, engine, user):
    page = chat
    await _create_restaurants(page)
    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live).to_contain_text("RPM Italian")
    thread_url = page.url

    other = await new_page(chromium)
    try:
        await login(other, app_server.url, user["name"], user["password"])
        await other.goto(thread_url)
        await send_message(other, "/tables")
        # every chat of this module's user works in their most recent workspace, so earlier tests' tables of
        # the same name are listed too: newest first, the one just made is the first
        listing = other.locator(".step").filter(has_text="Your tables:").last
        await listing.get_by_role("button", name="Open Italian Restaurants in Chicago").first.click()
        other_live = other.locator("#side-view-content [data-testid=live-table]")
        cell = other_live.locator('tr:has-text("RPM Italian") td[data-col="Rating"]')
        await expect(cell).to_have_text("4.5")
        await cell.dblclick()
        await cell.locator("input").fill("4.9")
        await cell.locator("input").press("Enter")
        await expect(cell).to_have_text("4.9")
        seen = live.locator('tr:has-text("RPM Italian") td[data-col="Rating"]')
        await expect(seen).to_have_text("4.9", timeout=2500)
        await seen.scroll_into_view_if_needed()
        await screenshot(other, "live_edit_other_session")
        await screenshot(page, "live_edit_seen")
    finally:
        await other.context.close()


async def test_the_welcome_screen_offers_starters_and_names_the_offline_model(chat):
    page = chat
    await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text("offline model")
    starter = page.locator("#starter-italian-restaurants-in-chicago")
    await expect(starter).to_be_visible()
    await screenshot(page, "welcome_starters")
    await starter.click()
    await expect(_proposal(page, "schema_create").get_by_test_id("proposal-title")).to_have_text(
        "Italian Restaurants in Chicago")
