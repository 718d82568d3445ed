"""Proposals as persisted: one pending proposal per thread (a new one supersedes it), read back only
by a member of its workspace in the same thread (browser payloads are untrusted, SPEC §12)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import NotFound
from db.tables import as_uuid, current_seq
from proposals.payloads import Proposal, from_json, kind_of, to_json

Status = Literal["pending", "applied", "dismissed", "superseded", "stale", "failed"]
FIELDS = (
    "id, workspace_id, thread_id, table_id, kind, payload, status, base_seq, results, created_by, "
    "created_at, decided_at"
)
MUTABLE = "status, results, table_id, decided_at"


class StoredProposal(BaseModel):
    """A row of `proposals`; `superseded` lists what its creation superseded."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    thread_id: str | None
    table_id: uuid.UUID | None
    kind: Literal["schema_create", "schema_update", "data", "table_change"]
    payload: dict[str, Any]
    status: Status
    base_seq: int
    results: list[dict[str, Any]] | None = None
    created_by: uuid.UUID | None = None
    created_at: datetime
    decided_at: datetime | None = None
    superseded: list[uuid.UUID] = Field(default_factory=list)

    def proposal(self) -> Proposal:
        return from_json(self.kind, self.payload)


async def create(
    conn: AsyncConnection,
    *,
    workspace_id: uuid.UUID,
    proposal: Proposal,
    thread_id: str | None = None,
    table_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    base_seq: int | None = None,
    extra: dict[str, Any] | None = None,
) -> StoredProposal:
    """Store a pending proposal against the table's current version, superseding the thread's last one."""
    if base_seq is None:
        base_seq = await current_seq(conn, table_id) if table_id is not None else 0
    superseded: list[uuid.UUID] = []
    if thread_id is not None:
        # two proposals created at once in one thread must not both stay pending
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:th, 11))"), {"th": thread_id})
        res = await conn.execute(
            text(
                "UPDATE proposals SET status = 'superseded', decided_at = now() "
                "WHERE thread_id = :th AND workspace_id = :w AND status = 'pending' RETURNING id"
            ),
            {"th": thread_id, "w": workspace_id},
        )
        superseded = list(res.scalars().all())
    row = await conn.execute(
        text(
            f"INSERT INTO proposals (workspace_id, thread_id, table_id, kind, payload, base_seq, created_by) "
            f"VALUES (:w, :th, :t, :k, CAST(:p AS jsonb), :b, :a) RETURNING {FIELDS}"
        ),
        {
            "w": workspace_id,
            "th": thread_id,
            "t": table_id,
            "k": kind_of(proposal),
            "p": json.dumps({**to_json(proposal), **(extra or {})}),
            "b": base_seq,
            "a": account_id,
        },
    )
    return StoredProposal(**row.mappings().one(), superseded=superseded)


_SCOPED = (
    f"SELECT {FIELDS} FROM proposals p WHERE p.id = :id AND p.thread_id IS NOT DISTINCT FROM :th "
    "AND EXISTS (SELECT 1 FROM memberships m WHERE m.workspace_id = p.workspace_id AND m.account_id = :a)"
)


async def get(
    conn: AsyncConnection,
    proposal_id: Any,
    *,
    account_id: uuid.UUID,
    thread_id: str | None,
    for_update: bool = False,
) -> StoredProposal:
    """The proposal when it is in one of the account's workspaces and in `thread_id`; else NotFound."""
    pid = as_uuid(proposal_id, "proposal")
    row = await conn.execute(
        text(_SCOPED + (" FOR UPDATE OF p" if for_update else "")),
        {"id": pid, "th": thread_id, "a": account_id},
    )
    m = row.mappings().first()
    if m is None:
        raise NotFound(f"No proposal {proposal_id} in this conversation", proposal_id=str(proposal_id))
    return StoredProposal(**m)


async def lock(conn: AsyncConnection, proposal: StoredProposal | uuid.UUID) -> StoredProposal:
    """The proposal, locked until the end of the transaction (concurrent deciders wait here)."""
    # given a stored proposal, only what can change is read again: the payload never does, and can be large
    if isinstance(proposal, StoredProposal):
        row = await conn.execute(
            text(f"SELECT {MUTABLE} FROM proposals WHERE id = :id FOR UPDATE"), {"id": proposal.id}
        )
        m = row.mappings().first()
        return proposal.model_copy(update=dict(m)) if m is not None else _gone(proposal.id)
    row = await conn.execute(
        text(f"SELECT {FIELDS} FROM proposals WHERE id = :id FOR UPDATE"), {"id": proposal}
    )
    m = row.mappings().first()
    return StoredProposal(**m) if m is not None else _gone(proposal)


def _gone(proposal_id: uuid.UUID) -> StoredProposal:
    raise NotFound(f"No proposal {proposal_id}", proposal_id=str(proposal_id))


async def finish(
    conn: AsyncConnection,
    proposal_id: uuid.UUID,
    *,
    status: Status,
    results: list[dict[str, Any]] | None = None,
    table_id: uuid.UUID | None = None,
) -> None:
    """Record the decision and the per-operation results."""
    await conn.execute(
        text(
            "UPDATE proposals SET status = :s, results = CAST(:r AS jsonb), decided_at = now(), "
            "table_id = coalesce(CAST(:t AS uuid), table_id) WHERE id = :id"
        ),
        {
            "id": proposal_id,
            "s": status,
            "r": json.dumps(results) if results is not None else None,
            "t": table_id,
        },
    )


async def dismiss(
    conn: AsyncConnection, proposal_id: Any, *, account_id: uuid.UUID, thread_id: str | None
) -> StoredProposal:
    """Dismiss a pending proposal (nothing else changes); a decided one is returned as it is."""
    found = await get(conn, proposal_id, account_id=account_id, thread_id=thread_id, for_update=True)
    if found.status != "pending":
        return found
    await finish(conn, found.id, status="dismissed")
    return await get(conn, found.id, account_id=account_id, thread_id=thread_id)


async def mark_stale(conn: AsyncConnection, proposal_id: uuid.UUID) -> bool:
    """A pending proposal that can no longer be applied as made; True when it was pending."""
    res = await conn.execute(
        text(
            "UPDATE proposals SET status = 'stale', decided_at = now() WHERE id = :id AND status = 'pending'"
        ),
        {"id": proposal_id},
    )
    return res.rowcount == 1


async def mark_stale_for_table(conn: AsyncConnection, table_id: uuid.UUID) -> list[uuid.UUID]:
    """Every pending proposal on a table (e.g. one being deleted) becomes stale; returns their ids."""
    res = await conn.execute(
        text(
            "UPDATE proposals SET status = 'stale', decided_at = now() "
            "WHERE table_id = :t AND status = 'pending' RETURNING id"
        ),
        {"t": table_id},
    )
    return list(res.scalars().all())


async def list_by_thread(
    conn: AsyncConnection, thread_id: str, *, account_id: uuid.UUID, pending_only: bool = False
) -> list[StoredProposal]:
    """The thread's proposals, oldest first (a reload shows each preview in its final state)."""
    rows = await conn.execute(
        text(
            f"SELECT {FIELDS} FROM proposals p WHERE p.thread_id = :th "
            "AND EXISTS (SELECT 1 FROM memberships m "
            "WHERE m.workspace_id = p.workspace_id AND m.account_id = :a) "
            "AND (NOT :po OR p.status = 'pending') ORDER BY p.created_at, p.id"
        ),
        {"th": thread_id, "a": account_id, "po": pending_only},
    )
    return [StoredProposal(**m) for m in rows.mappings()]


async def active(conn: AsyncConnection, thread_id: str, *, account_id: uuid.UUID) -> StoredProposal | None:
    """The thread's pending proposal, if any (the live view disables editing while there is one)."""
    found = await list_by_thread(conn, thread_id, account_id=account_id, pending_only=True)
    return found[-1] if found else None
