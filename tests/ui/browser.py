"""Browser-test helpers: the real app as a subprocess on a free port, headless Chromium, login, chat.

Fixtures (made available to tests/ui by its conftest): `app_server` (the app with the default
environment, one process for the run, handed to each test module running, with `restart()`; a module that
needs other settings defines its own), `chromium` (one browser per run) and `page` (a fresh context and tab
per test).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """`chainlit run app.py` on a port of its own; its output goes to tests/artifacts/server-<port>.log."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_start: int = 0  # where `log()` begins in the file: a server shared by modules shows each its own part

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return ARTIFACTS / f"server-{self.port}.log"

    def start(self, timeout: float = 90) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/chainlit"), "run", "app.py", "--headless", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the app did not answer /health within {timeout} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[self.log_start:].decode("utf-8", "replace")

    def log_from_here(self) -> None:
        """`log()` shows only what the server writes from now on."""
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0


def app_env(services: Any, **extra: str) -> dict[str, str]:
    """The environment of the app under test: the run's database and Redis, its own login secret."""
    env = dict(os.environ, DATABASE_URL=services.database_url, REDIS_URL=services.redis_url,
               CHAINLIT_AUTH_SECRET=secrets.token_urlsafe(32), TABLECHAT_LLM="offline", PYTHONUNBUFFERED="1")
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def shared_app_server(services):
    """One app process for every module that takes the default environment: a start costs seconds (Chainlit's
    import, the app's warm-up). Each module signs in with accounts of its own; a module that needs the app
    started with other settings makes an `AppServer` of its own."""
    server = AppServer(app_env(services))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_server(shared_app_server):
    """The shared app, running when the module starts (started again if an earlier module left it stopped
    or it died); `log()` shows only what it wrote during this module."""
    server = shared_app_server
    if not server.running():
        server.stop()
        server.start()
    server.log_from_here()
    yield server


@pytest.fixture(scope="session")
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        await browser.close()


async def new_page(browser: Any, viewport: dict[str, int] | None = None) -> Any:
    """A tab in a fresh context that only talks to this machine (outside fonts would slow every load)."""
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 860})
    context.set_default_timeout(20_000)

    async def local_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS or route.request.url.startswith("data:"):
            await route.continue_()
        else:
            await route.abort()

    await context.route(re.compile(r".*"), local_only)
    return await context.new_page()


@pytest.fixture
async def page(chromium):
    tab = await new_page(chromium)
    yield tab
    await tab.context.close()


async def login(page: Any, base_url: str, name: str, password: str) -> None:
    """Sign in through the login form and wait for the chat to be ready for input."""
    await page.goto(f"{base_url}/login")
    await page.locator("#email").fill(name)
    await page.locator("#password").fill(password)
    await page.locator("button[type=submit]").click()
    await page.locator("#chat-input").wait_for(state="visible")


async def send_message(page: Any, content: str, *, timeout_s: float = 30.0) -> None:
    """Type a message in the composer and send it. A page still resuming its thread may clear what was
    typed (the send button then stays disabled): type it again until it can be sent."""
    composer, submit = page.locator("#chat-input"), page.locator("#chat-submit")
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        await composer.click()
        await composer.fill(content)
        try:
            await submit.click(timeout=2_000)
            return
        except PlaywrightTimeout:
            if asyncio.get_running_loop().time() > deadline:
                raise


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
