"""Revert in headless Chromium on the offline model: apply a data proposal, click Revert on it, see the
revert's preview (the old value back, in amber with "Was: …"), apply it, and see the old value again."""

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


async def _active_table(engine, page):
    thread_id = page.url.rstrip("/").split("/thread/")[-1]
    for _ in range(100):
        async with transaction(None, engine=engine) as conn:
            meta = (await conn.execute(text("SELECT metadata FROM threads WHERE id = :t"),
                                       {"t": thread_id})).scalar_one_or_none()
        if meta and meta.get("active_table_id"):
            return meta["active_table_id"]
        await asyncio.sleep(0.1)
    raise AssertionError("no active table")


async def _ratings(engine, account_id, table_id) -> dict[str, object]:
    async with transaction(account_id, engine=engine) as conn:
        table = await db_tables.get_table(conn, table_id)
        page = await records.list_records(conn, table, limit=100)
    names = {str(c.id): c.name for c in table.columns}
    out = {}
    for r in page.items:
        row = {names[k]: c.value for k, c in r.cells.items() if k in names}
        out[row["Name"]] = row["Rating"]
    return out


async def test_apply_then_revert_then_apply_the_revert(chromium, app_server, engine):
    name, password = f"rv{uuid.uuid4().hex[:8]}", "pw-revert-test"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    page = await new_page(chromium)
    try:
        await login(page, app_server.url, name, password)
        await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text("Workspace:")
        await send_message(page, "Create a table of Italian restaurants in Chicago")
        create = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
        await create.get_by_role("button", name="Create Table").click()
        await expect(create.get_by_test_id("proposal-outcome")).to_contain_text("Created table")
        table_id = await _active_table(engine, page)
        before = await _ratings(engine, account_id, table_id)
        assert before["Monteverde"] not in (None, 1)

        await send_message(page, "set Rating to 1 where Name is Monteverde")
        data = page.locator('[data-testid="proposal"][data-kind="data"]').last
        await expect(data.get_by_role("button", name="Apply 1 of 1")).to_be_visible(timeout=20_000)
        await data.get_by_role("button", name="Apply 1 of 1").click()
        await expect(data.get_by_test_id("proposal-outcome")).to_contain_text("applied")
        assert (await _ratings(engine, account_id, table_id))["Monteverde"] == 1

        await data.get_by_test_id("proposal-revert").click()
        revert = page.locator('[data-testid="proposal"][data-kind="data"]').last
        # titled as what it is, a revert of the change the proposal made (not "AI Proposed Changes")
        title = revert.get_by_test_id("proposal-title")
        await expect(title).to_have_text('Revert: 1 row updated in "Italian Restaurants in Chicago"')
        await expect(revert.get_by_test_id("data-bar")).not_to_contain_text("AI Proposed Changes")
        updated = revert.locator('[data-testid="proposed-row"][data-state="updated"]')
        await expect(updated.locator('td[title="Was: 1"]')).to_contain_text(str(before["Monteverde"]))
        await expect(page.locator(".step").filter(has_text="Here is the revert")).to_contain_text("Dismiss")
        await screenshot(page, "revert_preview")

        await revert.get_by_role("button", name="Apply 1 of 1").click()
        await expect(revert.get_by_test_id("proposal-outcome")).to_contain_text("applied")
        assert (await _ratings(engine, account_id, table_id)) == before
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live).to_contain_text(str(before["Monteverde"]))
        await screenshot(page, "revert_applied")

        # the cell's history: the revert, the proposal, the row's creation — newest first
        cell = live.locator("tr", has_text="Monteverde").locator('td[data-col="Rating"]')
        await cell.click(button="right")
        history = live.get_by_test_id("cell-history")
        versions = history.get_by_test_id("history-version")
        await expect(versions).to_have_count(3)
        assert [await v.get_attribute("data-kind") for v in await versions.all()] == ["revert", "proposal", "proposal"]
        await expect(versions.first).to_contain_text("Reverted")
        await expect(versions.nth(1)).to_contain_text("1")
        await screenshot(page, "cell_history")
    finally:
        await page.context.close()
