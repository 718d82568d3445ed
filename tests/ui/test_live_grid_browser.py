"""The live table's grid in Chromium: sort by a header click, search, filter by value and by AI status
over the whole table, hidden and resized columns kept, keyboard editing, a pasted block as one change,
adding a row and deleting selected rows after a confirmation, and the per-cell AI actions."""

from __future__ import annotations

import pytest
from browser import new_page, screenshot
from grid_setup import column_texts, make_table, make_user, open_grid
from playwright.async_api import expect

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _names(live):
    return column_texts(live, "Name")


async def test_sort_by_header_search_and_filter_run_on_the_server(chromium, app_server, engine):
    user = await make_user(engine)
    table = await make_table(engine, user)
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
