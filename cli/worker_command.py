"""`tablechat worker`: the Dramatiq worker processes (each restarted if it dies), plus the outbox relay
and the sweeper in this process (one `tablechat worker` leads at a time; run as many as you like)."""

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

from cli.common import services
from core.settings import ROOT

log = logging.getLogger("tablechat.worker")

RESTART_PAUSE_S = (1.0, 30.0)
STOP_WAIT_S = 40.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `worker` command."""
    from worker.settings import get_worker_settings

    settings = get_worker_settings()
    parser = subparsers.add_parser("worker", help="run the AI-column workers (fills), the outbox relay and the sweeper")
    parser.add_argument("--processes", type=int, default=settings.processes, help="worker processes")
    parser.add_argument("--threads", type=int, default=settings.threads, help="messages in progress per process")
    parser.set_defaults(fn=run)


class Supervisor(threading.Thread):
    """Keeps one worker process running: started again (after a pause) when it exits."""

    def __init__(self, number: int, threads: int, env: dict[str, str]):
        super().__init__(name=f"worker-{number}", daemon=True)
        self.command = [sys.executable, "-m", "worker.process", "--threads", str(threads)]
        self.env = env
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
            log.warning("worker process %s exited (code %s); starting it again in %.0f s", self.proc.pid, code,
                        pause)
            self.stopping.wait(pause)

    def signal_stop(self) -> None:
        self.stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # it finishes the messages in hand (a Ctrl-C may have told it already)

    def wait_stopped(self, deadline: float) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: argparse.Namespace) -> int:
    """Resolve services, start the worker processes, lead the relay and sweeper until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    found = services()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TABLECHAT_SUPERVISOR_PID=str(os.getpid()))
    supervisors = [Supervisor(n, args.threads, env) for n in range(args.processes)]
    for sup in supervisors:
        sup.start()
    print(f"tablechat worker: {args.processes} process(es) × {args.threads} thread(s); Ctrl-C stops", flush=True)

    async def main() -> None:
        from worker.service import serve

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:
            stop.set()
            for sup in supervisors:  # a Ctrl-C reaches the workers too: their exit is no crash to restart
                sup.stopping.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal closed
            loop.add_signal_handler(sig, stopping)
        await serve(stop)

    try:
        asyncio.run(main())
    finally:
        for sup in supervisors:
            sup.signal_stop()
        deadline = time.monotonic() + STOP_WAIT_S
        for sup in supervisors:
            sup.wait_stopped(deadline)
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
