"""API tokens end: one created with a lifetime is refused after it, and `tablechat token revoke` deletes one
(`tablechat token list` shows them, never the tokens themselves)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cli.token_commands import duration
from db import accounts
from db.engine import transaction

ROOT = Path(__file__).resolve().parents[2]


def tablechat(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


async def test_a_token_is_refused_once_it_has_expired(client, engine, make_user):
    user = await make_user()
    async with transaction(None, engine=engine) as conn:
        short = await accounts.create_token(conn, account_id=user.id, name="short", expires_in=timedelta(hours=1))
    headers = {"Authorization": f"Bearer {short}"}
    assert (await client.get("/tables", headers=headers)).status_code == 200
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'short' "
                                "AND account_id = :a"), {"a": user.id})
    assert (await client.get("/tables", headers=headers)).status_code == 401
    assert (await client.get("/tables", headers=user.headers)).status_code == 200  # no lifetime: still good


async def test_the_token_commands_create_list_and_revoke(client, make_user):
    user = await make_user()
    made = tablechat("token", "create", user.name, "--label", "ci", "--expires-in", "30d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith(accounts.TOKEN_PREFIX)
    assert (await client.get("/tables", headers={"Authorization": f"Bearer {token}"})).status_code == 200

    listed = tablechat("token", "list", user.name)
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout
    rows = {line.split()[1]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {"tests", "ci"}
    assert rows["tests"].rstrip().endswith("never") and not rows["ci"].rstrip().endswith("never")
    ci_id = rows["ci"].split()[0]

    gone = tablechat("token", "revoke", user.name, ci_id)
    assert gone.returncode == 0, gone.stderr
    assert (await client.get("/tables", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert (await client.get("/tables", headers=user.headers)).status_code == 200
    again = tablechat("token", "revoke", user.name, ci_id)
    assert again.returncode == 1 and "no token" in again.stderr
    by_label = tablechat("token", "revoke", user.name, "tests")
    assert by_label.returncode == 0, by_label.stderr
    assert (await client.get("/tables", headers=user.headers)).status_code == 401


def test_lifetimes_read_like_30d():
    assert duration("30d") == timedelta(days=30)
    assert duration("12h") == timedelta(hours=12)
    assert duration("2w") == timedelta(weeks=2)
    assert duration("90m") == timedelta(minutes=90)
    for bad in ("30", "0d", "-1d", "1y", "forever"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
