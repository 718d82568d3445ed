"""A job as the API, the tools and the chat see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from db.ai_cells import ACTIVE
from db.previews import Result as PreviewResult
from jobs import progress

__all__ = ["ACTIVE", "CostEstimate", "JobPublic", "PreviewResult", "Scope", "public"]

Scope = Literal["all", "empty", "failed", "stale"] | list[int]


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
