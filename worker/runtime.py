"""What a worker process needs, made once per event loop (engines and clients cannot cross loops):
the database engine, Redis, the limiter (concurrency and cost caps), the model, the writer, the
progress stream and this process's lease. `configure` injects the model and settings (tests,
benchmarks) before any job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings, get_settings
from db.engine import make_engine
from jobs.progress import Progress
from worker.lease import WorkerLease
from worker.limiter import Limiter
from worker.llm import AnthropicCellModel, CellModel, OfflineCellModel
from worker.settings import WorkerSettings, get_worker_settings
from worker.writer import Writer

CONTEXT_TTL_S = 2.0
# What workers write can be computed again: should the database crash before a commit reaches disk,
# the cells are still claimed by workers whose leases died with it, and the sweeper requeues them.
NO_WAIT_FOR_DISK = {"server_settings": {"synchronous_commit": "off"}}


@dataclass
class Runtime:
    app: Settings
    settings: WorkerSettings
    engine: AsyncEngine
    redis: Redis
    model: CellModel
    limiter: Limiter
    progress: Progress
    lease: WorkerLease
    writer: Writer = field(init=False)
    contexts: dict[str, tuple[float, Any]] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)  # job id → status, for jobs seen ending
    spend: dict[str, tuple[float, int]] = field(default_factory=dict)  # job id → (cost, rows) of its calls here

    def __post_init__(self) -> None:
        self.writer = Writer(self.engine, self.on_jobs)

    async def on_jobs(self, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            if job["status"] not in ("queued", "running"):
                self.finished[str(job["id"])] = job["status"]
            await self.progress.publish(job)

    def cached(self, job_id: str) -> Any:
        hit = self.contexts.get(job_id)
        return hit[1] if hit and time.monotonic() - hit[0] < CONTEXT_TTL_S else None

    def remember(self, job_id: str, ctx: Any) -> None:
        if len(self.contexts) > 1000:
            self.contexts.clear()
        self.contexts[job_id] = (time.monotonic(), ctx)

    async def close(self) -> None:
        await self.model.close()
        await self.lease.release()
        await self.redis.aclose()
        await self.engine.dispose()


def make_model(app: Settings, settings: WorkerSettings) -> CellModel:
    """Claude when configured, else the offline model."""
    if app.llm_kind == "offline":
        return OfflineCellModel()
    return AnthropicCellModel(api_key=app.anthropic_api_key, base_url=app.anthropic_base_url,
                              timeout=settings.llm_timeout_s)


_overrides: dict[str, Any] = {}
_runtimes: dict[int, Runtime] = {}
_locks: dict[int, asyncio.Lock] = {}


def configure(*, model_factory: Callable[[], CellModel] | None = None, app: Settings | None = None,
              settings: WorkerSettings | None = None) -> None:
    """Make every runtime from now on with this model factory and these settings (None: the configured
    ones). The factory runs inside the runtime's event loop, where the model's client will live."""
    _overrides.clear()
    _overrides.update({k: v for k, v in (("model_factory", model_factory), ("app", app), ("settings", settings))
                       if v is not None})
    _runtimes.clear()


async def runtime() -> Runtime:
    """The runtime of the running event loop."""
    loop_id = id(asyncio.get_running_loop())
    found = _runtimes.get(loop_id)
    if found is not None:
        return found
    lock = _locks.setdefault(loop_id, asyncio.Lock())
    async with lock:
        if loop_id not in _runtimes:
            app = _overrides.get("app") or get_settings()
            settings = _overrides.get("settings") or get_worker_settings()
            factory = _overrides.get("model_factory") or (lambda: make_model(app, settings))
            redis = Redis.from_url(app.redis_url or "redis://127.0.0.1:6379/0", socket_connect_timeout=2,
                                   socket_timeout=10, health_check_interval=5)
            prefix = settings.redis_prefix
            lease = WorkerLease(app.database_url or "")
            _runtimes[loop_id] = Runtime(
                app=app, settings=settings, engine=make_engine(app.database_url or "", connect_args=NO_WAIT_FOR_DISK), redis=redis,
                model=factory(),
                limiter=Limiter(redis, prefix, app.max_concurrency, owner=lease.key,
                                slot_ttl_s=settings.llm_timeout_s + 60,
                                stale_reservations_s=3 * settings.llm_timeout_s + 10),
                progress=Progress(redis, prefix, settings.progress_interval_s),
                lease=lease,
            )
    return _runtimes[loop_id]


async def close_runtime() -> None:
    """Close the runtime of the running event loop (at worker shutdown)."""
    found = _runtimes.pop(id(asyncio.get_running_loop()), None)
    if found is not None:
        await found.close()
