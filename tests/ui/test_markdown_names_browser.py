"""In headless Chromium: a table whose name is a markdown image (or an HTML tag) is listed, opened and
talked about, and the page never asks the address in its name for anything."""

from __future__ import annotations

import asyncio

from browser import login, screenshot, send_message
from playwright.async_api import expect

from db import accounts, tables
from db.engine import transaction
from db.schemas import ColumnCreate

HOSTILE_HOST = "127.0.0.1:9"  # a local address (the page may reach it), where nothing answers


async def _workspace(engine, account_id) -> dict:
    for _ in range(100):
        async with transaction(None, engine=engine) as conn:
            found = await accounts.workspaces_of(conn, account_id)
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no workspace")


async def test_a_hostile_table_name_loads_nothing(app_server, page, engine, unique):
    name, password = f"md{unique}", f"pw-{unique}"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    await login(page, app_server.url, name, password)
    ws = await _workspace(engine, account_id)
    names = [f"![x](http://{HOSTILE_HOST}/ping) {unique}", f"<img src=http://{HOSTILE_HOST}/tag> {unique}"]
    async with transaction(account_id, engine=engine) as conn:
        for table_name in names:
            await tables.create_table(conn, workspace_id=ws["id"], name=table_name, description="",
                                      columns=[ColumnCreate(name=f"![c](http://{HOSTILE_HOST}/col)", type="text")])

    await send_message(page, "/tables")
    listing = page.locator(".step").filter(has_text="Your tables")
    for table_name in names:  # the names read as their own characters
        await expect(listing.locator(".prose")).to_contain_text(table_name)
    await _nothing_asked(page, asked)
    await listing.get_by_role("button", name=f"Open {names[0]}").click()
    await expect(page.locator(".step").filter(has_text="is open in the live view")).to_contain_text(names[0])

    await send_message(page, "describe the table")
    await expect(page.locator(".step").filter(has_text="columns:")).to_contain_text(f"http://{HOSTILE_HOST}/col")
    await screenshot(page, "markdown_names")
    await _nothing_asked(page, asked)


async def _nothing_asked(page, asked: list[str]) -> None:
    await asyncio.sleep(1.0)  # any image the page rendered has had time to be asked for
    assert not [url for url in asked if HOSTILE_HOST in url], asked
    assert await page.locator(f'img[src*="{HOSTILE_HOST}"]').count() == 0
