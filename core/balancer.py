"""HAProxy in front of several app processes: what `tablechat run --processes N`, the multi-process
browser test and the chat200 bench start. Its configuration is deploy/haproxy.cfg with its address and
one `server` line per app process filled in; the copy that runs is written where the caller says."""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.settings import ROOT, get_settings

TEMPLATE = ROOT / "deploy" / "haproxy.cfg"
HAPROXY_PATHS = ("haproxy", "/usr/sbin/haproxy")
INSTALL_HINT = "HAProxy is not installed: `make balancer` installs Debian's package (apt-get install haproxy)"


def find_haproxy() -> str | None:
    for name in HAPROXY_PATHS:
        if found := shutil.which(name):
            return found
    return None


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports nothing listens on now (held open together so they differ)."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


@dataclass(frozen=True)
class Backend:
    name: str
    host: str
    port: int

    @property
    def line(self) -> str:
        return f"    server {self.name} {self.host}:{self.port} cookie {self.name}"


def backends(ports: list[int], host: str = "127.0.0.1") -> list[Backend]:
    return [Backend(f"app{i + 1}", host, port) for i, port in enumerate(ports)]


def render(bind_host: str, port: int, servers: list[Backend], template: Path = TEMPLATE) -> str:
    """deploy/haproxy.cfg for this machine: listening on `bind_host:port`, balancing over `servers`."""
    if not servers:
        raise ValueError("the balancer needs at least one app process")
    text = template.read_text()
    if "@@BIND@@" not in text or "@@SERVERS@@" not in text:
        raise ValueError(f"{template} lacks its @@BIND@@ / @@SERVERS@@ lines")
    bind = f"[{bind_host}]:{port}" if ":" in bind_host else f"{bind_host}:{port}"
    return text.replace("@@BIND@@", bind).replace("@@SERVERS@@", "\n".join(s.line for s in servers))


def check(haproxy: str, path: Path) -> str | None:
    """What HAProxy says is wrong with the configuration at `path`, or None when it is valid."""
    done = subprocess.run([haproxy, "-c", "-f", str(path)], check=False, capture_output=True, text=True, timeout=30)
    if done.returncode == 0:
        return None
    return (done.stderr + done.stdout).strip() or f"haproxy -c exited with {done.returncode}"


def start(haproxy: str, config: str, path: Path, **popen: object) -> subprocess.Popen:
    """Write `config` to `path`, check it, and run HAProxy on it in the foreground (master-worker)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config)
    if problem := check(haproxy, path):
        raise RuntimeError(f"HAProxy refuses {path}: {problem}")
    return subprocess.Popen([haproxy, "-W", "-db", "-f", str(path)], **popen)  # type: ignore[call-overload]


def shared_pools(processes: int, env: dict[str, str]) -> dict[str, str]:
    """The PostgreSQL pool sizes of each of `processes` app processes, unless `env` sets them: one
    process's default connections shared out, so N processes use what one did (max_connections)."""
    settings = get_settings()
    sizes = {"TABLECHAT_DB_POOL_SIZE": settings.db_pool_size, "TABLECHAT_HISTORY_POOL_SIZE": settings.history_pool_size}
    return {key: str(max(4, -(-size // processes))) for key, size in sizes.items() if not env.get(key)}
