"""A decided preview shows the outcome text the server put in its props, and its own words without one."""

from __future__ import annotations

import json
import uuid

import pytest
from browser import login, new_page, screenshot, send_message
from playwright.async_api import expect
from sqlalchemy import text

from db import accounts
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
async def user(engine):
    name, password = f"po{uuid.uuid4().hex[:8]}", "pw-outcome"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    return {"name": name, "password": password, "id": account_id}


def _proposal(page, kind: str):
    return page.locator(f'[data-testid="proposal"][data-kind="{kind}"]').last


async def _set_outcome_text(engine, thread_id: str, words: dict[str, str]) -> None:
    """Give each stored Proposal element of the thread, by kind, a ready outcome text."""
    async with transaction(None, engine=engine) as conn:
        rows = await conn.execute(
            text("""SELECT id, props FROM elements WHERE "threadId" = :t AND name = 'Proposal'"""), {"t": thread_id}
        )
        found = {r.props["kind"]: r for r in rows}
        assert set(words) <= set(found), found
        for kind, said in words.items():
            props = found[kind].props
            props["outcome"] = {**(props.get("outcome") or {}), "text": said}
            await conn.execute(text("UPDATE elements SET props = CAST(:p AS JSONB) WHERE id = :id"),
                               {"p": json.dumps(props), "id": found[kind].id})


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
