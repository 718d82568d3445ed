"""The Dramatiq worker of a process: it consumes the interactive queue and the bulk queue with one pool
of threads, and keeps some threads for interactive work by letting the bulk queue's consumer hold (fetch
or run) at most `threads - reserved` messages at a time. Without that, a big fill's messages would take
every thread and a small fill would wait for one of them to end."""

from __future__ import annotations

import dramatiq
from dramatiq.broker import Broker

from jobs.names import BULK_QUEUE, QUEUE


def reserved_threads(threads: int) -> int:
    """Threads of a process kept for interactive work: a quarter, at least one (none with one thread)."""
    return 0 if threads <= 1 else max(1, threads // 4)


class FairWorker(dramatiq.Worker):
    """A `dramatiq.Worker` on both fill queues whose bulk consumer prefetches fewer messages than there
    are threads. (Dramatiq sets one prefetch for every queue; `_add_consumer` is where it is applied.)"""

    def __init__(self, broker: Broker, *, worker_threads: int = 8, worker_timeout: int = 100):
        super().__init__(broker, queues={QUEUE, BULK_QUEUE}, worker_threads=worker_threads,
                         worker_timeout=worker_timeout)
        self.bulk_prefetch = max(1, worker_threads - reserved_threads(worker_threads))

    def _add_consumer(self, queue_name: str, *, delay: bool = False) -> None:
        if delay or queue_name != BULK_QUEUE:
            super()._add_consumer(queue_name, delay=delay)
            return
        saved, self.queue_prefetch = self.queue_prefetch, self.bulk_prefetch
        try:
            super()._add_consumer(queue_name, delay=delay)
        finally:
            self.queue_prefetch = saved
