"""A revert is a proposal: the inverse of a change set, read from the change feed, as a data proposal (rows
it added go, rows it deleted come back under their ids, cells get their previous values) or a schema
proposal (columns it added go, columns it removed come back with their values, changed columns get their
previous definition, a renamed table its name). It is previewed and applied like any proposal
(proposals.apply.apply, with its per-operation conflict check); the payload's `revert` part says what
to restore as it was. Cells written after the change set by anything else are conflicts: each is an
operation of its own, left unselected (keep current) unless the user selects it (restore).

Long because each kind of change (cells, rows, columns, the table's name) is inverted here, in one place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from db import history
from db import tables as db_tables
from db.errors import Conflict as AlreadyReverted
from db.errors import Invalid, NotFound
from db.history import ChangeSetRow, Effect
from db.schemas import TablePublic
from proposals import store
from proposals.payloads import (
    MAX_DATA_OPS,
    MAX_SCHEMA_OPS,
    AddColumn,
    AddRow,
    ColumnChanges,
    ColumnSpec,
    DataProposal,
    DeleteRow,
    ModifyColumn,
    RemoveColumn,
    ReorderColumn,
    SchemaProposal,
    UpdateRow,
)
from proposals.preview import Preview, diff
from proposals.snapshot import load_snapshot
from proposals.store import StoredProposal

DEFINITION = ("name", "type", "required", "options", "filter_display", "ai")
KEY = "revert"  # the payload's part that only a revert has


class TooBig(Invalid):
    """A change set with more rows than a proposal holds: revert it in batches (proposals/revert_batches.py)."""


@dataclass
class Conflict:
    record_id: int
    column_id: str
    column: str
    current: Any
    restore: Any
    op: int

    def public(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "column_id": self.column_id, "column": self.column,
                "current": self.current, "restore": self.restore, "op": self.op}


@dataclass
class RevertPlan:
    change_set: ChangeSetRow
    table: TablePublic
    proposal: DataProposal | SchemaProposal
    extra: dict[str, Any]  # the payload's `revert` part
    conflicts: list[Conflict] = field(default_factory=list)
    unselected: list[int] = field(default_factory=list)
    reverted: dict[str, int] = field(default_factory=dict)  # what applying every selected op undoes

    @property
    def kind(self) -> Literal["data", "schema_update"]:
        return "data" if isinstance(self.proposal, DataProposal) else "schema_update"


def reverted_change_set(row: StoredProposal) -> uuid.UUID | None:
    """The change set a stored proposal reverts (None for an ordinary proposal)."""
    part = (row.payload or {}).get(KEY) or {}
    return uuid.UUID(part["change_set"]) if part.get("change_set") else None


async def plan_revert(conn: AsyncConnection, change_set_id: Any, *, lock: bool = False) -> RevertPlan:
    """The revert of a change set of the caller's workspaces: NotFound for another's, Conflict when it is
    reverted already, Invalid when it cannot be (its table is gone, it created the table, it is too big
    for one proposal). `lock`: two reverts of one change set are planned one after the other."""
    cs = await history.get_change_set(conn, change_set_id, lock=lock)
    if (by := await history.undone_by(conn, cs)) is not None:
        raise AlreadyReverted("This change was reverted already", change_id=str(cs.id), reverted_by=str(by))
    if cs.table_id is None:
        raise Invalid("This change wrote no table; there is nothing to revert", change_id=str(cs.id))
    try:
        table = await db_tables.get_table(conn, cs.table_id)
    except NotFound:
        raise Invalid("The table this change wrote has been deleted; it cannot be reverted",
                      change_id=str(cs.id)) from None
    ids = await history.followers(conn, cs)
    touched, _ = await history.rows_touched(conn, cs, ids)
    if touched > MAX_DATA_OPS:  # checked before anything is read into memory
        raise TooBig(f"This change touched {touched:,} rows; a revert proposal covers at most {MAX_DATA_OPS:,}, "
                     "so it is reverted in batches instead (POST /api/v1/changes/{id}/revert)",
                     change_id=str(cs.id), rows=touched)
    eff = await history.effect(conn, cs, ids)
    if eff.table_created:
        raise Invalid(f'This change created the table "{table.name}"; to undo it, delete the table',
                      change_id=str(cs.id))
    extra: dict[str, Any] = {"change_set": str(cs.id), "summary": cs.summary, "kind": cs.kind}
    if eff.columns_added or eff.columns_removed or eff.columns_changed or eff.table_before:
        plan = await _schema(conn, cs, table, eff, ids, extra)
    else:
        plan = await _data(conn, cs, table, eff, ids, extra)
    extra["conflicts"] = [c.public() for c in plan.conflicts]
    extra["unselected"] = plan.unselected
    return plan


def _reasoning(cs: ChangeSetRow, conflicts: int) -> str:
    when = cs.created_at.strftime("%Y-%m-%d %H:%M UTC")
    text = f"Revert of {cs.kind} change from {when}: {cs.summary or 'a change'}."
    if conflicts:
        text += (f" {conflicts} cell{'s' if conflicts != 1 else ''} changed since then: they are left "
                 "unselected and keep their current value; select one to restore it.")
    return text


async def _data(conn: AsyncConnection, cs: ChangeSetRow, table: TablePublic, eff: Effect,
                ids: list[uuid.UUID], extra: dict[str, Any]) -> RevertPlan:
    cols = {str(c.id): c for c in table.columns}
    touched = sorted({r for r, *_ in eff.cells} | set(eff.rows_added) | {r for r, _ in eff.rows_deleted})
    present = await history.row_values(conn, table.id, touched)
    later = await history.changed_after(conn, table.id, eff.last_seq, ids, list(present))
    ops: list[Any] = []
    unselected: list[int] = []
    conflicts: list[Conflict] = []
    rows_extra: dict[str, Any] = {}

    def current(rid: int, cid: str) -> Any:
        return (present.get(rid) or {}).get(cid)

    for rid, prev in eff.rows_deleted:
        if rid in present:
            continue  # back already (a revert of this revert, or restored otherwise)
        data = {k: v for k, v in (prev.get("data") or {}).items() if k in cols}
        if not data:
            data = {next(iter(cols)): None} if cols else {}
        if not data:
            continue
        rows_extra[str(len(ops))] = {"id": rid, "prev": prev}
        ops.append(AddRow(action="add", data=data))
    for rid in eff.rows_added:
        if rid not in present:
            continue  # deleted since: nothing left to remove
        clash = sorted(c for r, c in later if r == rid and c in cols)
        if clash:
            unselected.append(len(ops))
            conflicts += [Conflict(rid, c, cols[c].name, current(rid, c), None, len(ops)) for c in clash]
        ops.append(DeleteRow(action="delete", row_id=rid))
    added = set(eff.rows_added)
    by_row: dict[int, dict[str, Any]] = {}
    for rid, cid, before, _after in eff.cells:
        if rid in added or rid not in present or cid not in cols:
            continue
        if (rid, cid) in later:
            unselected.append(len(ops))
            conflicts.append(Conflict(rid, cid, cols[cid].name, current(rid, cid), before, len(ops)))
            ops.append(UpdateRow(action="update", row_id=rid, changes={cid: before}))
        else:
            by_row.setdefault(rid, {})[cid] = before
    for rid, changes in by_row.items():
        ops.append(UpdateRow(action="update", row_id=rid, changes=changes))
    if not ops:
        raise Invalid("Nothing of this change is left to revert (what it wrote is gone or already undone)",
                      change_id=str(cs.id))
    if len(ops) > MAX_DATA_OPS:
        raise Invalid(f"This change touched {len(ops):,} rows; a revert covers at most {MAX_DATA_OPS:,} rows at "
                      "once", change_id=str(cs.id), rows=len(ops))
    extra["rows"] = rows_extra
    p = DataProposal(table_id=str(table.id), reasoning=_reasoning(cs, len(conflicts)), operations=ops)
    reverted = {"rows_restored": len(rows_extra), "rows_removed": sum(isinstance(o, DeleteRow) for o in ops),
                "cells": sum(len(o.changes) for o in ops if isinstance(o, UpdateRow))}
    return RevertPlan(cs, table, p, extra, conflicts, unselected, reverted)


def _spec(definition: dict[str, Any]) -> ColumnSpec:
    return ColumnSpec.model_validate({k: definition.get(k) for k in DEFINITION if definition.get(k) is not None})


def _after(order: list[str], position: int, own: str) -> str | None:
    """The column to put a column after so that it lands at `position` of `order` (without itself)."""
    rest = [c for c in order if c != own]
    return rest[position - 1] if 0 < position <= len(rest) else None


async def _schema(conn: AsyncConnection, cs: ChangeSetRow, table: TablePublic, eff: Effect,
                  ids: list[uuid.UUID], extra: dict[str, Any]) -> RevertPlan:
    cols = {str(c.id): c for c in table.columns}
    order = [str(c.id) for c in table.columns]
    later = await history.columns_changed_after(conn, table.id, eff.last_seq, ids)
    ops: list[Any] = []
    unselected: list[int] = []
    restore: dict[str, Any] = {}
    for cid in eff.columns_added:
        if cid in cols:
            if cid in later:
                unselected.append(len(ops))
            ops.append(RemoveColumn(action="remove", column_id=cid))
    for definition in eff.columns_removed:
        cid = str(definition["id"])
        if cid in cols:
            continue
        restore[str(len(ops))] = definition
        ops.append(AddColumn(action="add", column=_spec(definition),
                             after_column_id=_after(order, int(definition.get("position") or 0), cid)))
    for cid, before in eff.columns_changed:
        col = cols.get(cid)
        if col is None or before is None:
            continue
        now = col.model_dump(mode="json")
        changes = {k: before.get(k) for k in DEFINITION if before.get(k) != now.get(k)}
        for key in ("name", "type", "required"):
            if changes.get(key, 0) is None:
                changes.pop(key)
        if changes:
            if cid in later:
                unselected.append(len(ops))
            ops.append(ModifyColumn(action="modify", column_id=cid, changes=ColumnChanges.model_validate(changes)))
        if before.get("position") is not None and int(before["position"]) != col.position:
            ops.append(ReorderColumn(action="reorder", column_id=cid,
                                     after_column_id=_after(order, int(before["position"]), cid)))
    name = desc = None
    if eff.table_before is not None:
        if eff.table_before.get("name") != table.name:
            name = eff.table_before.get("name")
        if eff.table_before.get("description") != table.description:
            desc = eff.table_before.get("description")
    if not ops:
        raise Invalid("Nothing of this change is left to revert (what it changed is gone or already undone)"
                      if name is None and desc is None else
                      "Renaming the table back is done with a schema change, not a revert", change_id=str(cs.id))
    if len(ops) > MAX_SCHEMA_OPS:
        raise Invalid(f"This change made {len(ops)} column changes; a revert covers at most {MAX_SCHEMA_OPS}")
    extra["columns"] = restore
    p = SchemaProposal(mode="update", table_id=str(table.id), table_name=name, table_description=desc,
                       reasoning=_reasoning(cs, 0), operations=ops)
    reverted = {"columns_restored": len(restore), "columns_removed": sum(isinstance(o, RemoveColumn) for o in ops),
                "columns_changed": sum(isinstance(o, (ModifyColumn, ReorderColumn)) for o in ops)}
    return RevertPlan(cs, table, p, extra, [], unselected, reverted)


async def preview(conn: AsyncConnection, plan: RevertPlan) -> Preview:
    """The first page of the revert as the proposal previews show it (no proposal is stored)."""
    p = plan.proposal
    rows = [op.row_id for op in p.operations if isinstance(op, (UpdateRow, DeleteRow))][:200] \
        if isinstance(p, DataProposal) else []
    snap = await load_snapshot(conn, plan.table.id, row_ids=rows)
    return diff(snap, p)


async def propose_revert(conn: AsyncConnection, change_set_id: Any, *, account_id: uuid.UUID | None,
                         thread_id: str | None, restore: list[tuple[int, str]] | None = None) -> tuple[StoredProposal, RevertPlan]:
    """Store the revert of a change set as a pending proposal of `thread_id` (superseding its pending one).
    `restore` names conflicting cells to restore anyway; the others keep their current value."""
    plan = await plan_revert(conn, change_set_id, lock=True)
    if restore:
        chosen = {(int(r), str(c)) for r, c in restore}
        plan.unselected = [i for i in plan.unselected
                           if not any(c.op == i and (c.record_id, c.column_id) in chosen for c in plan.conflicts)]
        plan.extra["unselected"] = plan.unselected
    stored = await store.create(conn, workspace_id=plan.change_set.workspace_id, proposal=plan.proposal,
                                thread_id=thread_id, table_id=plan.table.id, account_id=account_id,
                                extra={KEY: plan.extra})
    return stored, plan



async def propose_revert_of_proposal(conn: AsyncConnection, stored: StoredProposal, *, account_id: uuid.UUID,
                                     thread_id: str | None) -> tuple[StoredProposal, RevertPlan, Preview]:
    """The Revert button of an applied proposal: the revert of the change set its apply wrote, stored as a
    pending proposal of the thread, with its first page."""
    if stored.status != "applied":
        raise Invalid("Only an applied proposal can be reverted")
    change = await history.change_set_of_proposal(conn, stored.id)
    if change is None:
        raise Invalid("This proposal changed nothing that can be reverted")
    made, plan = await propose_revert(conn, change, account_id=account_id, thread_id=thread_id)
    shown = (await preview(conn, plan)).model_copy(update={"proposal_id": str(made.id), "status": made.status})
    return made, plan, shown
