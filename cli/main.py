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
from typing import Any

from cli import app_processes, io_commands, token_commands, worker_command, workspace_commands
from cli.common import run_db, services
from core.settings import ROOT, get_settings

DEFAULT_USER = "admin"
DEFAULT_LOGIN_FILE = "default_login"
# the commands that live in modules of their own: each adds itself to the parser's subcommands
COMMANDS = (token_commands.register, io_commands.register, worker_command.register, workspace_commands.register)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def cmd_user_add(args: argparse.Namespace) -> int:
    from db import accounts
    from db.errors import ServiceError

    async def add(conn: Any) -> None:
        acc = await accounts.create_account(conn, name=args.name, password=args.password)
        await accounts.create_workspace(conn, owner_id=acc)

    try:
        run_db(add)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"user {args.name} created")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    """A new password for a login (asked for twice when not given); its sign-ins end."""
    from core.passwords import password_problem
    from db import accounts
    from db.errors import ServiceError

    password = args.password
    if password is None:
        import getpass

        password = getpass.getpass(f"new password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return 1
    if problem := password_problem(password, name=args.name):  # before any database work
        print(f"error: {problem}", file=sys.stderr)
        return 1

    async def change(conn: Any) -> bool:
        return await accounts.set_password(conn, name=args.name, password=password)

    try:
        changed = run_db(change)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if not changed:
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    kept = get_settings().data_dir / DEFAULT_LOGIN_FILE
    if kept.exists() and kept.read_text().partition(":")[0] == args.name:
        kept.unlink()  # the password written there at first start is no longer the password
    print(f"password of {args.name} changed; its sign-ins have ended")
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    found = services()
    try:
        upgrade(found.owner_url, app_url=found.database_url)
    finally:
        found.stop()
    print("database is up to date")
    return 0


def cmd_maintain(_args: argparse.Namespace) -> int:
    """Build the sort indexes big tables are sorted by, drop orphaned ones (db/sort_indexes.py)."""
    import asyncio

    from db.sort_indexes import maintain

    found = services()
    try:
        done = asyncio.run(maintain(found.owner_url))
    finally:
        found.stop()
    print(f"sort indexes: {len(done['built'])} built, {len(done['dropped'])} dropped")
    return 0


def _default_login() -> tuple[str, str | None, list[str]] | None:
    """Create the `admin` login when there is no account at all, its random password kept (readable by this
    user only) in .data/ for the first sign-in. Returns (name, password when just created, else None,
    what is wrong with the database role the app connects as); None when other accounts are in use."""
    from db import accounts
    from db.roles import check_app_role

    path = get_settings().data_dir / DEFAULT_LOGIN_FILE

    async def ensure(conn: Any) -> tuple[str, str | None, list[str]] | None:
        problems = await check_app_role(conn)
        if await accounts.count_accounts(conn):
            if path.exists():
                name = path.read_text().strip().partition(":")[0]
                if await accounts.account_by_name(conn, name):
                    return name, None, problems
            return ("", None, problems) if problems else None
        password = secrets.token_urlsafe(12)
        acc = await accounts.create_account(conn, name=DEFAULT_USER, password=password)
        await accounts.create_workspace(conn, owner_id=acc)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(f"{DEFAULT_USER}:{password}")
        return DEFAULT_USER, password, problems

    from db.engine import dispose_engines, transaction

    async def main() -> tuple[str, str | None, list[str]] | None:
        try:
            async with transaction(None) as conn:
                return await ensure(conn)
        finally:
            await dispose_engines()

    return asyncio.run(main())


def _login_lines(login: tuple[str, str | None, list[str]] | None) -> list[str]:
    """What `tablechat run` says about signing in: the first password once, then only where it is."""
    lines = []
    if login and login[2]:
        lines.append(f"  warning: the app's database role {', '.join(login[2])}; give the owner's URL as "
                     "DATABASE_OWNER_URL and a role of the app's own as DATABASE_URL (docs/security.md)")
    if login and login[0] and login[1]:
        lines.append(f"  login: {login[0]} / {login[1]}   (shown this once; kept in "
                     f"{get_settings().data_dir / DEFAULT_LOGIN_FILE} until you change it)")
    elif login and login[0]:
        lines.append(f"  login: {login[0]}, password in {get_settings().data_dir / DEFAULT_LOGIN_FILE} "
                     f"(change it: tablechat user password {login[0]})")
    else:
        lines.append("  login: an account you created (tablechat user add NAME --password PW)")
    return lines


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
    found = services()
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

    for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal too: stop the servers on the way out
        signal.signal(sig, lambda *_: sys.exit(0))
    try:
        print(f"database: {found.database_url}\nredis:    {found.redis_url}", flush=True)
        upgrade(found.owner_url, app_url=found.database_url)
        login = _default_login()
        env = dict(os.environ, CHAINLIT_AUTH_SECRET=settings.auth_secret(), PYTHONUNBUFFERED="1")
        apps = app_processes.start_apps(args.processes, host, port, env, children,
                                        lambda app: _wait_healthy(f"http://127.0.0.1:{app.port}/health", app.proc))
        if apps is None:
            return 1
        # the AI-column workers (fills), with the outbox relay and the sweeper
        children.append(subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=env))
        url = f"http://localhost:{port}"
        for app in apps:
            if not _wait_healthy(f"http://127.0.0.1:{app.port}/health", app.proc):
                print("error: the app did not start (see its output above)", file=sys.stderr)
                return 1
        model = "offline model (set ANTHROPIC_API_KEY for Claude)" if settings.llm_kind == "offline" else (
            f"Claude ({settings.chat_model})")
        print(f"\n  tablechat is running at {url}\n  model: {model}")
        if len(apps) > 1:
            print(f"  {len(apps)} app processes (ports {', '.join(str(a.port) for a in apps)}) behind HAProxy "
                  f"on port {port}; a process that stops is started again (deploy/README.md)")
        print("\n".join(_login_lines(login)))
        if host not in LOOPBACK:
            print(f"  listening on {host}: reachable from other machines; see the checklist in "
                  "docs/security.md (TLS proxy, TABLECHAT_TRUSTED_PROXIES, your own logins)")
        print("  Ctrl-C stops everything.\n", flush=True)
        while True:
            if len(apps) > 1:  # behind the balancer the others serve meanwhile: a stopped one starts again
                app_processes.restart_stopped(apps, children)
            if any(child.poll() is not None for child in children):
                break
            time.sleep(0.5)
        return next((c.returncode for c in children if c.returncode), 0)
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tablechat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve the app (and start what it needs)")
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--host", default=None,
                     help="address to listen on (default TABLECHAT_HOST, else 127.0.0.1: this machine only); "
                          "0.0.0.0 serves every interface, see docs/security.md first")
    run.add_argument("--processes", type=_positive, default=1,
                     help="app processes (default 1); more than one run behind HAProxy on --port "
                          "(make balancer installs it; deploy/README.md)")
    run.set_defaults(fn=cmd_run)

    user = sub.add_parser("user", help="manage logins").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a login (and its first workspace)")
    add.add_argument("name")
    add.add_argument("--password", required=True)
    add.set_defaults(fn=cmd_user_add)

    password = user.add_parser("password", help="set a login's password (asked for when not given); "
                               "ends its sign-ins")
    password.add_argument("name")
    password.add_argument("--password", help="the new password (default: asked for, not echoed)")
    password.set_defaults(fn=cmd_user_password)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(fn=cmd_migrate)
    sub.add_parser("maintain", help="build the sort indexes of big tables sorted by a column (as the schema "
                   "owner, CONCURRENTLY; run it now and then, e.g. from cron)").set_defaults(fn=cmd_maintain)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
