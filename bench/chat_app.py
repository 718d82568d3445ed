"""The real app as the chat metrics see it: `chainlit run app.py` processes (ChatApp), HAProxy in front of
several of them (Balancer, deploy/haproxy.cfg), logins, and one browser tab's worth of socket.io client
(ChatClient) that sends a message and times its complete reply."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import balancer
from core.balancer import free_ports
from core.settings import ROOT, get_settings
from db import accounts
from db.engine import transaction


class ChatApp:
    """`chainlit run app.py --headless` on a free port against the bench's database, offline model. App
    processes that share a balancer share `secret` (any of them must accept a login cookie of another)."""

    def __init__(self, database_url: str, log_path: Path, *, secret: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = dict(os.environ, DATABASE_URL=database_url, TABLECHAT_LLM="offline", PYTHONUNBUFFERED="1",
                        CHAINLIT_AUTH_SECRET=secret or secrets.token_urlsafe(32))
        if get_settings().redis_url:
            self.env["REDIS_URL"] = get_settings().redis_url
        self.env.pop("ANTHROPIC_API_KEY", None)
        self.env.update(env or {})
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float) -> None:
        import httpx

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w") as log:
            self.proc = await asyncio.create_subprocess_exec(
                str(ROOT / ".venv/bin/chainlit"), "run", "app.py", "--headless", "--host", "127.0.0.1",
                "--port", str(self.port), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise RuntimeError(f"the app did not answer /health within {timeout:.0f} s:\n{self.log()[-3000:]}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None

    def cpu_s(self) -> float:
        """CPU seconds the app process has used so far (Linux /proc), 0 when it is not running."""
        if self.proc is None or self.proc.returncode is not None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Reply:
    """One message's round trip as the browser would see it."""

    seconds: float
    first_token_s: float | None
    text: str
    elements: list[str]
    error: str | None = None


@dataclass
class ChatClient:
    """One browser tab's worth of Chainlit socket: connect with the login cookie, start the chat, ask."""

    base_url: str
    cookie: str
    sio: Any = None
    events: list[tuple[float, str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, timeout: float) -> None:
        import socketio

        self.sio = socketio.AsyncClient(reconnection=False)
        for name in ("task_start", "task_end", "new_message", "update_message", "stream_start", "element"):
            self.sio.on(name, self._recorder(name))
        await self.sio.connect(
            self.base_url, socketio_path="/ws/socket.io", transports=["websocket"],
            headers={"Cookie": f"access_token={self.cookie}"}, wait_timeout=timeout,
            auth={"sessionId": str(uuid.uuid4()), "clientType": "webapp", "userEnv": "{}",
                  "chatProfile": None, "threadId": None})
        await self.sio.emit("connection_successful")
        # a person reads the greeting before typing: its workspace line says the chat is ready
        await self._until(lambda: any(kind in ("new_message", "update_message") and
                                      "Workspace:" in (data.get("output") or "") for _, kind, data in self.events),
                          timeout, "the greeting never named the workspace")

    def _recorder(self, name: str) -> Callable[[Any], Awaitable[None]]:
        async def record(data: Any = None) -> None:
            self.events.append((time.perf_counter(), name, data if isinstance(data, dict) else {}))
            self.changed.set()

        return record

    async def _until(self, done: Callable[[], bool], timeout: float, why: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(why)
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def ask(self, content: str, timeout: float) -> Reply:
        """Send a message as the chat input does; the reply is complete when the task ends."""
        seen = len(self.events)
        message = {"id": str(uuid.uuid4()), "threadId": "", "name": "bench", "type": "user_message",
                   "output": content, "createdAt": dt.datetime.now(dt.UTC).isoformat()}
        start = time.perf_counter()
        await self.sio.emit("client_message", {"message": message, "fileReferences": []})

        def after() -> list[tuple[float, str, Any]]:
            return self.events[seen:]

        def ended() -> bool:
            kinds = [k for _, k, _ in after()]
            return "task_start" in kinds and "task_end" in kinds[kinds.index("task_start"):]

        try:
            await self._until(ended, timeout, f"no reply within {timeout:.0f} s")
        except TimeoutError as exc:
            return Reply(time.perf_counter() - start, None, "", [], str(exc))
        end = next(t for t, k, _ in reversed(after()) if k == "task_end")
        first = next((t for t, k, _ in after() if k == "stream_start"), None)
        sent = [d for _, k, d in after() if k == "new_message"]
        reply = next((d for d in reversed(sent) if d.get("type") == "assistant_message"), {})
        problems = [d.get("output", "")[:200] for d in sent
                    if d.get("name") == "Error" or d.get("isError") or "went wrong" in (d.get("output") or "")]
        return Reply(end - start, None if first is None else first - start, reply.get("output", ""),
                      [d.get("name", "") for _, k, d in after() if k == "element"],
                      "; ".join(problems) or None)

    async def close(self) -> None:
        if self.sio is not None and self.sio.connected:
            await self.sio.disconnect()


def check_reply(reply: Reply) -> str | None:
    """What is wrong with a reply to “create a table of books”, as a user would see it."""
    if reply.error:
        return reply.error
    if "Create Table" not in reply.text or "Dismiss" not in reply.text:
        return f"the reply does not name the buttons: {reply.text[:200]!r}"
    if "Proposal" not in reply.elements:
        return "the reply came without its proposal preview"
    return None


async def logins(url: str, engine: Any, count: int) -> list[str]:
    """`count` new accounts, each signed in through POST /login; their access_token cookies."""
    import httpx

    tag, password = secrets.token_hex(3), "bench-chat-pw"
    names = [f"chat-{tag}-{i}" for i in range(count)]
    async with transaction(None, engine=engine) as conn:
        for name in names:
            await accounts.create_account(conn, name=name, password=password)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def login(name: str) -> str:
            response = await client.post("/login", data={"username": name, "password": password})
            token = response.cookies.get("access_token")
            if response.status_code != 200 or not token:
                raise RuntimeError(f"login of {name} answered {response.status_code}: {response.text[:200]}")
            client.cookies.clear()
            return token

        return [await login(name) for name in names]



async def chat_round(url: str, cookies: list[str], ask: str, timeout: float) -> tuple[list[Reply], list[str]]:
    """Open one chat per cookie, then send every chat's message at the same moment; the replies, and
    what went wrong (a chat that could not open counts as an error)."""
    chats = [ChatClient(url, c) for c in cookies]
    errors: list[str] = []
    try:
        opened = await asyncio.gather(*(c.open(timeout) for c in chats), return_exceptions=True)
        ready = []
        for chat, outcome in zip(chats, opened, strict=True):
            if isinstance(outcome, BaseException):
                errors.append(f"open: {type(outcome).__name__}: {outcome}")
            else:
                ready.append(chat)
        replies = await asyncio.gather(*(c.ask(ask, timeout) for c in ready))
        errors += [problem for r in replies if (problem := check_reply(r))]
        return list(replies), errors
    finally:
        await asyncio.gather(*(c.close() for c in chats), return_exceptions=True)

class Balancer:
    """HAProxy (deploy/haproxy.cfg) on a free port in front of the app processes on `ports` (this machine)."""

    def __init__(self, ports: list[int], config_path: Path) -> None:
        self.ports = ports
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = config_path
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float) -> None:
        import httpx

        haproxy = balancer.find_haproxy()
        if haproxy is None:
            raise RuntimeError(balancer.INSTALL_HINT)
        config = balancer.render("127.0.0.1", self.port, balancer.backends(self.ports))
        with self.config_path.with_suffix(".log").open("w") as log:  # HAProxy keeps its own copy of the file
            self.proc = balancer.start(haproxy, config, self.config_path, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"HAProxy exited ({self.proc.returncode}); see {self.config_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"HAProxy did not answer /health within {timeout:.0f} s")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
