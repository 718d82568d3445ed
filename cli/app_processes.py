"""The app processes `tablechat run` starts: one on the given address, or N on ports of their own on this
machine behind HAProxy on that address (cli/balancer.py, deploy/haproxy.cfg)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core import balancer
from core.settings import ROOT, get_settings


@dataclass
class AppProcess:
    """`chainlit run app.py` on host:port, started again the same way when it stops."""

    host: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen = field(init=False)
    started_at: float = field(init=False, default=0.0)

    def start(self) -> subprocess.Popen:
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "chainlit", "run", "app.py", "--headless", "--host",
                                      self.host, "--port", str(self.port)], cwd=ROOT, env=self.env)
        return self.proc


def start_apps(processes: int, host: str, port: int, env: dict[str, str], children: list[subprocess.Popen],
               healthy: Callable[[AppProcess], bool]) -> list[AppProcess] | None:
    """The app processes (and the balancer when more than one, once `healthy` says they answer), added to
    `children`; None (said why) when they cannot run."""
    if processes <= 1:
        app = AppProcess(host, port, env)
        children.append(app.start())
        return [app]
    haproxy = balancer.find_haproxy()
    if haproxy is None:
        print(f"error: {balancer.INSTALL_HINT}", file=sys.stderr)
        return None
    ports = balancer.free_ports(processes)
    # every browser reaches the app processes through the balancer: its X-Forwarded-For names the browser
    app_env = dict(env)
    if not app_env.get("TABLECHAT_TRUSTED_PROXIES"):
        app_env["TABLECHAT_TRUSTED_PROXIES"] = "127.0.0.1"
    app_env.update(balancer.shared_pools(processes, app_env))
    apps = [AppProcess("127.0.0.1", p, app_env) for p in ports]
    for app in apps:
        children.append(app.start())
    if not all(healthy(app) for app in apps):
        print("error: the app did not start (see its output above)", file=sys.stderr)
        return None
    config = balancer.render(host, port, balancer.backends(ports))
    try:
        children.append(balancer.start(haproxy, config, get_settings().data_dir / f"haproxy-{port}.cfg", cwd=ROOT))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return apps


STEADY_S = 15.0  # an app process that stops sooner after its start is not started again (everything stops)


def restart_stopped(apps: list[AppProcess], children: list[subprocess.Popen]) -> None:
    """Behind the balancer, an app process that stopped is started again on its port; meanwhile the
    balancer sends its browsers to the others, which resume their chats (ui/session.py)."""
    for app in apps:
        if app.proc.poll() is None:
            continue
        if time.monotonic() - app.started_at < STEADY_S:  # it does not stay up: starting it again won't help
            continue
        print(f"  app process on port {app.port} stopped ({app.proc.returncode}); starting it again", flush=True)
        children.remove(app.proc)
        children.append(app.start())
