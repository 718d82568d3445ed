"""A job as the API, the tools and the chat see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from db.ai_cells import ACTIVE
from db.previews import Result as PreviewResult
from jobs import progress

__all__ = ["ACTIVE", "CostEstimate", "FillMode", "JobPublic", "PreviewResult", "Scope", "public"]

Scope = Literal["all", "empty", "failed", "stale"] | list[int]
FillMode = Literal["now", "batch"]  # realtime calls, or the Message Batches API at half the price


class JobPublic(BaseModel):
    """A fill job (`mode` write; batch: through the Message Batches API) or a preview (`mode` preview:
    values kept as the job's results, no cell written): `queued` cells are still to do; `cost_usd` is what
    it spent so far."""

    id: uuid.UUID
    table_id: uuid.UUID
    column_id: uuid.UUID
    mode: Literal["write", "batch", "preview"] = "write"
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
    """What a fill would cost now, and (for a big one) what it would cost as a batch instead."""

    cells: int
    model: str
    usd: float
    minutes: float | None = None  # roughly how long it takes now
    batch_usd: float | None = None  # offered for fills of more than BATCH_OFFERED_FROM cells

    def text(self) -> str:
        """The estimate as the chat states it."""
        now = f"about ${self.usd:.2f}" + (f", about {self.minutes:.0f} min" if self.minutes else "")
        if self.batch_usd is None:
            return f"{self.cells:,} cells with {self.model}: {now}"
        return (f"{self.cells:,} cells with {self.model}: now {now}; or as a batch about ${self.batch_usd:.2f} "
                "(half the price), usually done within an hour, at most 24 h")


def public(job: dict[str, Any]) -> JobPublic:
    s = progress.summary(job)
    return JobPublic(**{**job, **{k: s[k] for k in ("queued", "eta_s", "cost_usd")}})
