"""`tablechat token create|list|revoke`: API tokens, each with an optional lifetime."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from typing import Any

from cli.common import run_db

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(value: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w` → a timedelta (argparse type)."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*([mhdw])\s*", value.lower())
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration like 30d, 12h, 90m or 2w")
    return timedelta(**{UNITS[m.group(2)]: int(m.group(1))})


def register(subparsers: Any) -> None:
    """Add the `token` command and its actions to the `tablechat` parser's subcommands."""
    token = subparsers.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    create = token.add_parser("create", help="create an API token for a user; prints only the token")
    create.add_argument("name", help="the user")
    create.add_argument("--label", default="cli", help="a name for the token, to list or revoke it by")
    create.add_argument("--expires-in", type=duration, metavar="DURATION",
                        help="refuse the token after this long: 30d, 12h, 90m, 2w (default: never)")
    create.set_defaults(fn=cmd_create)

    listing = token.add_parser("list", help="a user's tokens: id, label, created, last used, expiry")
    listing.add_argument("name", help="the user")
    listing.set_defaults(fn=cmd_list)

    revoke = token.add_parser("revoke", help="delete a user's token by id, or every token with a label")
    revoke.add_argument("name", help="the user")
    revoke.add_argument("token", metavar="ID_OR_LABEL")
    revoke.set_defaults(fn=cmd_revoke)


def _with_account(args: argparse.Namespace, fn: Any) -> Any:
    """`fn(conn, account)` in a system transaction; exits with a message when the user does not exist."""
    from db import accounts

    async def run(conn: Any) -> Any:
        acc = await accounts.account_by_name(conn, args.name)
        return (False, None) if acc is None else (True, await fn(conn, acc))

    found, result = run_db(run)
    if not found:
        print(f"error: no user {args.name!r}", file=sys.stderr)
        raise SystemExit(1)
    return result


def cmd_create(args: argparse.Namespace) -> int:
    from db import accounts

    token = _with_account(args, lambda conn, acc: accounts.create_token(
        conn, account_id=acc["id"], name=args.label, expires_in=args.expires_in))
    print(token)
    return 0


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def cmd_list(args: argparse.Namespace) -> int:
    from db import accounts

    tokens = _with_account(args, lambda conn, acc: accounts.tokens_of(conn, acc["id"]))
    if not tokens:
        print(f"{args.name} has no API tokens")
        return 0
    print(f"{'id':36}  {'label':20}  {'created':16}  {'last used':16}  expires")
    for t in tokens:
        expiry = _when(t["expires_at"]) + (" (expired)" if t["expired"] else "")
        print(f"{t['id']!s:36}  {t['name'][:20]:20}  {_when(t['created_at']):16}  {_when(t['last_used_at']):16}  "
              f"{expiry if t['expires_at'] else 'never'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from db import accounts

    gone = _with_account(args, lambda conn, acc: accounts.revoke_tokens(conn, acc["id"], args.token))
    if not gone:
        print(f"error: {args.name} has no token {args.token!r} (see `tablechat token list {args.name}`)",
              file=sys.stderr)
        return 1
    print(f"revoked {gone} token{'s' if gone > 1 else ''}")
    return 0
