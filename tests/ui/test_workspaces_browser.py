"""Tables outlive chats, in headless Chromium: a table made in one chat is opened from /tables in a new
chat that starts in another workspace; two members of a shared workspace see one edit live."""

from __future__ import annotations

import uuid

import httpx
from browser import login, new_page, screenshot, send_message
from playwright.async_api import expect

from db import accounts, workspaces
from db.engine import transaction


async def _person(engine, prefix: str) -> dict:
    name, password = f"{prefix}{uuid.uuid4().hex[:8]}", f"pw-{prefix}-workspaces"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
        token = await accounts.create_token(conn, account_id=account_id, name="browser test")
    return {"name": name, "password": password, "id": account_id, "token": token}


async def _make_books(page) -> None:
    await send_message(page, "Create a table of books with title, author and rating")
    create = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
    await create.get_by_role("button", name="Create Table").click(timeout=30_000)
    await expect(create.get_by_test_id("proposal-outcome")).to_contain_text("Created table", timeout=30_000)


async def test_a_table_made_in_one_chat_opens_from_tables_in_a_new_chat(chromium, app_server, engine):
    me = await _person(engine, "ws")
    page = await new_page(chromium)
    try:
        await login(page, app_server.url, me["name"], me["password"])
        welcome = page.locator(".step").filter(has_text="Welcome to tablechat")
        await expect(welcome).to_contain_text("Workspace:", timeout=30_000)
        await expect(page.get_by_role("button", name="New workspace")).to_be_visible()
        await _make_books(page)
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3", timeout=30_000)
        async with transaction(me["id"], engine=engine) as conn:
            (first,) = await workspaces.list_mine(conn, me["id"])
        await expect(live.get_by_test_id("live-table-workspace")).to_contain_text(first["name"])

        # the next day: another workspace was made meanwhile (the most recent), and a new chat opens it
        async with transaction(None, engine=engine) as conn:
            second = await workspaces.create(conn, owner_id=me["id"])
        await page.goto(app_server.url)
        welcome = page.locator(".step").filter(has_text="Welcome to tablechat").last
        await expect(welcome).to_contain_text(f"Workspace: {second['name']} · 0 tables", timeout=30_000)

        await send_message(page, "/tables")
        listing = page.locator(".step").filter(has_text="Your tables:").last
        await expect(listing).to_contain_text(first["name"])
        await page.get_by_role("button", name=f"Open Books ({first['name']})").click()
        await expect(page.locator(".step").filter(has_text="Switched this chat to workspace").last).to_contain_text(
            first["name"])
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.get_by_test_id("live-table-name")).to_have_text("Books", timeout=30_000)
        await expect(live.get_by_test_id("live-table-workspace")).to_contain_text(first["name"])
        await screenshot(page, "workspaces_open_from_tables")
    finally:
        await page.context.close()


async def test_two_members_see_one_edit_live(chromium, app_server, engine):
    ann, sam = await _person(engine, "ann"), await _person(engine, "sam")
    pages = []
    try:
        ann_page = await new_page(chromium)
        pages.append(ann_page)
        await login(ann_page, app_server.url, ann["name"], ann["password"])
        await expect(ann_page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text(
            "Workspace:", timeout=30_000)
        await send_message(ann_page, f"share this workspace with {sam['name']} as an editor")
        await expect(ann_page.locator(".step").filter(has_text="shared with")).to_be_visible(timeout=30_000)
        await _make_books(ann_page)
        ann_live = ann_page.locator("#side-view-content [data-testid=live-table]")
        await expect(ann_live.get_by_test_id("live-table-count")).to_contain_text("of 3", timeout=30_000)

        sam_page = await new_page(chromium)
        pages.append(sam_page)
        await login(sam_page, app_server.url, sam["name"], sam["password"])
        await expect(sam_page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text(
            "Workspace:", timeout=30_000)
        await send_message(sam_page, "/tables")
        await sam_page.get_by_role("button", name="Open Books", exact=False).first.click()
        sam_live = sam_page.locator("#side-view-content [data-testid=live-table]")
        await expect(sam_live.get_by_test_id("live-table-count")).to_contain_text("of 3", timeout=30_000)

        # ann edits a cell (through the API, as the live view does); sam's view shows it without a reload
        headers = {"Authorization": f"Bearer {ann['token']}"}
        async with httpx.AsyncClient(base_url=f"{app_server.url}/api/v1", headers=headers) as api:
            tables = (await api.get("/tables")).json()["items"]
            books = next(t for t in tables if t["name"] == "Books")
            page_ = (await api.get(f"/tables/{books['id']}/records", params={"limit": 1})).json()
            row = page_["items"][0]
            table = (await api.get(f"/tables/{books['id']}")).json()
            title = next(c for c in table["columns"] if c["name"] == "Title")
            r = await api.patch(f"/tables/{books['id']}/records/{row['id']}",
                                json={"values": {"Title": "Shared Edit Seen Live"}})
            assert r.status_code == 200, r.text
        await expect(sam_live).to_contain_text("Shared Edit Seen Live", timeout=30_000)
        await expect(ann_live).to_contain_text("Shared Edit Seen Live", timeout=30_000)
        assert title["id"]
        await screenshot(sam_page, "workspaces_shared_edit_live")
    finally:
        for p in pages:
            await p.context.close()
