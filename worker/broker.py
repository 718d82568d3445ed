"""The one place Dramatiq is configured: a Redis broker (REDIS_URL, keys under TABLECHAT_REDIS_PREFIX)
with the AsyncIO middleware for async actors and short retry backoffs. Importing this module sets the
global broker, so import it before any actor is declared."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Middleware

from core.settings import get_settings
from worker.settings import get_worker_settings

MIN_BACKOFF_MS = 500
MAX_BACKOFF_MS = 10_000
# a killed process's unacknowledged messages come back after this long (the sweeper is faster still)
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 100_000


class CloseRuntime(Middleware):
    """Before the event loop of a worker stops, close what its runtime holds (its lease first, so the
    sweeper sees at once that this worker is gone)."""

    def before_worker_shutdown(self, broker, worker):
        from dramatiq.asyncio import get_event_loop_thread

        from worker.runtime import close_runtime

        thread = get_event_loop_thread()
        if thread is not None:
            try:
                thread.run_coroutine(close_runtime())
            except Exception:  # shutting down anyway
                broker.logger.exception("closing the worker runtime failed")


def make_broker(url: str | None = None, namespace: str | None = None) -> RedisBroker:
    """A Redis broker for `url` (default REDIS_URL) under `namespace` (default the Redis prefix)."""
    url = url or get_settings().redis_url or "redis://127.0.0.1:6379/0"
    broker = RedisBroker(url=url, namespace=f"{namespace or get_worker_settings().redis_prefix}:dramatiq",
                         heartbeat_timeout=HEARTBEAT_TIMEOUT_MS, maintenance_chance=MAINTENANCE_CHANCE)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CloseRuntime())
    return broker


broker = make_broker()
dramatiq.set_broker(broker)
