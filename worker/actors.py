"""The actors. They take ids only and are safe to run twice: cells (and the rows of a preview) are
claimed with a conditional UPDATE, so a repeated or duplicated message finds nothing left to do."""

from __future__ import annotations

import logging

import dramatiq

from jobs.names import BULK_FILL_ACTOR, BULK_QUEUE, FILL_ACTOR, POLL_ACTOR, PREVIEW_ACTOR, QUEUE, SUBMIT_ACTOR
from worker import batch, preview
from worker.broker import MAX_BACKOFF_MS, MIN_BACKOFF_MS, broker
from worker.fill import run_message
from worker.runtime import runtime

__all__ = ["broker", "fill_rows", "fill_rows_bulk", "poll_batch", "preview_rows", "submit_batch"]

# a worker thread takes the interactive messages it has fetched before the bulk ones (lower goes first)
BULK_PRIORITY = 10

# a log line per HTTP request to the model costs more than the rest of a call's bookkeeping
logging.getLogger("httpx2").setLevel(logging.WARNING)


@dramatiq.actor(queue_name=QUEUE, actor_name=FILL_ACTOR, max_retries=2, min_backoff=MIN_BACKOFF_MS,
                max_backoff=MAX_BACKOFF_MS, time_limit=15 * 60 * 1000)
async def fill_rows(job_id: str, rows: list[int]) -> None:
    """Fill the queued AI cells of `rows` for job `job_id` (interactive work: its calls go first)."""
    await run_message(await runtime(), job_id, rows, urgent=True)


@dramatiq.actor(queue_name=BULK_QUEUE, actor_name=BULK_FILL_ACTOR, max_retries=2, min_backoff=MIN_BACKOFF_MS,
                max_backoff=MAX_BACKOFF_MS, time_limit=15 * 60 * 1000, priority=BULK_PRIORITY)
async def fill_rows_bulk(job_id: str, rows: list[int]) -> None:
    """The same for a big fill: its calls wait while interactive ones want the slots."""
    await run_message(await runtime(), job_id, rows, urgent=False)


@dramatiq.actor(queue_name=QUEUE, actor_name=PREVIEW_ACTOR, max_retries=2, min_backoff=MIN_BACKOFF_MS,
                max_backoff=MAX_BACKOFF_MS, time_limit=15 * 60 * 1000)
async def preview_rows(job_id: str, rows: list[int]) -> None:
    """Compute the pending rows `rows` of preview job `job_id`, without writing any cell."""
    await preview.run_message(await runtime(), job_id, rows)


@dramatiq.actor(queue_name=BULK_QUEUE, actor_name=SUBMIT_ACTOR, max_retries=2, min_backoff=MIN_BACKOFF_MS,
                max_backoff=MAX_BACKOFF_MS, time_limit=15 * 60 * 1000, priority=BULK_PRIORITY)
async def submit_batch(job_id: str, rows: list[int]) -> None:
    """Submit the queued cells of `rows` of batch fill `job_id` as one Message Batch."""
    await batch.submit(await runtime(), job_id, rows)


@dramatiq.actor(queue_name=QUEUE, actor_name=POLL_ACTOR, max_retries=2, min_backoff=MIN_BACKOFF_MS,
                max_backoff=MAX_BACKOFF_MS, time_limit=15 * 60 * 1000)
async def poll_batch(job_id: str, rows: list[int], batch_id: str) -> None:
    """Has Message Batch `batch_id` of job `job_id` ended? Then write its results."""
    await batch.poll(await runtime(), job_id, batch_id)
