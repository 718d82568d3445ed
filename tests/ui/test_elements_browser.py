"""The custom elements in Chromium: their shared value format matches the server's (booleans read Yes/No
in the previews and in the live view alike), and a decided preview shows the outcome text its props carry."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from browser import login, new_page, screenshot, send_message
from playwright.async_api import expect
from sqlalchemy import text

from core.elements import SHARED
from db import accounts
from db.engine import transaction
from proposals.preview import show

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAME = [True, False, None, "", "Monteverde", 0, 3, 4.9, -12.5, ["River North", "West Loop"], []]


async def _in_browser(chromium, expression: str, values: list) -> list:
    page = await new_page(chromium)
    try:
        look = (SHARED / "look.jsx").read_text()
        return await page.evaluate(f"(values) => {{\n{look}\nreturn {expression};\n}}", values)
    finally:
        await page.context.close()


async def test_the_live_table_shows_a_value_as_the_previews_do_booleans_as_yes_no(chromium):
    shown = await _in_browser(chromium, "values.map(show)", SAME)
    assert shown == [show(v) for v in SAME]
    assert shown[:3] == ["Yes", "No", ""]


async def test_type_labels_read_with_spaces(chromium):
    assert await _in_browser(chromium, "values.map(typeLabel)", ["multi_select", "text"]) == ["multi select", "text"]


@pytest.fixture(scope="module")
async def user(engine):
    name, password = f"po{uuid.uuid4().hex[:8]}", "pw-outcome"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    return {"name": name, "password": password, "id": account_id}


def _proposal(page, kind: str):
    return page.locator(f'[data-testid="proposal"][data-kind="{kind}"]').last


async def _set_outcome_text(engine, thread_id: str, words: dict[str, str]) -> None:
    """Give each stored Proposal element of the thread, by kind, a ready outcome text, once the element
    rows hold the decided state (they are written after the browser sees it)."""
    for _ in range(100):
        async with transaction(None, engine=engine) as conn:
            rows = await conn.execute(
                text("""SELECT id, props FROM elements WHERE "threadId" = :t AND name = 'Proposal'"""),
                {"t": thread_id},
            )
            found = {r.props["kind"]: r for r in rows}
            if all(k in found and found[k].props.get("status") != "pending" for k in words):
                for kind, said in words.items():
                    props = found[kind].props
                    props["outcome"] = {**(props.get("outcome") or {}), "text": said}
                    await conn.execute(text("UPDATE elements SET props = CAST(:p AS JSONB) WHERE id = :id"),
                                       {"p": json.dumps(props), "id": found[kind].id})
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the decided previews were not stored: {found}")


async def test_outcome_text_from_props_replaces_the_elements_own_words(chromium, app_server, engine, user):
    page = await new_page(chromium)
    try:
        await login(page, app_server.url, user["name"], user["password"])
        await send_message(page, "Create a table of Italian restaurants in Chicago")
        create = _proposal(page, "schema_create")
        await create.get_by_role("button", name="Create Table").click()
        outcome = create.get_by_test_id("proposal-outcome")
        await expect(outcome).to_contain_text("Created table")
        await expect(outcome).to_contain_text("and 3 sample rows — it is open in the live view.")

        await send_message(page, "delete the rows where Rating is less than 4.6")
        data = _proposal(page, "data")
        await data.get_by_role("button", name="Dismiss").click()
        await expect(data.get_by_test_id("proposal-outcome")).to_have_text("Dismissed — nothing was changed.")

        await page.wait_for_url("**/thread/**")
        thread_id = page.url.rstrip("/").split("/thread/")[-1]
        await _set_outcome_text(engine, thread_id, {"schema_create": "The server says: table made.",
                                                     "data": "The server says: left alone."})
        await page.reload()
        await expect(_proposal(page, "schema_create").get_by_test_id("proposal-outcome")).to_have_text(
            "The server says: table made.")
        await expect(_proposal(page, "data").get_by_test_id("proposal-outcome")).to_have_text(
            "The server says: left alone.")
        await screenshot(page, "proposal_outcome_text")
    finally:
        await page.context.close()


async def test_booleans_read_yes_no_in_the_preview_and_in_the_live_view(chromium, app_server, user):
    page = await new_page(chromium)
    try:
        await login(page, app_server.url, user["name"], user["password"])
        await send_message(page, "Create a table of movies to watch")
        create = _proposal(page, "schema_create")
        samples = create.get_by_test_id("sample-row")
        await expect(samples.filter(has_text="Inception")).to_contain_text("No")
        await expect(samples.filter(has_text="Spirited Away")).to_contain_text("Yes")
        await create.get_by_role("button", name="Create Table").click()

        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.locator('tr:has-text("Inception") td[data-col="Watched"]')).to_have_text("No")
        await expect(live.locator('tr:has-text("Spirited Away") td[data-col="Watched"]')).to_have_text("Yes")
        await live.locator('td[data-col="Watched"]').first.scroll_into_view_if_needed()
        await screenshot(page, "live_table_booleans")
    finally:
        await page.context.close()
