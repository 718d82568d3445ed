"""`tablechat worker`: the Dramatiq worker processes (restarted if they die), plus the outbox relay and
the sweeper in this process (one `tablechat worker` leads at a time; run as many as you like)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from core.settings import ROOT

log = logging.getLogger("tablechat.worker")

RESTART_PAUSE_S = (1.0, 30.0)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `worker` command."""
    from worker.settings import get_worker_settings

    settings = get_worker_settings()
    parser = subparsers.add_parser("worker", help="run the AI-column workers (fills), the outbox relay and the sweeper")
    parser.add_argument("--processes", type=int, default=settings.processes, help="worker processes")
    parser.add_argument("--threads", type=int, default=settings.threads, help="messages in progress per process")
    parser.set_defaults(fn=run)


def dramatiq_command(processes: int, threads: int) -> list[str]:
    from db.ai_cells import QUEUE

    return [sys.executable, "-m", "dramatiq", "worker.actors", "--processes", str(processes),
            "--threads", str(threads), "--queues", QUEUE]


class Supervisor(threading.Thread):
    """Keeps the Dramatiq processes running: started again (after a pause) when they exit."""

    def __init__(self, command: list[str], env: dict[str, str]):
        super().__init__(name="dramatiq-supervisor", daemon=True)
        self.command, self.env = command, env
        self.stopping = threading.Event()
        self.proc: subprocess.Popen | None = None

    def run(self) -> None:
        pause = RESTART_PAUSE_S[0]
        while not self.stopping.is_set():
            started = time.monotonic()
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env)
            code = self.proc.wait()
            if self.stopping.is_set():
                return
            pause = RESTART_PAUSE_S[0] if time.monotonic() - started > 60 else min(RESTART_PAUSE_S[1], pause * 2)
            log.warning("worker processes exited (code %s); starting them again in %.0f s", code, pause)
            self.stopping.wait(pause)

    def stop(self, timeout: float = 20.0) -> None:
        self.stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(args: argparse.Namespace) -> int:
    """Resolve services, start the worker processes, lead the relay and sweeper until stopped."""
    from cli.main import _services

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    found = _services()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("dramatiq_worker_timeout", "100")  # an idle worker looks for new messages every 0.1 s
    supervisor = Supervisor(dramatiq_command(args.processes, args.threads), env)
    supervisor.start()
    print(f"tablechat worker: {args.processes} process(es) × {args.threads} thread(s); Ctrl-C stops", flush=True)

    async def main() -> None:
        from db.engine import dispose_engines
        from worker.service import serve

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve(stop)
        finally:
            await dispose_engines()

    try:
        asyncio.run(main())
    finally:
        supervisor.stop()
        found.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m cli.worker_command worker …`: the same command without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="tablechat")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
