"""`tablechat workspace list|share|unshare`: who may do what in a workspace (owner, editor, viewer).

Sharing runs as an owner of the workspace, through the same checks as the chat and the API (PostgreSQL's
own among them), so the command line cannot hand out more than an owner could."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.common import run_db

ROLES = ("editor", "viewer", "owner")


def register(subparsers: Any) -> None:
    """Add the `workspace` command and its actions to the `tablechat` parser's subcommands."""
    ws = subparsers.add_parser("workspace", help="list and share workspaces").add_subparsers(dest="action", required=True)
    listing = ws.add_parser("list", help="a user's workspaces: name, role, tables, members")
    listing.add_argument("user")
    listing.set_defaults(fn=cmd_list)
    share = ws.add_parser("share", help="share a workspace with a user as editor or viewer (or change their role)")
    share.add_argument("workspace", help="the workspace's name or id")
    share.add_argument("user", help="the user to share it with")
    share.add_argument("--role", choices=ROLES, required=True)
    share.set_defaults(fn=cmd_share)
    unshare = ws.add_parser("unshare", help="take a user out of a workspace (its last owner stays)")
    unshare.add_argument("workspace", help="the workspace's name or id")
    unshare.add_argument("user")
    unshare.set_defaults(fn=cmd_unshare)


async def find_workspace(conn: Any, ref: str) -> dict[str, Any]:
    """A workspace by name or id (system transaction), with one of its owners; NotFound otherwise."""
    from sqlalchemy import text

    from db.errors import NotFound

    row = (await conn.execute(text(
        "SELECT w.id, w.name, (SELECT m.account_id FROM memberships m WHERE m.workspace_id = w.id "
        "  AND m.role = 'owner' ORDER BY m.account_id = w.owner_id DESC LIMIT 1) AS owner "
        "FROM workspaces w WHERE w.name = :r OR w.id::text = :r"), {"r": ref.strip()})).mappings().first()
    if row is None:
        raise NotFound(f"No workspace {ref!r} (see `tablechat workspace list USER`)")
    return dict(row)


async def _user(conn: Any, name: str) -> dict[str, Any]:
    from db import accounts
    from db.errors import NotFound

    found = await accounts.account_by_name(conn, name)
    if found is None:
        raise NotFound(f"No user {name!r}")
    return found


def _run(fn: Any) -> int:
    from db.errors import ServiceError

    try:
        return run_db(fn)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


def cmd_list(args: argparse.Namespace) -> int:
    from db import workspaces

    async def run(conn: Any) -> int:
        user = await _user(conn, args.user)
        for ws in await workspaces.list_mine(conn, user["id"]):
            members = ", ".join(f"{m['name']} ({m['role']})" for m in await workspaces.members(conn, ws["id"]))
            print(f"{ws['name']}\t{ws['role']}\t{ws['tables']} tables\t{members}")
        return 0

    return _run(run)


def cmd_share(args: argparse.Namespace) -> int:
    from db import workspaces
    from db.engine import act_as

    async def run(conn: Any) -> int:
        ws = await find_workspace(conn, args.workspace)
        user = await _user(conn, args.user)
        await act_as(conn, ws["owner"])  # as its owner, under row-level security
        added = await workspaces.share(conn, ws["id"], account_id=user["id"], by=ws["owner"], role=args.role)
        print(f"{'shared' if added else 'changed'}: {user['name']} is now {args.role} of {ws['name']}")
        return 0

    return _run(run)


def cmd_unshare(args: argparse.Namespace) -> int:
    from db import workspaces
    from db.engine import act_as

    async def run(conn: Any) -> int:
        ws = await find_workspace(conn, args.workspace)
        user = await _user(conn, args.user)
        await act_as(conn, ws["owner"])
        await workspaces.unshare(conn, ws["id"], account_id=user["id"])
        print(f"removed: {user['name']} from {ws['name']}")
        return 0

    return _run(run)
