"""The embedded PostgreSQL and Redis (core/embedded.py): shared by every process that uses them, stopped by
the last one, never by a client object going away; adopted when their users died without stopping them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
import redis

from core.embedded import Lease, Postgres, Redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    # short: a Unix socket path has a length limit that pytest's tmp_path can exceed; one initdb for all
    path = Path(f"/tmp/tce{os.getpid()}")
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def folder(cluster):
    yield cluster
    for server in (Postgres(cluster / "pg"), Redis(cluster / "redis")):
        if server.running():
            server.halt()


def _pg_answers(url: str) -> bool:
    try:
        with psycopg.connect(url.replace("+asyncpg", ""), connect_timeout=3) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def _redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=3) as client:
            return client.ping()
    except redis.RedisError:
        return False


def test_the_last_of_two_users_stops_each_server(folder):
    first = [Lease(Postgres(folder / "pg")), Lease(Redis(folder / "redis"))]
    pg_url, redis_url = first[0].url, first[1].url
    assert _pg_answers(pg_url) and _redis_answers(redis_url)
    pid = (first[0].server.pid(), first[1].server.pid())
    # their own session: a Ctrl-C in the terminal reaches the app, not the servers it still needs
    assert all(os.getsid(p) != os.getsid(0) for p in pid)

    second = [Lease(Postgres(folder / "pg")), Lease(Redis(folder / "redis"))]
    assert (second[0].server.pid(), second[1].server.pid()) == pid  # shared, not started twice
    for lease in first:
        lease.release()
    assert _pg_answers(pg_url) and _redis_answers(redis_url)
    for lease in second:
        lease.release()
    assert not _pg_answers(pg_url) and not _redis_answers(redis_url)
    assert not Postgres(folder / "pg").running() and not Redis(folder / "redis").running()


def test_a_redis_client_going_away_does_not_stop_the_server(folder):
    import gc

    lease = Lease(Redis(folder / "redis"))
    for _ in range(3):
        client = redis.Redis.from_url(lease.url)
        client.set("k", "v")
        del client
        gc.collect()
    assert _redis_answers(lease.url)
    lease.release()


USER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from core.embedded import Lease, Postgres, Redis
    leases = [Lease(Postgres(Path(sys.argv[1]) / "pg")), Lease(Redis(Path(sys.argv[1]) / "redis"))]
    print("up", flush=True)
    time.sleep(600)
""")


def test_servers_of_a_killed_user_are_adopted_and_stopped_by_the_next(folder):
    proc = subprocess.Popen([sys.executable, "-c", USER, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert proc.stdout.readline().strip() == "up"
        pid = Postgres(folder / "pg").pid(), Redis(folder / "redis").pid()
        # while that process lives, it is a user: letting go here leaves the servers running
        mine = [Lease(Postgres(folder / "pg")), Lease(Redis(folder / "redis"))]
        for lease in mine:
            lease.release()
        assert Postgres(folder / "pg").running() and Redis(folder / "redis").running()
    finally:
        proc.kill()  # no clean-up of its own: the kernel drops its lock
        proc.wait()
    assert Postgres(folder / "pg").running() and Redis(folder / "redis").running()
    adopted = [Lease(Postgres(folder / "pg")), Lease(Redis(folder / "redis"))]
    assert (adopted[0].server.pid(), adopted[1].server.pid()) == pid
    for lease in adopted:
        lease.release()
    assert not Postgres(folder / "pg").running() and not Redis(folder / "redis").running()


def test_embedded_forced_on_is_used_even_when_local_servers_answer(folder, monkeypatch):
    from core import services
    from core.settings import get_settings

    monkeypatch.setattr(services, "port_open", lambda *_: True)  # as if local servers answered
    for key in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TABLECHAT_EMBEDDED", "1")
    monkeypatch.setenv("TABLECHAT_DATA_DIR", str(folder))
    get_settings.cache_clear()
    try:
        found = services.resolve(db_name="tablechat_embedded_check")
        try:
            assert found.embedded
            assert found.owner_url.startswith("postgresql+asyncpg://postgres@/tablechat_embedded_check?host=")
            assert found.database_url.startswith("postgresql+asyncpg://tablechat_login@/tablechat_embedded_check?host=")
            assert _pg_answers(found.owner_url) and _redis_answers(found.redis_url)
        finally:
            found.stop()
        assert not _pg_answers(found.owner_url) and not _redis_answers(found.redis_url)

        monkeypatch.setenv("TABLECHAT_EMBEDDED", "0")
        monkeypatch.setattr(services, "port_open", lambda *_: False)
        get_settings.cache_clear()
        with pytest.raises(RuntimeError, match="no PostgreSQL"):
            services.resolve()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def _tablechat(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(TABLECHAT_EMBEDDED="1", TABLECHAT_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_command_run_beside_the_app_leaves_its_servers_running(folder):
    # what `make run` holds while someone runs `tablechat user add` in another terminal
    held = [Lease(Postgres(folder / "pg")), Lease(Redis(folder / "redis"))]
    try:
        done = _tablechat("user", "add", "neighbour", "--password", "pw123456", data_dir=folder)
        assert done.returncode == 0, done.stderr
        assert _pg_answers(held[0].url) and _redis_answers(held[1].url)
    finally:
        for lease in held:
            lease.release()
    # alone, the command starts the servers it needs and stops them when it is done
    done = _tablechat("user", "add", "alone", "--password", "pw123456", data_dir=folder)
    assert done.returncode == 0, done.stderr
    assert not Postgres(folder / "pg").running() and not Redis(folder / "redis").running()
