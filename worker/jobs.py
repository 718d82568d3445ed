"""Fill jobs for the API, the agent tools and the chat: start one (a fill, or a preview that computes
values without writing them), read its progress, cancel it, estimate its cost. Light on imports (no
broker, no SDK): starting a job only writes rows; the relay sends them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import get_settings
from db import ai_cells, previews
from db.schemas import ColumnPublic, TablePublic
from db.tables import get_table
from worker import progress, prompt
from worker.llm import price
from worker.settings import get_worker_settings

Scope = Literal["all", "empty", "failed", "stale"] | list[int]
EST_OUTPUT_TOKENS_PER_CELL = {"long_text": 300, "text": 40, "json": 80, "multi_select": 12}
EST_INPUT_TOKENS_PER_VALUE = 30


class JobPublic(BaseModel):
    """A fill job (`mode` write) or a preview (`mode` preview: values kept as the job's results, no cell
    written): `queued` cells are still to do; `cost_usd` is what it spent so far."""

    id: uuid.UUID
    table_id: uuid.UUID
    column_id: uuid.UUID
    mode: Literal["write", "preview"] = "write"
    status: Literal["queued", "running", "completed", "cancelled", "stopped"]
    reason: str
    scope: Any
    total: int
    queued: int
    done: int
    failed: int
    cost_usd: float
    error: str | None = None
    eta_s: float | None = None
    created_at: datetime
    finished_at: datetime | None = None


class CostEstimate(BaseModel):
    cells: int
    model: str
    usd: float


def public(job: dict[str, Any]) -> JobPublic:
    s = progress.summary(job)
    return JobPublic(**{**job, **{k: s[k] for k in ("queued", "eta_s", "cost_usd")}})


async def start_fill(conn: AsyncConnection, table_id: Any, column_id: Any, scope: Scope = "all", *,
                     thread_id: str | None = None, reason: str = "fill") -> JobPublic:
    """Queue an AI column's cells in `scope` (pinned cells only when the scope names their rows)."""
    return public(await ai_cells.start_fill(conn, table_id, column_id, scope, thread_id=thread_id, reason=reason))


async def start_preview(conn: AsyncConnection, table: TablePublic, column: ColumnPublic, record_ids: list[int], *,
                        scope: Any = "all", thread_id: str | None = None) -> JobPublic:
    """Have the workers compute `column` (an AI column, or the definition of one) for `record_ids`
    without writing any cell: the values become the job's results (`previews.results`)."""
    return public(await previews.start_preview(conn, table, column, record_ids, scope=scope, thread_id=thread_id))


async def get_job(conn: AsyncConnection, job_id: Any) -> JobPublic:
    return public(await ai_cells.get_job(conn, job_id))


async def cancel(conn: AsyncConnection, job_id: Any) -> JobPublic:
    """Cancel a running job (a finished one is returned as it is)."""
    job = await ai_cells.get_job(conn, job_id)
    store = previews if job["mode"] == previews.MODE else ai_cells
    return public(await store.cancel_job(conn, job_id))


async def estimate_cost(conn: AsyncConnection, table_id: Any, column_id: Any, scope: Scope = "all") -> CostEstimate:
    """What a fill of `scope` would roughly cost, before it runs (shown for fills of more than 50 cells)."""
    table = await get_table(conn, table_id)
    col = ai_cells.ai_column(table, column_id)
    cond, params, explicit = ai_cells.scope_sql(scope)
    pinned = "" if explicit else " AND NOT coalesce((r.meta -> :c ->> 'p')::boolean, false)"
    cells = (await conn.execute(text(f"SELECT count(*) FROM records r WHERE r.table_id = :t AND ({cond}){pinned}"),
                                {"t": table.id, "c": str(col.id), **params})).scalar_one()
    deps = ai_cells.dependencies(table, col)
    pre = prompt.prefix(col, deps)
    model = (col.ai or {}).get("model") or get_settings().cell_model
    rows_per_call = get_settings().rows_per_call
    inp, out = price(model)
    calls = -(-cells // rows_per_call)
    input_tokens = calls * len(pre.system) / 4 + cells * (len(deps) * EST_INPUT_TOKENS_PER_VALUE + 10)
    output_tokens = cells * EST_OUTPUT_TOKENS_PER_CELL.get(col.type, 8)
    return CostEstimate(cells=cells, model=model, usd=round((input_tokens * inp + output_tokens * out) / 1e6, 4))


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


def stream_key(job_id: Any) -> str:
    """The Redis stream that carries a job's progress events."""
    return progress.stream_key(get_worker_settings().redis_prefix, str(job_id))
