"""The live grid when the server cannot be reached: it says so, keeps every edit in the browser's
IndexedDB across a reload, offers Retry on a failed page load and comes back by itself, then replays the
edits in order with the versions they were based on; a cell changed elsewhere meanwhile is shown as a
conflict (keep mine / keep theirs), never lost and never silently overwritten. A row added offline waits
there too, with what is typed into it, and is added once however often it has to be sent."""

from __future__ import annotations

import asyncio
import re

import pytest
from browser import login, new_page, screenshot
from grid_setup import column_texts, make_table, make_user, open_grid, paste_text, reopen_grid, stored
from playwright.async_api import expect

from db import records
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _edit(page, live, record_id: int, column: str, text: str) -> None:
    await live.locator(f'tr[data-row-id="{record_id}"] td[data-col="{column}"]').click()
    await page.keyboard.press("Enter")
    await live.get_by_test_id("cell-editor").fill(text)
    await page.keyboard.press("Enter")


async def _until(check, timeout_s: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


async def test_offline_edits_survive_a_reload_and_a_conflict_is_shown_not_lost(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    points = next(c for c in table.columns if c.name == "Points")
    page = await new_page(chromium)
    context = page.context
    try:
        live = await open_grid(page, app_server.url, user, table)
        await page.wait_for_url("**/thread/**")
        thread_url = page.url
        await context.set_offline(True)
        await _edit(page, live, ids[0], "Name", "written offline")
        await _edit(page, live, ids[1], "Points", "77")
        await expect(live.get_by_test_id("offline-badge")).to_be_visible()
        await expect(live.get_by_test_id("unsaved-count")).to_have_text("2 edits not saved yet")
        await expect(live.locator(f'tr[data-row-id="{ids[0]}"] [data-testid=unsaved]')).to_be_visible()
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Points"]')).to_have_text("77")
        await expect(live).not_to_contain_text("Failed to fetch")
        assert page.url == thread_url  # the chat page stays (public/offline.js), the grid with it
        await screenshot(page, "live_grid_offline")
        rows = await stored(engine, table)
        assert (rows[1]["Name"], rows[2]["Points"]) == ("banana", 10)  # nothing reached the server

        # meanwhile someone else changes the second cell
        async with transaction(user["id"], engine=engine) as conn:
            await records.update_cell(conn, table, ids[1], str(points.id), value=12, version=0)

        # the browser is online again but the API still does not answer: the chat is opened again then
        # (Chainlit itself may have left for its login page while offline, so not just a reload)
        await page.route("**/api/v1/**", lambda route: route.abort())
        await context.set_offline(False)
        await page.goto(thread_url)
        live = await reopen_grid(page)
        failed = live.get_by_test_id("load-error")
        await expect(failed).to_contain_text("The server cannot be reached")
        await expect(failed.get_by_role("button", name="Retry")).to_be_visible()
        await expect(live.get_by_test_id("unsaved-count")).to_have_text("2 edits not saved yet")
        await screenshot(page, "live_grid_failed_load")

        # the API answers again: the view comes back by itself and replays the outbox
        await page.unroute("**/api/v1/**")
        conflict = live.get_by_test_id("conflict")
        await expect(conflict).to_contain_text('"Points" of row', timeout=30_000)
        await expect(conflict).to_contain_text("yours 77")
        await expect(conflict).to_contain_text("now 12")
        await expect(live.get_by_test_id("offline-badge")).to_have_count(0)
        await expect(live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Name"]')).to_have_text("written offline")
        rows = await stored(engine, table)
        assert (rows[1]["Name"], rows[2]["Points"]) == ("written offline", 12)  # theirs kept until I choose
        await screenshot(page, "live_grid_conflict")

        await conflict.get_by_role("button", name="Keep mine").click()
        await expect(conflict).to_have_count(0)
        await _until(lambda: _points_of_second(engine, table, 77))
        await expect(live.get_by_test_id("unsaved-count")).to_have_count(0)
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Points"]')).to_have_text("77")
    finally:
        await context.close()


async def _add_row(live, name: str) -> None:
    await live.get_by_test_id("add-row").click()
    form = live.get_by_test_id("new-row")
    await form.get_by_label("New Name").fill(name)
    await form.get_by_test_id("new-row-save").click()
    await expect(live.get_by_test_id("unsaved-row").filter(has_text=name)).to_have_count(1)
    await expect(form).to_have_count(0)


async def _edit_cell(page, cell, text: str) -> None:
    """Edit by double-click and keys sent to the editor itself: while Chainlit's connection is down it
    redraws the element every few seconds, and the grid loses the keyboard focus (the editor, restored
    with what was typed, takes it back)."""
    await cell.dblclick()
    editor = cell.get_by_test_id("cell-editor")
    await editor.fill(text)
    await editor.press("Enter")


async def test_a_row_added_offline_is_kept_and_added_once_when_the_server_answers(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await page.wait_for_url("**/thread/**")
        thread_url = page.url
        await page.context.set_offline(True)
        await _edit(page, live, ids[0], "Name", "banana split")
        await _add_row(live, "fig")
        new = live.get_by_test_id("unsaved-row")
        await expect(new.locator('td[data-col="Name"]')).to_have_text("fig")
        await _edit_cell(page, new.locator('td[data-col="Points"]'), "8")
        await _edit_cell(page, new.locator('td[data-col="Ripe"]'), "yes")
        # a second new row, deleted before it was ever sent: it just leaves the outbox
        await _add_row(live, "gone")
        await expect(new).to_have_count(2)
        await live.get_by_label("Select the new row").last.check()
        await live.get_by_test_id("delete-rows").click()
        await live.get_by_test_id("delete-confirm").get_by_role("button", name="Delete").click()
        await expect(new).to_have_count(1)
        await expect(new.locator('td[data-col="Ripe"]')).to_have_text("Yes")
        await expect(live.get_by_test_id("unsaved-count")).to_have_text("2 edits not saved yet")
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("1 new row not saved yet")
        await screenshot(page, "live_grid_offline_new_row")
        assert len(await stored(engine, table)) == 5

        # opened again while the API does not answer: the new row comes back from the browser's storage
        await page.route("**/api/v1/**", lambda route: route.abort())
        await page.context.set_offline(False)
        await page.goto(thread_url)
        live = await reopen_grid(page)
        new = live.get_by_test_id("unsaved-row")
        await expect(new.locator('td[data-col="Points"]')).to_have_text("8")

        # the API answers again, but the answer to the add is lost on its way back, and a cell of the new
        # row is changed while the add is on its way: sent again under its key, the row is not added a
        # second time, and the cell changed meanwhile is written to the row the first try made
        lost, sent, typed = [], asyncio.Event(), asyncio.Event()

        async def lose_the_answer(route):
            if route.request.method == "POST" and not lost:
                sent.set()
                await typed.wait()
                lost.append(await route.fetch())
                await route.abort()
            else:
                await route.fallback()

        await page.route("**/api/v1/tables/*/records", lose_the_answer)
        await page.unroute("**/api/v1/**")
        await asyncio.wait_for(sent.wait(), 30)
        await _edit_cell(page, new.locator('td[data-col="Points"]'), "9")
        await expect(new.locator('td[data-col="Points"]')).to_have_text("9")
        typed.set()
        await expect(new).to_have_count(0, timeout=30_000)
        await expect(live.get_by_test_id("unsaved-count")).to_have_count(0, timeout=30_000)
        assert lost and lost[0].status == 201
        await expect(column_texts(live, "Name")).to_have_text(["banana split", "Apple", "cherry", "date", "elderberry", "fig"])
        fig = live.locator('tbody tr[data-row-id]').filter(has_text="fig")
        await expect(fig.locator('td[data-col="Points"]')).to_have_text("9")
        await expect(fig.get_by_test_id("unsaved")).to_have_count(0)
        rows = await _until(lambda: _stored_if(engine, table, lambda r: r[6]["Points"] == 9))
        assert [(r["Name"], r.get("Points"), r.get("Ripe")) for r in rows.values()] == [
            ("banana split", 3, True), ("Apple", 10, False), ("cherry", 2.5, None), ("date", 7, True),
            ("elderberry", 1, False), ("fig", 9, True)]
    finally:
        await page.context.close()


async def test_a_new_row_the_server_refuses_waits_to_be_corrected(chromium, app_server, engine):
    user = await make_user(engine)
    table, _ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await page.context.set_offline(True)
        await live.get_by_test_id("add-row").click()
        form = live.get_by_test_id("new-row")
        await form.get_by_label("New Points").fill("4")
        await form.get_by_test_id("new-row-save").click()
        new = live.get_by_test_id("unsaved-row")
        await expect(new.locator('td[data-col="Points"]')).to_have_text("4")
        await page.context.set_offline(False)
        refused = live.get_by_test_id("refused")
        await expect(refused).to_contain_text('The new row was not added: Column "Name" is required', timeout=30_000)
        await expect(new.get_by_test_id("new-row-mark")).to_have_attribute("title", re.compile("^Not added"))
        await expect(live.get_by_test_id("live-notice")).to_have_count(0)
        await screenshot(page, "live_grid_new_row_refused")
        await _edit_cell(page, new.locator('td[data-col="Name"]'), "kiwi")
        await expect(new).to_have_count(0, timeout=30_000)
        await expect(refused).to_have_count(0)
        rows = await _until(lambda: _stored_if(engine, table, lambda r: True))
        assert (rows[6]["Name"], rows[6]["Points"]) == ("kiwi", 4)
    finally:
        await page.context.close()


async def _stored_if(engine, table, check):
    rows = await stored(engine, table)
    return rows if len(rows) >= 6 and check(rows) else None


async def _points_of_second(engine, table, want) -> bool:
    return (await stored(engine, table))[2]["Points"] == want


async def test_keep_theirs_drops_my_edit_and_shows_the_current_value(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    name = next(c for c in table.columns if c.name == "Name")
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await page.context.set_offline(True)
        await _edit(page, live, ids[2], "Name", "mine")
        await expect(live.get_by_test_id("offline-badge")).to_be_visible()
        async with transaction(user["id"], engine=engine) as conn:
            await records.update_cell(conn, table, ids[2], str(name.id), value="theirs", version=0)
            await records.update_cell(conn, table, ids[4], str(name.id), value="while you were away", version=0)
        # a block pasted while offline waits in the outbox like any edit
        await live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Points"]').click()
        await paste_text(live, "31\n32")
        await expect(live.get_by_test_id("live-notice")).to_contain_text("Pasted 2 cells: kept in this browser")
        await expect(live.get_by_test_id("unsaved-count")).to_have_text("3 edits not saved yet")
        await page.context.set_offline(False)
        # live updates resume by themselves: a change made elsewhere meanwhile appears
        await expect(live.locator(f'tr[data-row-id="{ids[4]}"] td[data-col="Name"]')).to_have_text("while you were away",
                                                                                                 timeout=30_000)
        conflict = live.get_by_test_id("conflict")
        await expect(conflict).to_contain_text("yours mine", timeout=30_000)
        await conflict.get_by_role("button", name="Keep theirs").click()
        await expect(conflict).to_have_count(0)
        await expect(live.locator(f'tr[data-row-id="{ids[2]}"] td[data-col="Name"]')).to_have_text("theirs")
        rows = await stored(engine, table)
        assert (rows[3]["Name"], rows[1]["Points"], rows[2]["Points"]) == ("theirs", 31, 32)
        await expect(live.get_by_test_id("unsaved-count")).to_have_count(0)
    finally:
        await page.context.close()


async def test_an_edit_being_typed_survives_the_view_being_redrawn(chromium, app_server, engine):
    """Chainlit redraws the element (wiping its React state) on props updates and when its own connection
    drops; a reload is the harshest redraw: the cell being edited comes back with what was typed."""
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await live.locator(f'tr[data-row-id="{ids[3]}"] td[data-col="Name"]').click()
        await page.keyboard.press("Enter")
        await live.get_by_test_id("cell-editor").fill("half-typed")
        await page.reload()
        live = await reopen_grid(page)
        editor = live.get_by_test_id("cell-editor")
        await expect(editor).to_have_value("half-typed")
        await editor.press("Enter")
        await expect(live.locator(f'tr[data-row-id="{ids[3]}"] td[data-col="Name"]')).to_have_text("half-typed")
        await _until(lambda: _name_of(engine, table, 4, "half-typed"))
    finally:
        await page.context.close()


async def _name_of(engine, table, position, want) -> bool:
    return (await stored(engine, table))[position]["Name"] == want


async def test_an_edit_made_while_the_server_is_stopped_is_saved_when_it_is_back(chromium, app_server, engine):
    """The server itself stops for a moment (not the browser's network). Chainlit's own page then leaves
    for its login page, which cannot load either; the edit, kept in IndexedDB, is saved once the server
    answers and the chat is opened again."""
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await page.wait_for_url("**/thread/**")
        thread_url = page.url
        await live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Name"]').click()
        await page.keyboard.press("Enter")
        await live.get_by_test_id("cell-editor").fill("typed while it was down")
        await asyncio.get_running_loop().run_in_executor(None, app_server.stop)
        await page.keyboard.press("Enter")
        await asyncio.sleep(1)
        assert (await stored(engine, table))[2]["Name"] == "Apple"
        await asyncio.get_running_loop().run_in_executor(None, app_server.start)
        await page.goto(thread_url)
        live = await reopen_grid(page)
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Name"]')).to_have_text("typed while it was down")
        await expect(live.get_by_test_id("unsaved-count")).to_have_count(0, timeout=30_000)
        await _until(lambda: _name_of(engine, table, 2, "typed while it was down"))
    finally:
        await page.context.close()


async def test_the_user_check_is_answered_from_the_tab_only_when_no_server_answers(chromium, app_server, engine):
    """public/offline.js: a /user check that reaches no server gets the tab's last answer (so Chainlit does
    not leave the page); any answer of the server, a 401 after signing out included, goes through."""
    user = await make_user(engine)
    page = await new_page(chromium)
    try:
        await login(page, app_server.url, user["name"], user["password"])
        check = "() => fetch('/user', { credentials: 'include' }).then(async (r) => [r.status, await r.text()])"
        status, body = await page.evaluate(check)
        assert status == 200 and user["name"] in body
        await page.route("**/user", lambda route: route.abort())
        assert await page.evaluate(check) == [200, body]
        await page.unroute("**/user")
        await page.route("**/user", lambda route: route.fulfill(status=401, json={"detail": "Unauthorized"}))
        assert (await page.evaluate(check))[0] == 401
    finally:
        await page.context.close()
