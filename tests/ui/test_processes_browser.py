"""Past one machine, on this one: 2 app processes behind HAProxy (deploy/haproxy.cfg) and 2 worker groups
against one PostgreSQL and Redis. A browser chats through the balancer; the process serving it is killed
mid-chat (SIGKILL: nothing of it runs on the way out); the browser reconnects to the other one and the
conversation, its open proposal and a running fill's progress go on, and another fill's Stop works there."""

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

from bench.chat_app import Balancer
from core import balancer
from db import accounts
from db.engine import transaction

pytestmark = pytest.mark.asyncio(loop_scope="session")

PREFIX = f"tclb{uuid.uuid4().hex[:8]}"
COOKIE = "TABLECHAT_APP"


@pytest.fixture(scope="module")
def fake_claude():
    with CellLLM() as fake:
        fake.configure(latency_s=4.0)  # one cell at a time, 4 s each: the fills outlive the failover
        yield fake


@pytest.fixture(scope="module")
def apps(services):
    """Two app processes with one login secret (a cookie signed by one is good on the other)."""
    if balancer.find_haproxy() is None:
        pytest.skip(balancer.INSTALL_HINT)
    env = app_env(services, TABLECHAT_REDIS_PREFIX=PREFIX, TABLECHAT_TRUSTED_PROXIES="127.0.0.1")
    servers = {"app1": AppServer(dict(env)), "app2": AppServer(dict(env))}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
async def front(apps):
    """HAProxy on the shipped configuration, app1 and app2 in the order of `apps`."""
    lb = Balancer([s.port for s in apps.values()], ARTIFACTS / f"haproxy-{PREFIX}.cfg")
    await lb.start(30)
    yield lb
    await lb.stop()


@pytest.fixture(scope="module")
def workers(services, fake_claude, cancel_leftover_jobs):
    """Two `tablechat worker` groups (as on two other hosts: only the database, Redis and the model)."""
    cancel_leftover_jobs()
    env = app_env(services, TABLECHAT_REDIS_PREFIX=PREFIX, TABLECHAT_LLM="anthropic", ANTHROPIC_API_KEY="test",
                  ANTHROPIC_BASE_URL=fake_claude.url, TABLECHAT_ROWS_PER_CALL="1", TABLECHAT_CALLS_PER_MESSAGE="1",
                  TABLECHAT_MAX_CONCURRENCY="1")
    procs, logs = [], []
    for n in (1, 2):
        log = (ARTIFACTS / f"worker-{PREFIX}-{n}.log").open("a")
        logs.append(log)
        procs.append(subprocess.Popen([str(ROOT / ".venv/bin/tablechat"), "worker", "--processes", "1",
                                       "--threads", "1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    time.sleep(1)
    assert all(p.poll() is None for p in procs)
    yield procs
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group: the worker and its Dramatiq processes
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for log in logs:
        log.close()


async def _serving(page) -> str:
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    return cookies.get(COOKIE, "")


async def test_a_chat_goes_on_when_its_app_process_dies(chromium, apps, front, workers, engine):
    name, password = f"lb{uuid.uuid4().hex[:8]}", "pw-two-processes"
    async with transaction(None, engine=engine) as conn:
        await accounts.create_account(conn, name=name, password=password)
    page = await new_page(chromium)
    try:
        await login(page, front.url, name, password)
        first = await _serving(page)
        assert first in apps, await page.context.cookies()
        await expect(page.locator(".step").filter(has_text="Welcome to tablechat")).to_contain_text(
            "Workspace:", timeout=30_000)
        await send_message(page, "Create a table of Italian restaurants in Chicago")
        create = page.locator('[data-testid="proposal"][data-kind="schema_create"]').last
        await create.get_by_role("button", name="Create Table").click(timeout=30_000)
        await expect(create.get_by_test_id("proposal-outcome")).to_contain_text("Created table", timeout=30_000)
        live = page.locator("#side-view-content [data-testid=live-table]")
        await expect(live.get_by_test_id("live-table-count")).to_contain_text("of 3", timeout=30_000)
        names = [n.strip() for n in await live.locator('td[data-col="Name"]').all_inner_texts()]

        await send_message(page, "add an AI column Blurb: Write a blurb for {Name}")
        schema = page.locator('[data-testid="proposal"][data-kind="schema_update"]').filter(
            has=page.locator('th[data-col="Blurb"]'))
        await schema.get_by_role("button", name="Apply").click(timeout=30_000)
        progress = page.locator(".step").filter(has_text=re.compile(r"Fill(ing|ed) Blurb"))
        await expect(progress).to_contain_text("Filling Blurb", timeout=30_000)
        # a second fill, to be stopped from the other process
        await send_message(page, "add an AI column Motto: Write a motto for {Name}")
        motto = page.locator('[data-testid="proposal"][data-kind="schema_update"]').filter(
            has=page.locator('th[data-col="Motto"]'))
        await motto.get_by_role("button", name="Apply").click(timeout=30_000)
        stopping = page.locator(".step").filter(has_text=re.compile(r"(Fill(ing|ed)|Cancelled filling) Motto"))
        await expect(stopping).to_contain_text("Filling Motto", timeout=30_000)
        # a proposal left open, to be decided after the move
        await send_message(page, "add a column Parking (boolean)")
        pending = page.locator('[data-testid="proposal"][data-kind="schema_update"]').filter(
            has=page.locator('th[data-col="Parking"]'))
        await expect(pending.get_by_role("button", name="Apply")).to_be_visible(timeout=30_000)
        await expect(progress).to_contain_text("Filling Blurb: ", timeout=30_000)
        await screenshot(page, "processes_before_kill")

        before = (await progress.all_inner_texts())[-1]
        resumed = asyncio.Event()  # the new socket's server says it has resumed the thread (after on_chat_resume)

        def watch(ws) -> None:
            ws.on("framereceived", lambda frame: resumed.set() if "resume_thread" in str(frame) else None)

        page.on("websocket", watch)
        killed = apps[first]
        killed.proc.kill()  # SIGKILL: no shutdown, no goodbye to the browser
        killed.proc.wait()

        # the socket reconnects through the balancer to the other process, which resumes the chat; the
        # progress message is followed there (Stop back on it), to its end
        await asyncio.wait_for(resumed.wait(), 60)
        progress = page.locator(".step").filter(has_text=re.compile(r"Fill(ing|ed) Blurb"))
        await expect(progress.get_by_role("button", name="Stop")).to_be_visible()
        stopping = page.locator(".step").filter(has_text=re.compile(r"(Fill(ing|ed)|Cancelled filling) Motto"))
        await stopping.get_by_role("button", name="Stop").click()  # a button the dead process made, sent again
        await expect(stopping).to_contain_text(re.compile(r"Cancelled filling Motto: [0-3] / 3 done"), timeout=30_000)
        await expect(stopping.get_by_role("button", name="Stop")).to_have_count(0)
        await expect(progress).to_contain_text(re.compile(r"Fill(ing|ed) Blurb: \d / 3"))
        pending = page.locator('[data-testid="proposal"][data-kind="schema_update"]').filter(
            has=page.locator('th[data-col="Parking"]'))
        await pending.get_by_role("button", name="Apply").click(timeout=30_000)
        await expect(pending.get_by_test_id("proposal-outcome")).to_contain_text("applied", timeout=30_000)
        assert await _serving(page) not in ("", first)  # the balancer's cookie now names the other process
        await screenshot(page, "processes_after_kill")

        await expect(progress).to_contain_text("Filled Blurb: 3 / 3 done · 0 failed", timeout=90_000)
        assert before.startswith("Filling Blurb: ") and "3 / 3" not in before  # it was mid-fill at the kill
        await expect(progress).to_have_count(1)  # the same message, carried on by the other process
        await expect(progress.get_by_role("button", name="Stop")).to_have_count(0)
        live = page.locator("#side-view-content [data-testid=live-table]")
        column = {"name": "Blurb", "type": "text", "options": None}
        for row_name in names:
            row = live.locator("tr", has=page.locator('td[data-col="Name"]', has_text=row_name))
            await expect(row.locator('td[data-col="Blurb"]')).to_contain_text(expected(column, {"Name": row_name}))

        # and the conversation goes on there, with what was said before
        await send_message(page, "add a column Terrace (boolean)")
        terrace = page.locator('[data-testid="proposal"][data-kind="schema_update"]').filter(
            has=page.locator('th[data-col="Terrace"]'))
        await expect(terrace.first).to_be_visible(timeout=30_000)
        await screenshot(page, "processes_terrace")
        await expect(terrace).to_have_count(1, timeout=30_000)
        await expect(page.get_by_text("Create a table of Italian restaurants in Chicago").first).to_be_visible()
        await screenshot(page, "processes_conversation_goes_on")
        survivor = apps[await _serving(page)]
        assert "Traceback" not in survivor.log(), survivor.log()[-3000:]
    finally:
        await page.context.close()
