"""The proposal flow as the agent tools and the UI use it: check and store a payload, render a page,
apply, dismiss. Each call runs in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import NotFound
from proposals import store, table_change
from proposals.payloads import DataProposal, DeleteRow, Proposal, TableChange, UpdateRow
from proposals.preview import PAGE_SIZE, Preview, diff, page_ops, page_row_ids
from proposals.shape import in_order, parse_all
from proposals.snapshot import TableSnapshot, load_snapshot
from proposals.store import StoredProposal
from proposals.validate import ProposalInvalid, normalize, validate


class Proposed(BaseModel):
    stored: StoredProposal
    preview: Preview


def _needs_table(p: Proposal) -> bool:
    return isinstance(p, DataProposal) or getattr(p, "mode", None) == "update"


async def _snapshot_for(
    conn: AsyncConnection, p: Proposal, table_ref: Any, workspace_id: uuid.UUID
) -> TableSnapshot:
    if table_ref is None:
        raise ProposalInvalid(["table_id: no table given and no table is active; name the table to change"])
    rows = [op.row_id for op in p.operations if isinstance(op, (UpdateRow, DeleteRow))]
    try:
        snap = await load_snapshot(conn, table_ref, row_ids=rows)
    except NotFound:
        raise ProposalInvalid(
            [f"table_id: there is no table {table_ref}; use list_tables to find it"]
        ) from None
    if snap.table.workspace_id != workspace_id:
        raise ProposalInvalid([f"table_id: table {table_ref} is not in this conversation's workspace"])
    return snap


async def check(
    conn: AsyncConnection,
    *,
    what: Literal["schema", "data"],
    payload: Any,
    workspace_id: uuid.UUID,
    active_table_id: Any = None,
    shape: bool = True,
) -> tuple[Proposal | None, TableSnapshot | None, list[str]]:
    """The proposal, its table and every problem of the payload at once: malformed operations, and what
    is wrong with the well-formed ones against the table (numbered as in the payload). `shape=False`
    leaves out what pydantic found (for a caller that has told those already)."""
    parsed = parse_all(payload, what)
    problems = [p for p in parsed.problems if shape or p not in parsed.shape]
    p, snap = parsed.proposal, None
    if p is None:
        return None, None, in_order(problems)
    if _needs_table(p):
        try:
            snap = await _snapshot_for(conn, p, p.table_id or active_table_id, workspace_id)
        except ProposalInvalid as exc:
            return p, None, in_order(problems + exc.problems)
    problems += parsed.renumber(validate(p, snap))
    return p, snap, in_order(problems)


async def propose(
    conn: AsyncConnection,
    *,
    what: Literal["schema", "data"],
    payload: Any,
    workspace_id: uuid.UUID,
    account_id: uuid.UUID | None,
    thread_id: str | None,
    active_table_id: Any = None,
) -> Proposed:
    """Check and store a proposal and render its first page; ProposalInvalid lists what the model must fix."""
    p, snap, problems = await check(conn, what=what, payload=payload, workspace_id=workspace_id,
                                    active_table_id=active_table_id)
    if problems or p is None:
        raise ProposalInvalid(problems)
    p = normalize(p, snap)
    stored = await store.create(
        conn,
        workspace_id=workspace_id,
        proposal=p,
        thread_id=thread_id,
        table_id=snap.table.id if snap else None,
        account_id=account_id,
    )
    preview = diff(snap, p)
    return Proposed(stored=stored, preview=_with_state(preview, stored))


def _with_state(preview: Preview, stored: StoredProposal) -> Preview:
    p = stored.proposal()
    shown = set(page_ops(p, preview.page, preview.page_size)) if isinstance(p, DataProposal) else None
    results = [r for r in stored.results or [] if shown is None or r["index"] in shown]
    return preview.model_copy(
        update={"proposal_id": str(stored.id), "status": stored.status, "results": results}
    )


async def render(
    conn: AsyncConnection, stored: StoredProposal, *, page: int = 0, page_size: int = PAGE_SIZE
) -> Preview:
    """Page `page` of a stored proposal against the live table, with its status and that page's results."""
    # once decided, the table has moved on: a reloaded thread shows the preview its element kept, with
    # the status and results from here; NotFound when the table is gone
    p = stored.proposal()
    if isinstance(p, TableChange):
        return _with_state(await table_change.preview(conn, p, workspace_id=stored.workspace_id,
                                                      table_id=stored.table_id), stored)
    snap = None
    if _needs_table(p):
        rows = page_row_ids(p, page, page_size) if isinstance(p, DataProposal) else []
        snap = await load_snapshot(conn, stored.table_id, row_ids=rows)
    return _with_state(diff(snap, p, page=page, page_size=page_size), stored)


async def propose_table_change(conn: AsyncConnection, p: TableChange, *, workspace_id: uuid.UUID,
                               account_id: uuid.UUID | None, thread_id: str | None,
                               active_table_id: Any = None) -> Proposed:
    """Check and store a deletion or rename and render its preview; ProposalInvalid says what to fix."""
    table_id = await table_change.check(conn, p, workspace_id=workspace_id, active_table_id=active_table_id)
    stored = await store.create(conn, workspace_id=workspace_id, proposal=p, thread_id=thread_id,
                                table_id=table_id, account_id=account_id)
    preview = await table_change.preview(conn, p, workspace_id=workspace_id, table_id=table_id)
    return Proposed(stored=stored, preview=_with_state(preview, stored))
