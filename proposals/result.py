"""What applying a proposal did, as the UI shows it (its own module so that every apply path — the
operations of proposals.apply and the file imports of proposals.apply_import — returns the same)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from proposals.plan import OpResult
from proposals.store import Status


class ApplyResult(BaseModel):
    """The outcome the UI shows: per-operation results (selected ones only) and a one-line message."""

    proposal_id: uuid.UUID
    status: Status
    table_id: uuid.UUID | None = None
    results: list[OpResult]
    applied: int
    failed: int
    message: str
    already_decided: bool = False
    sample_rows: int = 0
    jobs: list[str] = []  # AI fill jobs the apply started (their progress shows in the chat)
    imported_rows: int = 0  # a create-table proposal of an uploaded file: the rows it imported
    import_file: str | None = None  # … and the file's name
    change_id: str | None = None  # the change set of what was written (None when nothing was)
