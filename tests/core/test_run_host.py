"""`tablechat run` serves this machine only unless told otherwise (--host or TABLECHAT_HOST), and says so
when it listens on other interfaces."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli import main as cli
from core.settings import get_settings


@pytest.fixture
def settings_env(monkeypatch):
    monkeypatch.delenv("TABLECHAT_HOST", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _host(argv: list[str]) -> str:
    get_settings.cache_clear()
    return cli.bind_address(cli.build_parser().parse_args(["run", *argv]))


def test_loopback_by_default(settings_env):
    assert _host([]) == "127.0.0.1"


def test_all_interfaces_only_when_asked(settings_env):
    assert _host(["--host", "0.0.0.0"]) == "0.0.0.0"
    settings_env.setenv("TABLECHAT_HOST", "0.0.0.0")
    assert _host([]) == "0.0.0.0"
    assert _host(["--host", "127.0.0.1"]) == "127.0.0.1"


def test_the_address_reaches_the_server_command(settings_env, monkeypatch, capsys):
    launched: list[list[str]] = []

    class Proc:
        returncode = 0

        def __init__(self, cmd, **_kw):
            launched.append(cmd)

        def poll(self):
            return 0

        def terminate(self):
            pass

        def wait(self, timeout=None):
            return 0

    class Found:
        database_url, redis_url, owner_url = "postgresql://x/y", "redis://x", "postgresql://x/y"

        def stop(self):
            pass

    monkeypatch.setattr(cli, "services", lambda: Found())
    monkeypatch.setattr("db.migrate.upgrade", lambda url, app_url=None: None)
    monkeypatch.setattr(cli, "_default_login", lambda: ("admin", "pw", []))
    monkeypatch.setattr(cli, "_wait_healthy", lambda url, proc: True)
    monkeypatch.setattr(subprocess, "Popen", Proc)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)  # keep pytest's own SIGTERM handling
    for argv, host, warned in (([], "127.0.0.1", False), (["--host", "0.0.0.0"], "0.0.0.0", True)):
        launched.clear()
        assert cli.main(["run", "--port", "8999", *argv]) == 0
        server = next(cmd for cmd in launched if "chainlit" in cmd)
        assert server[server.index("--host") + 1] == host and server[0] == sys.executable
        assert ("reachable from other machines" in capsys.readouterr().out) is warned
