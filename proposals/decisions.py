"""The user's decisions on a proposal (Apply / Create Table, Done, Dismiss) as one service below the UI:
each takes the proposal already loaded for this user and chat, decides what happens, and returns a
`Decision` with the words to show and the note the agent gets. The UI only renders it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from dataio import uploads
from db import tables as db_tables
from db.errors import NotFound
from proposals import outcome, store
from proposals.apply import ApplyResult, apply
from proposals.plan import OpResult
from proposals.store import Status, StoredProposal

Progress = Callable[[int, int], Awaitable[None]]
# a data proposal's results as its chunks land: (those results, operations done, operations in all)
Ticks = Callable[[list[dict[str, Any]], int, int], Awaitable[None]]


class Decision(BaseModel):
    """What a decision did, in the words the preview shows and the agent reads."""

    proposal_id: str
    kind: str
    status: Status
    already_decided: bool = False
    table_id: uuid.UUID | None = None
    table_name: str = ""
    results: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {}  # the preview's `outcome` prop: counts and the ready `text`
    note: str | None = None  # for the agent; None: it is not told (yet)
    activate: bool = False  # the table becomes the chat's active one (a table just created)
    jobs: list[str] = []  # AI fills the decision started
    progress_line: str | None = None  # an import's last progress word
    change_id: str | None = None  # the change set of what was applied (its Revert button undoes it)
    change: dict[str, Any] | None = None  # an applied table_change: its payload (the chat follows it)

    @property
    def applied(self) -> bool:
        return self.status == "applied"


def _outcome(kind: str, status: str, results: list[dict[str, Any]], line: str | None = None,
             samples: int = 0) -> dict[str, Any]:
    applied = sum(bool(r.get("ok")) for r in results)
    line = line or outcome.summary(status, applied, len(results))
    return {"applied": applied, "failed": len(results) - applied, "total": len(results), "sample_rows": samples,
            "text": outcome.banner(kind, status, line, applied, samples)}


def shown(status: str, results: list[dict[str, Any]] | None = None, kind: str = "") -> dict[str, Any]:
    """The `outcome` prop of a proposal decided elsewhere (superseded, or while no page was open)."""
    return _outcome(kind, status, results or [])


async def _table_name(conn: AsyncConnection, result: ApplyResult, stored: StoredProposal) -> str:
    if result.table_id is not None:
        try:
            return (await db_tables.get_table(conn, result.table_id)).name
        except NotFound:
            pass
    return getattr(stored.proposal(), "table_name", None) or ""


async def apply_choice(conn: AsyncConnection, stored: StoredProposal, account_id: uuid.UUID, *,
                       unselected: set[int], include_samples: bool = True,
                       progress: Progress | None = None, ticks: Ticks | None = None) -> Decision:
    """Apply the operations the user left checked (an import: every row, reporting `progress`; data:
    each chunk's results told to `ticks` as it lands)."""
    total = len(stored.proposal().operations)
    selected = [i for i in range(total) if i not in unselected]

    async def tick(batch: list[OpResult], done: int, of: int) -> None:
        assert ticks is not None
        await ticks([r.model_dump() for r in batch], done, of)

    result = await apply(conn, stored, selected, account_id, include_sample_rows=include_samples, progress=progress,
                         ticks=tick if ticks is not None else None)
    rows, filename = result.imported_rows, result.import_file or ""
    results = [r.model_dump() for r in result.results]
    decision = Decision(proposal_id=str(stored.id), kind=stored.kind, status=result.status,
                        already_decided=result.already_decided, table_id=result.table_id, results=results,
                        outcome=_outcome(stored.kind, result.status, results, result.message, result.sample_rows),
                        jobs=result.jobs, change_id=result.change_id)
    if filename:
        decision.progress_line = outcome.import_line(result.status, result.message)
    if result.already_decided or not decision.applied:
        return decision
    name = await _table_name(conn, result, stored)
    decision.table_name = name
    if filename:
        uploads.discard(account_id, stored.id, with_upload=True)
        decision.note, decision.activate = outcome.imported_note(name, rows, filename), True
    elif stored.kind == "schema_create" and result.table_id is not None:
        decision.note, decision.activate = outcome.created_note(name, result.sample_rows), True
    elif stored.kind == "schema_update":
        decision.note = outcome.updated_note(name)
    elif stored.kind == "table_change":
        decision.note = outcome.table_change_note(result.message)
        decision.change = stored.payload
    # a data proposal: the agent is told when the user has seen the results (`acknowledge`)
    return decision


def acknowledge(stored: StoredProposal) -> Decision | None:
    """Done on an applied data proposal: the agent hears how it went; None when there is nothing to tell."""
    if stored.status != "applied":
        return None
    results = stored.results or []
    applied = sum(bool(r.get("ok")) for r in results)
    return Decision(proposal_id=str(stored.id), kind=stored.kind, status=stored.status, results=results,
                    note=outcome.data_note(applied, len(results)))


async def dismiss(conn: AsyncConnection, stored: StoredProposal, account_id: uuid.UUID) -> Decision:
    """Dismiss: nothing changes and the agent is not told (a decided proposal stays as it was)."""
    row = await store.dismiss(conn, stored.id, account_id=account_id, thread_id=stored.thread_id)
    uploads.discard(account_id, stored.id)  # the file kept for an import proposal
    return Decision(proposal_id=str(row.id), kind=row.kind, status=row.status, results=row.results or [],
                    outcome=shown(row.status, row.results, row.kind))
