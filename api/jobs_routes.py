"""AI fills: start one for a column, read its progress, cancel it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

import jobs
from api.auth import CallerDep
from api.common import ColumnKey, TableId, errors
from db import tables
from jobs import JobPublic

router = APIRouter(tags=["jobs"])

FILL_HEADER = "X-Fill-Job"
JobId = Annotated[str, Path(description="The job's id", json_schema_extra={"format": "uuid"})]


class FillRequest(BaseModel):
    """Which cells to fill: every cell not edited by hand (`all`), those without a value (`empty`), those
    that failed (`failed`), those whose inputs changed (`stale`), or these rows (hand-edited ones too)."""

    model_config = ConfigDict(extra="forbid")
    scope: Literal["all", "empty", "failed", "stale"] | list[Annotated[int, Field(ge=1)]] = Field(
        default="all", examples=["all", [1, 2, 3]])
    mode: Literal["now", "batch"] = Field(default="now", description=(
        "now: realtime calls; batch: through the Message Batches API at half the price, usually within an "
        "hour (at most 24 h)"))


class FillStarted(BaseModel):
    job_id: uuid.UUID
    status: str
    total: int


async def read_jobs(conn: AsyncConnection, job_ids: Sequence[str]) -> list[JobPublic]:
    """The fills a call queued, as they stand in its transaction."""
    return [await jobs.get_job(conn, j) for j in job_ids]


async def tell_jobs(response: Response, started: Sequence[JobPublic]) -> None:
    """After commit: name the fills a call started in the `X-Fill-Job` header (comma-separated when
    there are several) and put them on their progress streams."""
    if started:
        response.headers[FILL_HEADER] = ", ".join(str(j.id) for j in started)
    for job in started:
        await jobs.tell(job)


@router.post("/tables/{table_id}/columns/{column_id}/fill", status_code=202, response_model=FillStarted,
             responses=errors(422))
async def start_fill(caller: CallerDep, table_id: TableId, column_id: ColumnKey,
                     body: FillRequest | None = None) -> FillStarted:
    """Fill an AI column's cells in the background; `column_id` may be a name. Follow the job with
    `GET /jobs/{job_id}`."""
    body = body or FillRequest()
    async with caller.tx() as conn:
        job = await jobs.start_fill(conn, table_id, column_id, body.scope, mode=body.mode)
    await jobs.tell(job)
    return FillStarted(job_id=job.id, status=job.status, total=job.total)


class AiColumnStatus(BaseModel):
    """One AI column's cells across the whole table, by status, and its fills still under way."""

    column_id: uuid.UUID
    name: str
    idle: int
    pending: int
    computing: int
    completed: int
    error: int = Field(description="Cells whose fill failed: `POST .../fill {scope: \"failed\"}` retries them")
    stale: int
    jobs: list[uuid.UUID] = Field(description="Fills of this column still queued or running")


class AiStatus(BaseModel):
    cursor: int = Field(description="The table's change number when the counts were taken")
    columns: list[AiColumnStatus]


@router.get("/tables/{table_id}/ai-status", response_model=AiStatus)
async def ai_status(caller: CallerDep, table_id: TableId) -> AiStatus:
    """How many cells of each AI column are idle, queued (`pending`), computing, completed, failed
    (`error`) or stale, over every row of the table (one pass over it: ask when `/updates` reports
    changes rather than on a timer)."""
    async with caller.tx() as conn:
        table = await tables.get_table(conn, table_id)
        cursor = await tables.current_seq(conn, table.id)  # before the counts: a later change is replayed
        counts = await jobs.status_counts(conn, table)
    return AiStatus(cursor=cursor, columns=[AiColumnStatus(column_id=c.id, name=c.name, **counts[str(c.id)])
                                            for c in table.columns if c.ai is not None])


@router.get("/jobs/{job_id}", response_model=JobPublic)
async def get_job(caller: CallerDep, job_id: JobId) -> JobPublic:
    """A fill's progress: `status`, cells `queued` / `done` / `failed`, `cost_usd` so far."""
    async with caller.tx() as conn:
        return await jobs.get_job(conn, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
async def cancel_job(caller: CallerDep, job_id: JobId) -> JobPublic:
    """Stop a fill: its cells not yet computed go back to what they were. A finished job is returned
    as it is."""
    async with caller.tx() as conn:
        job = await jobs.cancel(conn, job_id)
    await jobs.tell(job)
    return job
