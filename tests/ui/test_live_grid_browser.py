"""The live table's grid in Chromium: sort by a header click, search, filter by value and by AI status
over the whole table, hidden and resized columns kept, keyboard editing, a pasted block as one change,
adding a row and deleting selected rows after a confirmation, and the per-cell AI actions; and how a
spreadsheet's clipboard text is read into cells (live/clipboard.jsx, run in Chromium as it is)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import login, new_page, screenshot
from grid_setup import (
    column_texts,
    make_table,
    make_user,
    open_grid,
    paste_text,
    reopen_grid,
    set_cell_state,
    stored,
)
from playwright.async_api import expect
from sqlalchemy import text

from db import records
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")


CLIPBOARD_JSX = Path(__file__).resolve().parents[2] / "public" / "elements" / "live" / "clipboard.jsx"

# text/plain as Excel, Google Sheets and LibreOffice put it on the clipboard → the cells
CLIPBOARD = [
    ("a\tb\nc\td\n", [["a", "b"], ["c", "d"]]),
    ("a\tb\r\nc\td\r\n", [["a", "b"], ["c", "d"]]),
    ("a\rb", [["a"], ["b"]]),
    ("one", [["one"]]),
    ("a\t\tc", [["a", "", "c"]]),
    ("a\n\nb\n", [["a"], [""], ["b"]]),
    ('"two\r\nlines"\tx\r\ny\t"z"\r\n', [["two\nlines", "x"], ["y", "z"]]),
    ('"say ""hi"""\t"a\ttab"', [['say "hi"', "a\ttab"]]),
    ('""\t""""', [["", '"']]),
    ('5" screen\t"open', [['5" screen', '"open']]),  # lone quotes are characters
    ('"unclosed\nnext\tcell', [['"unclosed'], ["next", "cell"]]),
    ('"a"b"\tc', [['a"b', "c"]]),
    ('"ends with a break\n"\n', [["ends with a break\n"]]),
]


async def test_clipboard_text_is_read_as_spreadsheets_write_it(chromium):
    page = await new_page(chromium)
    try:
        got = await page.evaluate(f"(texts) => {{ {CLIPBOARD_JSX.read_text()}\n return texts.map(parseBlock); }}",
                                  [text for text, _ in CLIPBOARD])
    finally:
        await page.context.close()
    assert got == [cells for _, cells in CLIPBOARD]


def _names(live):
    return column_texts(live, "Name")


async def test_sort_by_header_search_and_filter_run_on_the_server(chromium, app_server, engine):
    user = await make_user(engine)
    table, _ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await expect(_names(live)).to_have_text(["banana", "Apple", "cherry", "date", "elderberry"])
        header = live.locator('th[data-col="Points"] [data-testid=sort-header]')
        await header.click()
        await expect(_names(live)).to_have_text(["elderberry", "cherry", "banana", "date", "Apple"])
        await header.click()
        await expect(_names(live)).to_have_text(["Apple", "date", "banana", "cherry", "elderberry"])
        await expect(live.locator('th[data-col="Points"]')).to_have_attribute("aria-sort", "descending")

        await live.get_by_test_id("grid-search").fill("rr")
        await expect(_names(live)).to_have_text(["cherry", "elderberry"])
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 2 matching")
        await live.get_by_test_id("grid-search").fill("")

        await live.get_by_test_id("filter-button").click()
        await live.get_by_role("button", name="Add condition").click()
        row = live.get_by_test_id("filter-row")
        await row.get_by_label("Filter column").select_option(label="Points")
        await row.get_by_label("Filter condition").select_option(label="≥")
        await row.get_by_label("Filter value").fill("3")
        await expect(_names(live)).to_have_text(["Apple", "date", "banana"])
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3 matching")
        await screenshot(page, "live_grid_sorted_filtered")
        await live.get_by_role("button", name="Clear filters").click()
        await expect(_names(live)).to_have_count(5)
    finally:
        await page.context.close()


async def _wait_stored(engine, table, check, timeout_s: float = 15.0):
    import asyncio
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        rows = await stored(engine, table)
        if check(rows):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not stored as expected: {rows}")
        await asyncio.sleep(0.2)


async def test_keyboard_moves_edits_and_cancels(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Name"]').click()
        await page.keyboard.press("Enter")
        editor = live.get_by_test_id("cell-editor")
        await editor.fill("blueberry")
        await page.keyboard.press("Enter")  # saves, moves down to row 2
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Name"]')).to_have_attribute("data-active", "true")
        await page.keyboard.press("ArrowRight")
        await page.keyboard.type("42")  # typing starts an edit with what was typed
        await page.keyboard.press("Tab")  # saves, moves right
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Ripe"]')).to_have_attribute("data-active", "true")
        await page.keyboard.press("ArrowUp")
        await page.keyboard.press("Shift+Tab")
        await expect(live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Points"]')).to_have_attribute("data-active", "true")
        await page.keyboard.press("Enter")
        await editor.fill("999")
        await page.keyboard.press("Escape")  # cancels: nothing sent
        await expect(editor).to_have_count(0)
        await expect(live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Points"]')).to_have_text("3")
        rows = await _wait_stored(engine, table, lambda r: r[1]["Name"] == "blueberry" and r[2]["Points"] == 42)
        assert rows[1]["Points"] == 3
        await expect(live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Name"]')).to_have_text("blueberry")
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Points"]')).to_have_text("42")

        # a value the column cannot hold: refused with the reason, what was typed kept until discarded
        await live.locator(f'tr[data-row-id="{ids[2]}"] td[data-col="Points"]').click()
        await page.keyboard.type("lots")
        await page.keyboard.press("Enter")
        refused = live.get_by_test_id("refused")
        await expect(refused).to_contain_text("was not saved")
        await expect(refused).to_contain_text("You typed lots")
        await refused.get_by_role("button", name="Discard").click()
        await expect(refused).to_have_count(0)
        await expect(live.locator(f'tr[data-row-id="{ids[2]}"] td[data-col="Points"]')).to_have_text("2.5")
    finally:
        await page.context.close()


async def test_a_pasted_block_is_one_change_and_refused_whole_on_a_conflict(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    # the view follows the polled feed (its event stream refused), so that the test can hold news back below
    await page.route("**/api/v1/tables/*/events*", lambda route: route.abort())
    try:
        live = await open_grid(page, app_server.url, user, table)
        await live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Name"]').click()
        await paste_text(live, "kiwi\t11\nlime\t12\r\n")
        await expect(live.get_by_test_id("live-notice")).to_contain_text("Pasted 4 cells as one change")
        rows = await _wait_stored(engine, table, lambda r: r[2]["Name"] == "kiwi")
        assert (rows[2]["Name"], rows[2]["Points"], rows[3]["Name"], rows[3]["Points"]) == ("kiwi", 11, "lime", 12)
        async with transaction(None, engine=engine) as conn:
            edits = (await conn.execute(text("SELECT count(*) FROM cell_edits WHERE table_id = :t"), {"t": table.id})).scalar_one()
        assert edits == 4

        # someone else changes row 5 meanwhile, and the page has not seen it yet (its change feed held back)
        await page.route("**/api/v1/tables/*/updates*", _no_news)
        await live.locator(f'tr[data-row-id="{ids[3]}"] td[data-col="Name"]').click()
        async with transaction(user["id"], engine=engine) as conn:
            name = next(c for c in table.columns if c.name == "Name")
            await records.update_cell(conn, table, ids[4], str(name.id), value="changed elsewhere", version=0)
        await paste_text(live, "mango\nnectarine")
        await expect(live.get_by_test_id("live-notice")).to_contain_text("Nothing was pasted")
        rows = await stored(engine, table)
        assert (rows[4]["Name"], rows[5]["Name"]) == ("date", "changed elsewhere")
        await expect(live.locator(f'tr[data-row-id="{ids[4]}"] td[data-col="Name"]')).to_have_text("changed elsewhere")
    finally:
        await page.context.close()


async def test_a_block_with_quoted_cells_pastes_as_its_values(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await live.locator(f'tr[data-row-id="{ids[0]}"] td[data-col="Name"]').click()
        await paste_text(live, '"two\r\nlines"\t4\r\n"the ""ripe"" one"\t5\r\n')
        await expect(live.get_by_test_id("live-notice")).to_contain_text("Pasted 4 cells as one change")
        rows = await _wait_stored(engine, table, lambda r: r[2]["Points"] == 5)
        assert [(rows[n]["Name"], rows[n]["Points"]) for n in (1, 2, 3)] == [
            ("two\nlines", 4), ('the "ripe" one', 5), ("cherry", 2.5)]
        async with transaction(None, engine=engine) as conn:
            sets = (await conn.execute(text("SELECT count(DISTINCT change_set) FROM changes WHERE table_id = :t "
                                            "AND kind = 'cell'"), {"t": table.id})).scalar_one()
        assert sets == 1
        await expect(live.locator(f'tr[data-row-id="{ids[1]}"] td[data-col="Name"]')).to_have_text('the "ripe" one')
    finally:
        await page.context.close()


async def _no_news(route):
    cursor = int(parse_qs(urlsplit(route.request.url).query)["cursor"][0])
    await route.fulfill(json={"changes": [], "cursor": cursor, "more": False})


async def test_add_a_row_and_delete_selected_rows_after_confirming(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await live.get_by_test_id("add-row").click()
        new = live.get_by_test_id("new-row")
        await new.get_by_label("New Points").fill("5")
        await new.get_by_test_id("new-row-save").click()
        await expect(live.get_by_test_id("live-notice")).to_contain_text('The row was not added: Column "Name" is required')
        await expect(new.get_by_label("New Points")).to_have_value("5")  # what was typed stays
        await new.get_by_label("New Name").fill("fig")
        await new.get_by_label("New Name").press("Enter")
        await expect(_names(live)).to_have_text(["banana", "Apple", "cherry", "date", "elderberry", "fig"])
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 6")

        await live.get_by_label(f"Select row {ids[1]}").check()
        await live.get_by_label(f"Select row {ids[3]}").check()
        await live.get_by_test_id("delete-rows").click()
        confirm = live.get_by_test_id("delete-confirm")
        await expect(confirm).to_contain_text("Delete 2 rows?")
        await screenshot(page, "live_grid_delete_confirm")
        await confirm.get_by_role("button", name="Cancel").click()
        await expect(_names(live)).to_have_count(6)
        await live.get_by_test_id("delete-rows").click()
        await confirm.get_by_role("button", name="Delete").click()
        await expect(_names(live)).to_have_text(["banana", "cherry", "elderberry", "fig"])
        assert [r["Name"] for r in (await stored(engine, table)).values()] == ["banana", "cherry", "elderberry", "fig"]

        # the deletion is one change set: Undo brings both rows back under their ids
        await expect(live.get_by_test_id("live-notice")).to_contain_text("Deleted 2 rows.")
        await live.get_by_test_id("undo-delete").click()
        await expect(live.get_by_test_id("live-notice")).to_contain_text("Brought back 2 rows.")
        await expect(_names(live)).to_have_text(["banana", "Apple", "cherry", "date", "elderberry", "fig"])
        # in id order: the rows came back under the ids they had
        assert [r["Name"] for r in (await stored(engine, table)).values()] == [
            "banana", "Apple", "cherry", "date", "elderberry", "fig"]
    finally:
        await page.context.close()


async def test_ai_cells_show_pins_filter_by_status_and_regenerate_one_cell(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await make_table(engine, user, ai=True)
    blurb = next(c for c in table.columns if c.name == "Blurb")
    await set_cell_state(engine, ids[0], blurb.id, {"v": 1, "s": "completed", "p": True}, "typed by hand")
    await set_cell_state(engine, ids[1], blurb.id, {"v": 0, "s": "error", "e": "the model refused"})
    await set_cell_state(engine, ids[2], blurb.id, {"v": 1, "s": "stale"}, "old words")
    for rid in ids[3:]:
        await set_cell_state(engine, rid, blurb.id, {"v": 1, "s": "completed"}, "fine words")
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        cell = lambda n: live.locator(f'tr[data-row-id="{ids[n - 1]}"] td[data-col="Blurb"]')
        await expect(cell(1).get_by_test_id("pinned")).to_be_visible()
        await expect(cell(4).get_by_test_id("pinned")).to_have_count(0)
        await expect(cell(2)).to_contain_text("failed")

        await live.get_by_test_id("filter-button").click()
        await live.get_by_role("button", name="Add condition").click()
        row = live.get_by_test_id("filter-row")
        await row.get_by_label("Filter column").select_option(label="Blurb")
        await row.get_by_label("Filter condition").select_option(label="AI status is")
        await row.get_by_label("AI status").select_option(label="pinned")
        await expect(_names(live)).to_have_text(["banana"])
        await row.get_by_label("AI status").select_option(label="stale")
        await expect(_names(live)).to_have_text(["cherry"])
        await row.get_by_label("AI status").select_option(label="failed")
        await expect(_names(live)).to_have_text(["Apple"])
        await live.get_by_role("button", name="Clear filters").click()
        await expect(_names(live)).to_have_count(5)

        await cell(3).click()
        actions = live.get_by_test_id("cell-actions")
        await actions.get_by_role("button", name="Recompute").click()
        await expect(cell(3)).to_contain_text("queued")
        await cell(2).click()
        await actions.get_by_role("button", name="Regenerate").click()
        await expect(cell(2)).to_contain_text("queued")
        await cell(1).click()
        await expect(actions.get_by_test_id("cell-pinned")).to_be_visible()
        await screenshot(page, "live_grid_ai_cell_actions")
        await actions.get_by_role("button", name="Unpin").click()
        await expect(cell(1)).to_contain_text("queued")
        await expect(cell(1).get_by_test_id("pinned")).to_have_count(0)
        await expect(cell(4)).not_to_contain_text("queued")  # only the cells asked for
    finally:
        await page.context.close()


async def _width_becomes(header, width: float, timeout_s: float = 10) -> None:
    """Waits for `header` to be `width` px wide (within 2): the layout is saved a moment after the drag ends,
    and the page loads it with its own request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        seen = (await header.bounding_box())["width"]
        if abs(seen - width) < 2:
            return
        if loop.time() > deadline:
            raise AssertionError(f"the column is {seen} px wide, not {width}")
        await asyncio.sleep(0.1)


async def test_hidden_and_resized_columns_follow_the_person_to_another_browser(chromium, app_server, engine):
    user = await make_user(engine)
    table, _ids = await make_table(engine, user)
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, user, table)
        await live.get_by_test_id("columns-button").click()
        await live.get_by_label("Show Ripe").uncheck()
        await expect(live.locator('th[data-col="Ripe"]')).to_have_count(0)
        handle = live.locator('th[data-col="Name"] [data-testid=resize-handle]')
        before = (await live.locator('th[data-col="Name"]').bounding_box())["width"]
        box = await handle.bounding_box()
        await page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(box["x"] + 82, box["y"] + box["height"] / 2, steps=5)
        await page.mouse.up()
        widened = (await live.locator('th[data-col="Name"]').bounding_box())["width"]
        assert widened > before + 60
        # kept on the server: another browser (no storage of this one) signed in as the same person
        other = await new_page(chromium)
        try:
            await login(other, app_server.url, user["name"], user["password"])
            await other.get_by_text("/tables", exact=True).first.click()  # the chat that shows the table
            live = await reopen_grid(other)
            await expect(live.locator('th[data-col="Ripe"]')).to_have_count(0)
            await expect(live.locator('th[data-col="Points"]')).to_have_count(1)
            await _width_becomes(live.locator('th[data-col="Name"]'), widened)
            await live.get_by_test_id("columns-button").click()
            await live.get_by_label("Show Ripe").check()
            await expect(live.locator('th[data-col="Ripe"]')).to_have_count(1)
        finally:
            await other.context.close()
        await page.reload()
        live = await reopen_grid(page)
        await expect(live.locator('th[data-col="Ripe"]')).to_have_count(1)
    finally:
        await page.context.close()


async def test_a_viewer_sees_the_grid_read_only(chromium, app_server, engine):
    from db import workspaces

    owner, viewer = await make_user(engine), await make_user(engine)
    table, _ids = await make_table(engine, owner)
    async with transaction(owner["id"], engine=engine) as conn:
        await workspaces.share(conn, owner["workspace_id"], account_id=viewer["id"], by=owner["id"], role="viewer")
    page = await new_page(chromium)
    try:
        live = await open_grid(page, app_server.url, viewer, table)
        await expect(live.get_by_test_id("view-only")).to_be_visible()
        await column_texts(live, "Name").first.dblclick()
        await expect(live.get_by_test_id("cell-editor")).to_have_count(0)
        await expect(live.get_by_test_id("add-row")).to_be_disabled()
        await screenshot(page, "live_grid_view_only")
    finally:
        await page.context.close()
