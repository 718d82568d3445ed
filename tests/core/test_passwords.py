"""Passwords: at least 8 characters and none of the most common ones; the first login's password is shown
once, then only where it is kept, and `tablechat user password` changes it (ending its sign-ins)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.passwords import common_passwords, password_problem
from db import accounts, sessions
from db.engine import transaction
from db.errors import Invalid

ROOT = Path(__file__).resolve().parents[2]


def test_short_and_common_passwords_are_refused():
    assert "at least 8" in password_problem("abcd")
    assert "at least 8" in password_problem("pw12345")
    for common in ("password", "12345678", "Password1", "qwertyuiop", "iloveyou", "  PASSWORD  "):
        assert "common" in password_problem(common), common
    assert "user name" in password_problem("margaret-h", name="Margaret-H")
    assert password_problem("correct horse battery staple") is None
    assert password_problem("tc-Q8v#m2") is None
    assert 4000 <= len(common_passwords()) <= 10_000


async def test_accounts_refuse_weak_passwords(engine, unique):
    async with transaction(None, engine=engine) as conn:
        with pytest.raises(Invalid, match="at least 8"):
            await accounts.create_account(conn, name=f"pw{unique}", password="1234")
        with pytest.raises(Invalid, match="common"):
            await accounts.create_account(conn, name=f"pw{unique}", password="baseball")
        await accounts.create_account(conn, name=f"pw{unique}", password="a long passphrase")
        with pytest.raises(Invalid, match="at least 8"):
            await accounts.set_password(conn, name=f"pw{unique}", password="short")


def _tablechat(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TABLECHAT_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


async def test_user_password_changes_it_ends_the_sign_ins_and_forgets_the_kept_first_password(
        engine, unique, tmp_path):
    name = f"pc{unique}"
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=name, password="the first passphrase")
        session = await sessions.open_session(conn, acc)
    kept = tmp_path / "default_login"
    kept.write_text(f"{name}:the first passphrase")

    weak = _tablechat("user", "password", name, "--password", "letmein1", data_dir=tmp_path)
    assert weak.returncode == 1 and "common" in weak.stderr
    assert kept.exists()

    done = _tablechat("user", "password", name, "--password", "the second passphrase", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not kept.exists()
    async with transaction(None, engine=engine) as conn:
        assert await accounts.authenticate(conn, name=name, password="the second passphrase")
        assert not await sessions.is_active(conn, session, acc)
    missing = _tablechat("user", "password", f"nobody{unique}", "--password", "the second passphrase",
                         data_dir=tmp_path)
    assert missing.returncode == 1 and "no user" in missing.stderr


def test_the_first_password_is_shown_once_then_only_where_it_is(monkeypatch, tmp_path):
    from cli import main
    from core.settings import get_settings

    monkeypatch.setenv("TABLECHAT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        created = "\n".join(main._login_lines(("admin", "s3cret-first-pass", [])))
        later = "\n".join(main._login_lines(("admin", None, [])))
        warned = "\n".join(main._login_lines(("", None, ["is a superuser"])))
    finally:
        get_settings.cache_clear()
    assert "s3cret-first-pass" in created
    assert "s3cret-first-pass" not in later
    assert str(tmp_path / "default_login") in later and "tablechat user password admin" in later
    assert "is a superuser" in warned and "DATABASE_OWNER_URL" in warned
