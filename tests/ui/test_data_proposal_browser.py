"""A data proposal with an add, an update and a delete, in headless Chromium, made by Claude through the
real SDK against the fake server: streaming, tool use and the research log end to end (the offline
model's version of this flow is in test_proposals_browser.py), everything else is the real app."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from browser import AppServer, app_env, login, new_page, screenshot, send_message
from fakes.anthropic_server import FakeAnthropic, Reply, Text, ToolUse
from playwright.async_api import expect

from db import accounts, records
from db import tables as db_tables
from db.engine import transaction
from db.schemas import ColumnCreate

GUIDE = ("I've proposed 1 new row, 1 update and 1 deletion in “Bugs”. You can review the changes highlighted in "
         "the table — new rows at the top in green, updates in amber, deletions in red. Uncheck any you don't "
         "want, then click **Apply** or **Dismiss**.")


@pytest.fixture(scope="module")
def fake():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="module")
def app_server(services, fake):
    server = AppServer(app_env(services, TABLECHAT_LLM="anthropic", ANTHROPIC_API_KEY="test-key",
                               ANTHROPIC_BASE_URL=fake.url))
    server.start()
    yield server
    server.stop()


async def _workspace_named(engine, account_id, name: str) -> dict:
    async with transaction(None, engine=engine) as conn:
        return next(w for w in await accounts.workspaces_of(conn, account_id) if w["name"] == name)


async def _bugs_table(engine, account_id, workspace_id) -> tuple[object, list[int]]:
    async with transaction(account_id, engine=engine) as conn:
        table = await db_tables.create_table(
            conn, workspace_id=workspace_id, name="Bugs", description="Open issues",
            columns=[ColumnCreate(name="Title", type="text"),
                     ColumnCreate(name="Status", type="select", options=["Open", "Resolved"]),
                     ColumnCreate(name="Priority", type="select", options=["P1", "P2"])])
        ids = await records.create_records(conn, table, [
            {"Title": "Login timeout", "Status": "Open", "Priority": "P1"},
            {"Title": "CSS misalignment", "Status": "Open", "Priority": "P2"},
            {"Title": "Typo on pricing page", "Status": "Resolved", "Priority": "P2"},
        ])
    return table, ids


async def _rows(engine, account_id, table) -> dict[int, dict]:
    async with transaction(account_id, engine=engine) as conn:
        page = await records.list_records(conn, await db_tables.get_table(conn, table.id), limit=50)
    names = {str(c.id): c.name for c in table.columns}
    return {r.id: {names[k]: c.value for k, c in r.cells.items() if k in names} for r in page.items}


async def test_data_proposal_uncheck_one_apply_two_of_three_and_done(chromium, app_server, fake, engine):
    name, password = f"dp{uuid.uuid4().hex[:8]}", "pw-data-proposal"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    page = await new_page(chromium)
    try:
        await login(page, app_server.url, name, password)
        welcome = page.locator(".step").filter(has_text="Welcome to tablechat")
        await expect(welcome).to_contain_text("Workspace:")
        ws_name = (await welcome.inner_text()).split("Workspace:")[-1].strip().split()[0]
        ws = await _workspace_named(engine, account_id, ws_name)
        table, (first, second, third) = await _bugs_table(engine, account_id, ws["id"])

        await send_message(page, "/tables")
        await page.get_by_role("button", name="Open Bugs").click()
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3")

        fake.script(Reply([Text(GUIDE), ToolUse("propose_data", {
            "reasoning": "Triage: one new bug, one fixed, one duplicate.",
            "operations": [
                {"action": "add", "data": {"Title": "Crash on export", "Status": "Open", "Priority": "P1"}},
                {"action": "update", "row_id": first, "changes": {"Status": "Resolved"}},
                {"action": "delete", "row_id": third},
            ],
            "research_log": [{"query": "open bugs", "source": "triage notes", "note": "row 3 duplicates row 2"}],
        })]))
        await send_message(page, "Triage the bugs")
        preview = page.locator('[data-testid="proposal"][data-kind="data"]')
        await expect(preview).to_be_visible(timeout=20_000)
        await expect(page.locator(".step").filter(has_text="I've proposed 1 new row")).to_contain_text("Dismiss")
        rows = preview.get_by_test_id("proposed-row")
        await expect(rows).to_have_count(3)
        added, updated, deleted = (preview.locator(f'[data-testid="proposed-row"][data-state="{s}"]')
                                   for s in ("added", "updated", "deleted"))
        await expect(added).to_contain_text("Crash on export")
        await expect(updated.locator('td[title="Was: Open"]')).to_contain_text("Resolved")
        await expect(deleted).to_contain_text("Typo on pricing page")
        await expect(preview.get_by_test_id("data-bar")).to_contain_text("1 new row, 1 update, 1 deletion")
        await preview.get_by_test_id("research-log").locator("summary").click()
        await expect(preview.get_by_test_id("research-log")).to_contain_text("row 3 duplicates row 2")
        await expect(live).to_contain_text("editing paused")

        await preview.get_by_role("button", name="Deselect all").click()
        await expect(preview.get_by_role("button", name="Apply 0 of 3")).to_be_disabled()
        await preview.get_by_role("button", name="Select all", exact=True).click()
        await expect(preview.get_by_role("button", name="Apply 3 of 3")).to_be_enabled()
        await updated.get_by_role("checkbox").click()
        await expect(updated).not_to_contain_text("Resolved")  # unchecked: the row as it is, not as proposed
        await screenshot(page, "proposal_data_preview")

        fake.script(Reply("Both changes are in: the new bug is added and the duplicate is gone."))
        await preview.get_by_role("button", name="Apply 2 of 3").click()
        await expect(preview.get_by_test_id("proposal-outcome")).to_have_text("All 2 changes applied")
        await expect(preview.get_by_test_id("proposal-progress")).to_be_visible()
        await expect(added.get_by_label("applied")).to_be_visible()
        await expect(deleted.get_by_label("applied")).to_be_visible()
        after = await _rows(engine, account_id, table)
        assert third not in after
        assert after[first] == {"Title": "Login timeout", "Status": "Open", "Priority": "P1"}  # unchecked: untouched
        assert after[second]["Title"] == "CSS misalignment"
        assert [r for rid, r in after.items() if rid not in (first, second)] == [
            {"Title": "Crash on export", "Status": "Open", "Priority": "P1"}]
        await expect(live).to_contain_text("Crash on export")
        await expect(live).not_to_contain_text("Typo on pricing page")
        await expect(live).not_to_contain_text("editing paused")
        await screenshot(page, "proposal_data_applied")

        calls = len(fake.calls)
        await preview.get_by_role("button", name="Done").click()
        await expect(page.locator(".step").filter(has_text="Both changes are in")).to_be_visible()
        await expect(preview.get_by_role("button", name="Done")).to_have_count(0)
        told = json.dumps(fake.calls[calls].messages[-1])
        assert "[User accepted the data proposal and applied all changes.]" in told
        await asyncio.sleep(0.5)
        assert len(fake.calls) == calls + 1  # Done tells the agent once
    finally:
        await page.context.close()
