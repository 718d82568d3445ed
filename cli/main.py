"""The `tablechat` command: run the app, manage logins and tokens, migrate."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any

from core.services import Services, resolve
from core.settings import ROOT, get_settings

DEFAULT_USER = "admin"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _services() -> Services:
    found = resolve()
    os.environ["DATABASE_URL"] = found.database_url
    os.environ["REDIS_URL"] = found.redis_url
    get_settings.cache_clear()
    return found


def _run_db(fn: Callable[[Any], Coroutine[Any, Any, Any]], migrate: bool = True) -> Any:
    """Run `fn(conn)` in one system transaction on the configured database."""
    from db.engine import dispose_engines, transaction
    from db.migrate import upgrade

    found = _services()
    try:
        if migrate:
            upgrade(found.database_url)

        async def main() -> Any:
            try:
                async with transaction(None) as conn:
                    return await fn(conn)
            finally:
                await dispose_engines()

        return asyncio.run(main())
    finally:
        found.stop()


def cmd_user_add(args: argparse.Namespace) -> int:
    from db import accounts
    from db.errors import ServiceError

    async def add(conn: Any) -> None:
        acc = await accounts.create_account(conn, name=args.name, password=args.password)
        await accounts.create_workspace(conn, owner_id=acc)

    try:
        _run_db(add)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"user {args.name} created")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from db import accounts

    async def create(conn: Any) -> str | None:
        acc = await accounts.account_by_name(conn, args.name)
        if acc is None:
            return None
        return await accounts.create_token(conn, account_id=acc["id"], name=args.label)

    token = _run_db(create)
    if token is None:
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(token)
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    found = _services()
    try:
        upgrade(found.database_url)
    finally:
        found.stop()
    print("database is up to date")
    return 0


def _default_login() -> tuple[str, str] | None:
    """Create the `admin` login when there is no account at all; its password is kept in .data/."""
    from db import accounts

    path = get_settings().data_dir / "default_login"

    async def ensure(conn: Any) -> tuple[str, str] | None:
        if await accounts.count_accounts(conn):
            if path.exists():
                name, _, password = path.read_text().strip().partition(":")
                if await accounts.account_by_name(conn, name):
                    return name, password
            return None
        password = secrets.token_urlsafe(9)
        acc = await accounts.create_account(conn, name=DEFAULT_USER, password=password)
        await accounts.create_workspace(conn, owner_id=acc)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{DEFAULT_USER}:{password}")
        path.chmod(0o600)
        return DEFAULT_USER, password

    from db.engine import dispose_engines, transaction

    async def main() -> tuple[str, str] | None:
        try:
            async with transaction(None) as conn:
                return await ensure(conn)
        finally:
            await dispose_engines()

    return asyncio.run(main())


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def bind_address(args: argparse.Namespace) -> str:
    """Where `tablechat run` listens: --host, else TABLECHAT_HOST, else this machine only. Serving other
    machines is a decision to take explicitly (the first run creates an admin login)."""
    return args.host or get_settings().host


def cmd_run(args: argparse.Namespace) -> int:
    """Start (or reuse) Postgres and Redis, migrate, ensure a login, serve the app and run the workers
    until Ctrl-C."""
    from db.migrate import upgrade

    settings = get_settings()
    port = args.port or settings.port
    host = bind_address(args)
    found = _services()
    children: list[subprocess.Popen] = []

    def stop(*_: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        found.stop()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        print(f"database: {found.database_url}\nredis:    {found.redis_url}", flush=True)
        upgrade(found.database_url)
        login = _default_login()
        env = dict(os.environ, CHAINLIT_AUTH_SECRET=settings.auth_secret(), PYTHONUNBUFFERED="1")
        app = subprocess.Popen(
            [sys.executable, "-m", "chainlit", "run", "app.py", "--headless", "--host", host,
             "--port", str(port)],
            cwd=ROOT, env=env,
        )
        children.append(app)
        # the AI-column workers (fills), with the outbox relay and the sweeper
        children.append(subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=env))
        url = f"http://localhost:{port}"
        if not _wait_healthy(f"http://127.0.0.1:{port}/health", app):
            print("error: the app did not start (see its output above)", file=sys.stderr)
            return 1
        model = "offline model (set ANTHROPIC_API_KEY for Claude)" if settings.llm_kind == "offline" else (
            f"Claude ({settings.chat_model})")
        print(f"\n  tablechat is running at {url}\n  model: {model}")
        if login:
            print(f"  login: {login[0]} / {login[1]}")
        else:
            print("  login: an account you created (tablechat user add NAME --password PW)")
        if host not in LOOPBACK:
            print(f"  listening on {host}: reachable from other machines; see the checklist in "
                  "docs/security.md (TLS proxy, TABLECHAT_TRUSTED_PROXIES, your own logins)")
        print("  Ctrl-C stops everything.\n", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return next((c.returncode for c in children if c.returncode), 0)
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tablechat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve the app (and start what it needs)")
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--host", default=None,
                     help="address to listen on (default TABLECHAT_HOST, else 127.0.0.1: this machine only); "
                          "0.0.0.0 serves every interface, see docs/security.md first")
    run.set_defaults(fn=cmd_run)

    user = sub.add_parser("user", help="manage logins").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a login (and its first workspace)")
    add.add_argument("name")
    add.add_argument("--password", required=True)
    add.set_defaults(fn=cmd_user_add)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create an API token for a user; prints only the token")
    create.add_argument("name")
    create.add_argument("--label", default="cli")
    create.set_defaults(fn=cmd_token_create)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(fn=cmd_migrate)
    from cli.io_commands import register as register_io
    from cli.worker_command import register as register_worker

    register_io(sub)
    register_worker(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
