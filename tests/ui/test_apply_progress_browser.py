"""A data proposal large enough to land in several chunks, applied from the chat in headless Chromium on
the offline model, as a person sees it: the bar counts "X of N" through the chunks, rows tick ✓ as
theirs lands, a row edited elsewhere after the proposal was made fails with ✗ and says why, and the
preview ends with its summary and without its Apply / Dismiss buttons.

The app applies 10 operations at a time (TABLECHAT_APPLY_CHUNK). The test holds two rows locked, as a
concurrent writer would, so the apply waits at the 2nd and at the 4th chunk: what the page shows there
is fixed (not a race with a fast apply), and a screenshot shows the preview mid-apply."""

from __future__ import annotations

import uuid

import pytest
from browser import AppServer, app_env, new_page, screenshot, send_message
from grid_setup import make_user, open_grid
from playwright.async_api import expect
from sqlalchemy import text

from db import records
from db import tables as db_tables
from db.engine import transaction
from db.schemas import ColumnCreate

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHUNK = 10
ROWS = 40

# every text the bar's count shows, in order, as the page renders it
RECORD_COUNTS = """() => {
  window.__counts = [];
  const seen = () => {
    const el = document.querySelector('[data-testid="proposal-progress-count"]');
    const t = el ? el.textContent : null;
    if (t && window.__counts[window.__counts.length - 1] !== t) window.__counts.push(t);
  };
  new MutationObserver(seen).observe(document.body, { childList: true, subtree: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def app_server(services):
    server = AppServer(app_env(services, TABLECHAT_APPLY_CHUNK=str(CHUNK)))
    server.start()
    yield server
    server.stop()


async def _parts_table(engine, user) -> tuple[object, list[int]]:
    async with transaction(user["id"], engine=engine) as conn:
        table = await db_tables.create_table(
            conn, workspace_id=user["workspace_id"], name=f"Parts {uuid.uuid4().hex[:4]}",
            columns=[ColumnCreate(name="Name", required=True), ColumnCreate(name="Stock", type="number")])
        added = await records.add_records(conn, table, [{"Name": f"part {n:02}", "Stock": n} for n in range(ROWS)])
    return table, list(added.ids)


async def _proposed_rows(engine, table) -> list[int]:
    """The rows the table's pending proposal updates, in the order its operations are applied."""
    async with transaction(None, engine=engine) as conn:
        payload = (await conn.execute(text(
            "SELECT payload FROM proposals WHERE table_id = :t AND status = 'pending'"), {"t": table.id})).scalar_one()
    return [op["row_id"] for op in payload["operations"] if op["action"] == "update"]


async def _lock(engine, row_id: int):
    """A transaction holding `row_id` as a writer editing it would (rolled back to let the apply go on)."""
    conn = await engine.connect()
    await conn.begin()
    await conn.execute(text("SELECT 1 FROM records WHERE id = :r FOR UPDATE"), {"r": row_id})
    return conn


async def _release(conn) -> None:
    await conn.rollback()
    await conn.close()


async def _stock(engine, table) -> dict[int, object]:
    async with transaction(None, engine=engine) as conn:
        found = await conn.execute(text("SELECT id, data FROM records WHERE table_id = :t"), {"t": table.id})
        column = next(str(c.id) for c in table.columns if c.name == "Stock")
        return {r.id: r.data.get(column) for r in found}


async def test_a_large_data_proposal_ticks_row_by_row_and_counts_through_its_chunks(chromium, app_server, engine):
    user = await make_user(engine)
    table, ids = await _parts_table(engine, user)
    page = await new_page(chromium)
    locks = []
    try:
        await open_grid(page, app_server.url, user, table)
        await send_message(page, "set Stock to 500")
        preview = page.locator('[data-testid="proposal"][data-kind="data"]').last
        await expect(preview.get_by_role("button", name=f"Apply {ROWS} of {ROWS}")).to_be_visible(timeout=20_000)
        rows = preview.get_by_test_id("proposed-row")
        await expect(rows).to_have_count(ROWS)

        order = await _proposed_rows(engine, table)
        assert sorted(order) == sorted(ids)
        edited = order[3]  # changed elsewhere after the proposal was made: a conflict, known before any write
        async with transaction(user["id"], engine=engine) as conn:
            await records.update_record(conn, await db_tables.get_table(conn, table.id), edited, {"Stock": 7})
        applied = [r for r in order if r != edited]
        locks = [await _lock(engine, applied[CHUNK + 5]), await _lock(engine, applied[3 * CHUNK + 5])]

        await page.evaluate(RECORD_COUNTS)
        await preview.get_by_role("button", name=f"Apply {ROWS} of {ROWS}").click()
        count = preview.get_by_test_id("proposal-progress-count")
        ticked = preview.get_by_label("applied", exact=True)
        busy = preview.get_by_label("applying", exact=True)
        conflict = preview.locator(f'[data-testid="proposed-row"]:has(td:text-is("{edited}"))')

        # waiting at the 2nd chunk: the conflict and the 1st chunk are in, the rest still to come
        await expect(count).to_have_text(f"{CHUNK + 1} of {ROWS}", timeout=15_000)
        await expect(ticked).to_have_count(CHUNK)
        await expect(busy).to_have_count(ROWS - CHUNK - 1)
        why = f"Row {edited}: Stock changed after this proposal was made"
        failed = conflict.get_by_label(f"failed: {why}")
        await expect(failed).to_be_visible()
        await expect(preview.get_by_test_id("row-failed")).to_have_text(f"Not applied: {why}")  # under its row
        await expect(preview.get_by_test_id("proposal-progress-failed")).to_have_text(" · 1 failed")
        await expect(preview.get_by_role("button", name="Dismiss")).to_be_disabled()
        await expect(preview.get_by_role("button", name=f"Apply {ROWS} of {ROWS}")).to_be_disabled()
        for rid in applied[:CHUNK]:
            await expect(preview.locator(f'[data-testid="proposed-row"]:has(td:text-is("{rid}"))')
                         .get_by_label("applied", exact=True)).to_be_visible()
        await screenshot(page, "proposal_apply_progress")

        await _release(locks.pop(0))  # on to the 4th chunk, where it waits again
        await expect(count).to_have_text(f"{3 * CHUNK + 1} of {ROWS}", timeout=15_000)
        await expect(ticked).to_have_count(3 * CHUNK)
        await expect(busy).to_have_count(ROWS - 3 * CHUNK - 1)

        await _release(locks.pop(0))
        outcome = preview.get_by_test_id("proposal-outcome")
        await expect(outcome).to_contain_text(f"{ROWS - 1} of {ROWS}", timeout=15_000)
        await expect(ticked).to_have_count(ROWS - 1)
        await expect(busy).to_have_count(0)
        await expect(failed).to_be_visible()
        await expect(preview.get_by_test_id("row-failed")).to_have_text(f"Not applied: {why}")
        await expect(count).to_have_count(0)  # the full bar, no count, once it is done
        await expect(preview.get_by_role("button", name="Dismiss")).to_have_count(0)
        await expect(preview.get_by_role("button", name=f"Apply {ROWS} of {ROWS}")).to_have_count(0)
        await expect(preview.get_by_role("button", name="Done")).to_be_visible()
        await screenshot(page, "proposal_apply_done")

        # the count only went up, through the chunks, and never showed a total it had not reached
        seen = [int(t.split(" of ")[0].replace(",", "")) for t in await page.evaluate("window.__counts")]
        assert seen == sorted(set(seen)) and {1, CHUNK + 1, 3 * CHUNK + 1} <= set(seen) and seen[-1] < ROWS, seen
        stock = await _stock(engine, table)
        assert stock[edited] == 7 and all(stock[r] == 500 for r in applied)
    finally:
        for conn in locks:
            await _release(conn)
        await page.context.close()
