"""The app in headless Chromium: log in, see the chat's workspace, get a reply, restart, resume."""

from __future__ import annotations

import asyncio
import re

from browser import login, screenshot, send_message
from playwright.async_api import expect
from sqlalchemy import text

from db import accounts
from db.engine import transaction


async def _thread_of(engine, identifier: str) -> dict | None:
    async with transaction(None, engine=engine) as conn:
        row = await conn.execute(
            text('SELECT id, name, metadata FROM threads WHERE "userIdentifier" = :u ORDER BY "createdAt"'),
            {"u": identifier},
        )
        return next((dict(r) for r in row.mappings()), None)


async def _wait(fn, timeout: float = 10.0):
    for _ in range(int(timeout / 0.1)):
        if found := await fn():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {fn}")


async def test_login_workspace_reply_then_resume_after_restart(app_server, page, engine, unique):
    name, password = f"ui{unique}", f"pw-{unique}"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)

    await login(page, app_server.url, name, password)
    welcome = page.locator(".step").filter(has_text="Welcome to tablechat")
    await expect(welcome).to_contain_text("Workspace:")

    async def workspace():
        async with transaction(None, engine=engine) as conn:
            return (await accounts.workspaces_of(conn, account_id)) or None

    (ws,) = await _wait(workspace)
    await expect(welcome).to_contain_text(f"Workspace: {ws['name']}")
    await page.locator("#chat-settings-open-modal").click()
    await expect(page.locator("#chat-settings #workspace")).to_have_value(ws["name"])
    await screenshot(page, "chat_settings_workspace")
    await page.keyboard.press("Escape")

    await send_message(page, "List my tables")
    reply = page.locator(".step").filter(has_text="There are no tables yet")
    await expect(reply).to_be_visible()
    await expect(page.get_by_text("List my tables").first).to_be_visible()
    await screenshot(page, "chat_first_reply")

    thread = await _wait(lambda: _thread_of(engine, name))
    assert thread["metadata"]["workspace_id"] == str(ws["id"])
    assert thread["metadata"]["workspace_name"] == ws["name"]

    app_server.restart()
    await page.goto(app_server.url)
    listed = page.locator("#thread-history").get_by_text("List my tables")
    await listed.click()
    await expect(page).to_have_url(re.compile(f"/thread/{thread['id']}"))
    await expect(page.locator(".step").filter(has_text="There are no tables yet")).to_have_count(1)
    await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text(ws["name"])
    await send_message(page, "List my tables")
    await expect(page.locator(".step").filter(has_text="There are no tables yet")).to_have_count(2)
    await screenshot(page, "chat_resumed")

    for path, expected in (("/health", '"ok"'), ("/api/v1/openapi.json", '"openapi"')):
        resp = await page.request.get(app_server.url + path)  # one port serves the UI, health and API
        assert resp.status == 200 and expected in await resp.text()

    log = app_server.log()
    assert "An error occurred" not in log and "Traceback" not in log, log[-3000:]
