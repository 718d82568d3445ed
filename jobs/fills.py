"""Fills and previews for the API, the agent tools and the chat: start one (a fill writes cells, a
preview computes values without writing them), read it and its progress, cancel it. Light on imports
(no broker, no SDK): starting a job only writes rows in the caller's transaction; the relay sends its
messages after commit, and `announce` tells the job's listeners."""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import get_settings
from db import ai_cells, previews, workspaces
from db.schemas import ColumnPublic, TablePublic
from db.tables import get_table
from jobs import progress
from jobs.public import FillMode, JobPublic, PreviewResult, Scope, public
from worker.settings import get_worker_settings

log = logging.getLogger(__name__)


def ai_column(table: TablePublic, column_id: Any) -> ColumnPublic:
    """The AI column `column_id` (an id or a name) of `table`; NotFound / Invalid otherwise."""
    return ai_cells.ai_column(table, column_id)


async def start_fill(conn: AsyncConnection, table: Any, column_id: Any, scope: Scope = "all", *,
                     thread_id: str | None = None, reason: str = "fill", mode: FillMode = "now") -> JobPublic:
    """Queue an AI column's cells in `scope` (pinned cells only when the scope names their rows).
    `table` is the table or its id. Only an owner or editor of its workspace may. `mode` "batch": through the
    Message Batches API, at half the price, usually within an hour (at most 24 h)."""
    await workspaces.require_table_writer(conn, table.id if isinstance(table, TablePublic) else table)
    stored = ai_cells.batches.MODE if mode == "batch" else "write"
    return public(await ai_cells.start_fill(conn, table, column_id, scope, thread_id=thread_id, reason=reason,
                                            mode=stored))


async def start_preview(conn: AsyncConnection, table: TablePublic, column: ColumnPublic, record_ids: list[int], *,
                        scope: Any = "all", thread_id: str | None = None) -> JobPublic:
    """Have the workers compute `column` (an AI column, or the definition of one) for `record_ids`
    without writing any cell: the values become the job's results (`preview_results`). Only an owner or
    editor of its workspace may."""
    await workspaces.require_writer(conn, table.workspace_id)
    return public(await previews.start_preview(conn, table, column, record_ids, scope=scope, thread_id=thread_id))


async def get_job(conn: AsyncConnection, job_id: Any) -> JobPublic:
    return public(await ai_cells.get_job(conn, job_id))


async def cancel(conn: AsyncConnection, job_id: Any) -> JobPublic:
    """Cancel a running job (a finished one is returned as it is)."""
    job = await ai_cells.get_job(conn, job_id)
    await workspaces.require_writer(conn, job["workspace_id"])
    store = previews if job["mode"] == previews.MODE else ai_cells
    ended = public(await store.cancel_job(conn, job_id))
    if job["mode"] == ai_cells.batches.MODE:  # a worker cancels its Message Batches at once
        await ai_cells.batches.send_polls(conn, str(job["id"]), list(await ai_cells.batches.open_batches(conn, str(job["id"]))))
    return ended


async def running_jobs(conn: AsyncConnection, thread_id: str) -> list[str]:
    """The jobs a conversation started that are still queued or running, oldest first."""
    return await ai_cells.running_in_thread(conn, thread_id)


async def column_name(conn: AsyncConnection, job: JobPublic) -> str:
    """The name of the column a job computes: a preview's is in the job, as its column may not exist yet."""
    if job.mode == previews.MODE:
        return (await previews.get_preview(conn, job.id))[1].name
    table = await get_table(conn, job.table_id)
    return next((c.name for c in table.columns if c.id == job.column_id), "AI column")


async def failed_cells(conn: AsyncConnection, job: JobPublic, limit: int) -> tuple[list[tuple[int, str | None]], int]:
    """The first `limit` failed cells of a fill's column (row id, why) and how many failed in all."""
    return await ai_cells.failed_cells(conn, job.table_id, job.column_id, limit)


async def sample_rows(conn: AsyncConnection, table: TablePublic, column: ColumnPublic, scope: Any, n: int
                      ) -> tuple[list[int], int]:
    """Up to `n` rows a fill of `scope` would cover (for a preview of them), and how many it covers."""
    return await ai_cells.rows_in_scope(conn, table.id, column.id, scope, n)


async def preview_results(conn: AsyncConnection, job_id: Any) -> list[PreviewResult]:
    """The rows of a preview, as the workers left them."""
    return await previews.results(conn, job_id)


async def models_used(conn: AsyncConnection, job_id: Any) -> list[str]:
    """The models a job's calls went to."""
    return await previews.models_used(conn, job_id)


async def status_counts(conn: AsyncConnection, table: TablePublic) -> dict[str, dict[str, Any]]:
    """Per AI column: its cells by status over the whole table, and its fills under way."""
    return await ai_cells.status_counts(conn, table)


async def announce(job: JobPublic | dict[str, Any], redis: Redis | None = None) -> None:
    """Put a job's current state on its progress stream (after a commit that changed it)."""
    own = redis is None
    redis = redis or Redis.from_url(get_settings().redis_url or "redis://127.0.0.1:6379/0",
                                    socket_connect_timeout=2, socket_timeout=5)
    data = job.model_dump() if isinstance(job, JobPublic) else dict(job)
    try:
        await progress.Progress(redis, get_worker_settings().redis_prefix, 0).publish(data)
    finally:
        if own:
            await redis.aclose()


async def tell(job: JobPublic) -> None:
    """`announce`, for callers whose job is committed whatever happens to its stream: a failure is
    logged, not raised (the stream only wakes listeners sooner; the database has the job)."""
    try:
        await announce(job)
    except Exception:
        log.warning("progress of job %s not announced", job.id, exc_info=True)


def stream_key(job_id: Any) -> str:
    """The Redis stream that carries a job's progress events."""
    return progress.stream_key(get_worker_settings().redis_prefix, str(job_id))
