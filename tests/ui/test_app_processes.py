"""Several app processes in one checkout: each keeps its element files in a folder of its own, so one
stopping leaves the others' files alone; the balancer's configuration is one HAProxy accepts."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from browser import ROOT, AppServer, app_env

from bench.chat_app import chat_round, logins
from core import balancer
from ui.files_dir import remove_left_behind

ASK = "create a table of books"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_left_behind_folders_of_dead_processes_of_this_host_go(tmp_path):
    host = socket.gethostname()
    dead, alive = tmp_path / f"{host}-{_dead_pid()}", tmp_path / f"{host}-1"  # pid 1 always runs
    other_host, not_ours = tmp_path / f"{host}x-{_dead_pid()}", tmp_path / "c0ffee"
    for folder in (dead, alive, other_host, not_ours):
        (folder / "session").mkdir(parents=True)
        (folder / "session" / "element.json").write_text("{}")
    assert remove_left_behind(tmp_path) == [dead]
    assert not dead.exists()
    assert all((f / "session" / "element.json").exists() for f in (alive, other_host, not_ours))


def test_the_shipped_balancer_configuration_is_valid(tmp_path):
    haproxy = balancer.find_haproxy()
    if haproxy is None:
        pytest.skip(balancer.INSTALL_HINT)
    config = balancer.render("127.0.0.1", 18080, balancer.backends([18081, 18082]))
    assert "server app1 127.0.0.1:18081 cookie app1" in config and "server app2 127.0.0.1:18082" in config
    assert "@@" not in config
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    assert balancer.check(haproxy, path) is None
    path.write_text(config.replace("balance leastconn", "balance nonsense"))
    assert balancer.check(haproxy, path)  # a broken one is refused, with HAProxy's words
    with pytest.raises(ValueError):
        balancer.render("127.0.0.1", 18080, [])


def _files(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


async def test_stopping_one_process_leaves_the_other_ones_element_files(services, engine, tmp_path):
    env = app_env(services)  # one login secret for both, as behind a balancer
    first, second = AppServer(dict(env)), AppServer(dict(env))
    first.start()
    try:
        second.start()
        try:
            own = {n: ROOT / ".files" / f"{socket.gethostname()}-{s.proc.pid}"
                   for n, s in (("first", first), ("second", second))}
            assert all(folder.is_dir() for folder in own.values()), own
            cookies = await logins(second.url, engine, 2)
            _, errors = await chat_round(second.url, cookies[:1], ASK, 60)
            assert not errors, errors
            kept = _files(own["second"])
            assert kept, "the chat on the second process wrote no element file"

            first.stop()  # Chainlit's shutdown removes its files folder: only its own
            assert not own["first"].exists()
            assert _files(own["second"]) >= kept
            _, errors = await chat_round(second.url, cookies[1:], ASK, 60)  # it goes on serving chats
            assert not errors, errors
            assert "No such file or directory" not in second.log() and "Traceback" not in second.log(), \
                second.log()[-3000:]
        finally:
            second.stop()
    finally:
        first.stop()
