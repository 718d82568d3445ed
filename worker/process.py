"""One worker process: a Dramatiq worker on the fill queues (worker/consumers.py), with its threads and one event loop for the
async actors. SIGTERM or SIGINT (any number of times) stops it gracefully, and so does the death of
the `tablechat worker` that started it."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

STOP_TIMEOUT_MS = 30_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.process")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s [worker {os.getpid()}] "
                                                   "%(name)s: %(message)s")
    from worker.actors import broker
    from worker.consumers import FairWorker

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = int(os.environ.get("TABLECHAT_SUPERVISOR_PID") or os.getppid())
    # an idle worker looks for new messages every 0.1 s (Dramatiq's default is up to 1 s)
    worker = FairWorker(broker, worker_threads=args.threads, worker_timeout=100)
    worker.start()
    logging.getLogger("tablechat.worker").info("ready: %d threads", args.threads)
    while not stop.wait(1.0):
        if os.getppid() != parent:  # the supervisor is gone: nobody would stop or restart us
            break
    worker.stop(timeout=STOP_TIMEOUT_MS)
    broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
