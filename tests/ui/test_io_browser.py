"""Data in and out in the chat, in headless Chromium on the offline model: upload a CSV → preview →
Create Table → every row in the live view; "chart Rating by Neighborhood" → a Plotly chart; "export this
table as xlsx" → a download link."""

from __future__ import annotations

import csv
import uuid

import pytest
from browser import login, new_page, screenshot, send_message
from playwright.async_api import expect

from db import accounts
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")

AREAS = ["River North", "West Loop", "Lincoln Park", "Wicker Park"]
ROWS = 60


@pytest.fixture(scope="module")
async def user(engine):
    name, password = f"io{uuid.uuid4().hex[:8]}", "pw-io-chat"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    return {"name": name, "password": password, "id": account_id}


@pytest.fixture
def restaurants(tmp_path):
    path = tmp_path / "chicago_restaurants.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Name", "Neighborhood", "Rating", "Website"])
        for i in range(ROWS):
            w.writerow([f"Place {i}", AREAS[i % 4], f"{3 + (i % 4) * 0.4 + (i % 3) * 0.1:.1f}",
                        f"https://example.com/place-{i}"])
    return path


async def test_upload_create_chart_and_export(chromium, app_server, user, restaurants):
    page = await new_page(chromium, viewport={"width": 1400, "height": 1000})
    try:
        await login(page, app_server.url, user["name"], user["password"])
        await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text("Workspace:")

        await page.locator("#upload-button-input").set_input_files(str(restaurants))
        await expect(page.get_by_text("chicago_restaurants.csv").first).to_be_visible()
        await send_message(page, "import this file")
        preview = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
        await expect(preview).to_be_visible(timeout=30_000)
        await expect(preview.get_by_test_id("proposal-title")).to_have_text("Chicago restaurants")
        await expect(preview.locator('th[data-col="Rating"]')).to_contain_text("number")
        await expect(preview.locator('th[data-col="Website"]')).to_contain_text("url")
        await expect(preview.get_by_test_id("sample-row")).to_have_count(5)
        await expect(preview.get_by_test_id("import-note")).to_contain_text(f"imports all {ROWS} rows")
        await expect(page.locator(".step").filter(has_text="I've prepared a new table")).to_contain_text(
            "Create Table")
        await screenshot(page, "io_import_preview")

        await preview.get_by_role("button", name="Create Table").click()
        await expect(preview.get_by_test_id("proposal-outcome")).to_contain_text(f"imported all {ROWS} rows")
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.get_by_test_id("live-table-name")).to_have_text("Chicago restaurants")
        await expect(live.get_by_test_id("live-table-count")).to_contain_text(f"of {ROWS}")
        await expect(live).to_contain_text("Place 0")
        await screenshot(page, "io_import_applied")

        await send_message(page, "chart Rating by Neighborhood")
        reply = page.locator(".step").filter(has_text="average Rating by Neighborhood")
        await expect(reply).to_contain_text("shown above", timeout=30_000)
        chart = page.locator(".js-plotly-plot").last
        await expect(chart).to_be_visible(timeout=30_000)
        await expect(chart.locator(".xtick")).to_have_count(4)
        await chart.scroll_into_view_if_needed()
        await screenshot(page, "io_chart")

        await send_message(page, "export this table as xlsx")
        link = page.get_by_role("link", name="Chicago restaurants.xlsx")
        await expect(link.last).to_be_visible(timeout=30_000)
        await expect(page.locator(".step").filter(has_text="the download link is attached")).to_be_visible()
        async with page.expect_download() as info:
            await link.last.click()
        download = await info.value
        body = (await download.path()).read_bytes()
        assert body[:2] == b"PK"  # an XLSX workbook
        await screenshot(page, "io_export")
    finally:
        await page.context.close()
