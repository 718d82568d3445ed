"""An AI column through the chat in headless Chromium: the offline chat model proposes it, Apply starts
its fill on a real `tablechat worker` (cells computed by the fake Claude, slowed down so progress can be
seen), the progress message counts up to done and the live view shows every generated value."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid

import pytest
from browser import ARTIFACTS, ROOT, AppServer, app_env, login, new_page, screenshot, send_message
from fakes.cell_llm import CellLLM, expected
from playwright.async_api import expect

from db import accounts
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")

PREFIX = f"tcui{uuid.uuid4().hex[:8]}"
PROGRESS = re.compile(r"(\d+) / (\d+) done")


@pytest.fixture(scope="module")
def fake_claude():
    with CellLLM() as fake:
        fake.configure(latency_s=0.4)
        yield fake


@pytest.fixture(scope="module")
def app_server(services):
    """The app (offline chat model) on its own Redis prefix, shared with the worker below."""
    server = AppServer(app_env(services, TABLECHAT_REDIS_PREFIX=PREFIX))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(services, fake_claude, cancel_leftover_jobs):
    """`tablechat worker`, one cell per call and one call at a time, so a fill of a few rows takes seconds."""
    cancel_leftover_jobs()
    env = app_env(services, TABLECHAT_REDIS_PREFIX=PREFIX, TABLECHAT_LLM="anthropic", ANTHROPIC_API_KEY="test",
                  ANTHROPIC_BASE_URL=fake_claude.url, TABLECHAT_ROWS_PER_CALL="1", TABLECHAT_CALLS_PER_MESSAGE="1",
                  TABLECHAT_MAX_CONCURRENCY="1")
    log = (ARTIFACTS / f"worker-{PREFIX}.log").open("a")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/tablechat"), "worker", "--processes", "1", "--threads", "1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(1)
    assert proc.poll() is None, (ARTIFACTS / f"worker-{PREFIX}.log").read_text()[-3000:]
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)  # its own session: the worker and the Dramatiq processes it started
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
async def user(engine):
    name, password = f"ai{uuid.uuid4().hex[:8]}", "pw-ai-columns"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
    return {"name": name, "password": password, "id": account_id}


async def _restaurants(page, app_server, user):
    """Sign in, create the offline model's restaurant table (3 rows) through the chat; its live view."""
    await login(page, app_server.url, user["name"], user["password"])
    await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text("Workspace:",
                                                                                           timeout=30_000)
    await send_message(page, "Create a table of Italian restaurants in Chicago")
    create = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
    await create.get_by_role("button", name="Create Table").click(timeout=30_000)
    await expect(create.get_by_test_id("proposal-outcome")).to_contain_text("Created table", timeout=30_000)
    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3", timeout=30_000)
    return live


async def _add_ai_column(page, name: str, prompt: str) -> None:
    """Ask the chat for an AI column and apply its proposal (its fill starts)."""
    await send_message(page, f"add an AI column {name}: {prompt}")
    schema = page.locator('[data-testid="proposal"][data-kind="schema_update"]').last
    await expect(schema).to_contain_text(name, timeout=30_000)
    await schema.get_by_role("button", name="Apply").click(timeout=30_000)


async def test_ai_column_through_the_chat_fills_with_live_progress(chromium, app_server, worker, user):
    page = await new_page(chromium)
    try:
        live = await _restaurants(page, app_server, user)
        names = [n.strip() for n in await live.locator('td[data-col="Name"]').all_inner_texts()]
        assert len(names) == 3

        await _add_ai_column(page, "Summary", "Summarize {Name} in 10 words")

        progress = page.locator(".step").filter(has_text=re.compile(r"Fill(ing|ed) Summary"))
        seen: list[tuple[int, int]] = []
        shot = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            texts = await progress.all_inner_texts()
            if texts and (m := PROGRESS.search(texts[-1])):
                done, total = int(m.group(1)), int(m.group(2))
                if not seen or seen[-1] != (done, total):
                    seen.append((done, total))
                if 0 < done < total and not shot:
                    await live.locator('td[data-col="Summary"]').first.scroll_into_view_if_needed()
                    await screenshot(page, "ai_column_progress")
                    shot = True
                if "Filled Summary" in texts[-1]:
                    break
            await asyncio.sleep(0.05)
        final = (await progress.all_inner_texts())[-1]
        assert "Filled Summary: 3 / 3 done · 0 failed" in final, (seen, final)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) >= 2, seen  # it counted up
        assert any(0 < d < 3 for d, _ in seen), seen
        await expect(progress).to_have_count(1)  # one message, updated in place

        column = {"name": "Summary", "type": "text", "options": None}
        for name in names:
            want = expected(column, {"Name": name})
            row = live.locator("tr", has=page.locator('td[data-col="Name"]', has_text=name))
            await expect(row.locator('td[data-col="Summary"]')).to_contain_text(want)
        await row.locator('td[data-col="Summary"]').scroll_into_view_if_needed()
        await screenshot(page, "ai_column_filled")

        # Revert on the finished fill: its values go, as a proposal applied with its own Apply
        await progress.get_by_role("button", name="Revert").click()
        undo = page.locator('[data-testid="proposal"][data-kind="data"]').last
        await expect(undo.get_by_test_id("proposal-title")).to_contain_text("Revert: AI fill of")
        await undo.get_by_role("button", name="Apply 3 of 3").click()
        await expect(undo.get_by_test_id("proposal-outcome")).to_contain_text("applied")
        for name in names:
            row = live.locator("tr", has=page.locator('td[data-col="Name"]', has_text=name))
            await expect(row.locator('td[data-col="Summary"]')).to_have_text("")
    finally:
        await page.context.close()


async def test_failed_cells_are_listed_and_retried_from_the_live_view(chromium, app_server, worker, user,
                                                                      fake_claude):
    fake_claude.configure(poison="Piccolo Sogno")
    page = await new_page(chromium)
    try:
        live = await _restaurants(page, app_server, user)
        await _add_ai_column(page, "Verdict", "Describe {Name} in one line")

        summary = page.locator(".step").filter(has_text="Filled Verdict")
        await expect(summary).to_contain_text("2 / 3 done · 1 failed", timeout=60_000)
        await expect(summary).to_contain_text("Claude refused the request")
        bad = live.locator("tr", has=page.locator('td[data-col="Name"]', has_text="Piccolo Sogno"))
        await expect(bad.locator('td[data-col="Verdict"]')).to_contain_text("failed")
        retry = live.get_by_test_id("retry-failed")
        await expect(retry).to_have_text(re.compile(r"Retry 1 failed: Verdict"))  # counted over the whole table
        await bad.locator('td[data-col="Verdict"]').scroll_into_view_if_needed()
        await screenshot(page, "ai_column_failed")

        # editing is paused while a proposal waits: so is Retry failed
        await send_message(page, "add a column Parking (boolean)")
        pending = page.locator('[data-testid="proposal"][data-kind="schema_update"]').filter(
            has=page.locator('th[data-col="Parking"]'))
        await expect(pending).to_have_count(1, timeout=30_000)
        await expect(live).to_contain_text("editing paused")
        await expect(retry).to_be_disabled()
        await pending.get_by_role("button", name="Dismiss").click()
        await expect(retry).to_be_enabled()

        fake_claude.configure(poison=None)
        await retry.click()
        # the retry is a fill of this chat: its own live progress message, ending with the summary
        fills = page.locator(".step").filter(has_text=re.compile(r"Fill(ing|ed) Verdict"))
        retried = page.locator(".step").filter(has_text="Filled Verdict: 1 / 1 done · 0 failed")
        await expect(retried).to_have_count(1, timeout=30_000)
        await expect(fills).to_have_count(2)
        want = expected({"name": "Verdict", "type": "text", "options": None}, {"Name": "Piccolo Sogno"})
        await expect(bad.locator('td[data-col="Verdict"]')).to_contain_text(want, timeout=30_000)
        await expect(retry).to_have_count(0)
        await retried.scroll_into_view_if_needed()
        await bad.locator('td[data-col="Verdict"]').scroll_into_view_if_needed()
        await screenshot(page, "ai_column_retried")
    finally:
        fake_claude.configure(poison=None)
        await page.context.close()


async def test_a_reloaded_chat_keeps_following_a_running_fill(chromium, app_server, worker, user, fake_claude):
    fake_claude.configure(latency_s=4.0)  # still running after the reload on a loaded machine
    page = await new_page(chromium)
    try:
        await _restaurants(page, app_server, user)
        await _add_ai_column(page, "Blurb", "Write a blurb for {Name}")
        progress = page.locator(".step").filter(has_text=re.compile(r"Fill(ing|ed) Blurb"))
        await expect(progress).to_contain_text("Filling Blurb", timeout=30_000)

        await page.reload()
        progress = page.locator(".step").filter(has_text=re.compile(r"Fill(ing|ed) Blurb"))
        await expect(progress).to_contain_text("Filling Blurb: ", timeout=30_000)  # still running
        await expect(progress.get_by_role("button", name="Stop")).to_be_visible()  # sent to the new page
        await expect(progress).to_contain_text("Filled Blurb: 3 / 3 done · 0 failed", timeout=60_000)
        await expect(progress).to_have_count(1)  # the same message, followed by the reloaded page
        await expect(progress.get_by_role("button", name="Stop")).to_have_count(0)
        await progress.scroll_into_view_if_needed()
        await screenshot(page, "ai_column_reloaded")
    finally:
        fake_claude.configure(latency_s=0.4)
        await page.context.close()


async def test_stop_on_the_progress_message_ends_the_fill(chromium, app_server, worker, user, fake_claude):
    fake_claude.configure(latency_s=1.0)
    page = await new_page(chromium)
    try:
        live = await _restaurants(page, app_server, user)
        await _add_ai_column(page, "Motto", "Write a motto for {Name}")
        progress = page.locator(".step").filter(has_text=re.compile(r"(Fill(ing|ed)|Cancelled filling) Motto"))
        await expect(progress).to_contain_text("1 / 3 done", timeout=30_000)
        await screenshot(page, "ai_column_stop_button")
        await progress.get_by_role("button", name="Stop").click()

        ended = re.compile(r"Cancelled filling Motto: ([12]) / 3 done")  # a call ending as Stop is clicked counts
        await expect(progress).to_contain_text(ended, timeout=30_000)
        await expect(progress.get_by_role("button", name="Stop")).to_have_count(0)
        done = int(ended.search((await progress.all_inner_texts())[-1]).group(1))
        cells = live.locator('td[data-col="Motto"]')
        # the cells not computed go back to what they were (empty): none stays queued or computing
        await expect(cells.filter(has_text=re.compile("queued|computing"))).to_have_count(0, timeout=15_000)
        texts = [t.strip() for t in await cells.all_inner_texts()]
        assert len(texts) == 3 and sum(1 for t in texts if t) == done, texts
        await expect(progress).to_contain_text(f"{3 - done} cell")  # says what was left
        await progress.scroll_into_view_if_needed()
        await screenshot(page, "ai_column_stopped")
    finally:
        fake_claude.configure(latency_s=0.4)
        await page.context.close()
