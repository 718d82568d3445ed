"""Deciding what applying the selected operations will do, without I/O: which operations conflict
with what changed since the proposal was made, which fail, and what to write. `apply` runs the plan."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from db.errors import Invalid
from db.records import ColumnIndex
from db.schemas import ColumnCreate, ColumnPublic, TablePublic
from proposals.conflicts import Since
from proposals.payloads import (
    AddColumn,
    AddRow,
    ColumnSpec,
    DataProposal,
    DeleteRow,
    ModifyColumn,
    RemoveColumn,
    ReorderColumn,
    SchemaProposal,
    UpdateRow,
)
from proposals.resolve import Coercer, Refs, column_order, new_key


class OpResult(BaseModel):
    """What became of one operation; `conflict` when the table changed under it since the proposal."""

    index: int
    ok: bool
    error: str | None = None
    conflict: bool = False
    row_id: int | None = None
    column_id: str | None = None


def ok(i: int, **kw: Any) -> OpResult:
    return OpResult(index=i, ok=True, **kw)


def failed(i: int, error: str, conflict: bool = False, **kw: Any) -> OpResult:
    return OpResult(index=i, ok=False, error=error, conflict=conflict, **kw)


def selection(selected: Sequence[int] | None, count: int) -> list[int]:
    """The operation indices to apply (None: all); Invalid for an index that names no operation."""
    if selected is None:
        return list(range(count))
    bad = [i for i in selected if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < count]
    if bad:
        raise Invalid(f"No such operation(s): {bad[:10]}", selected=bad[:10])
    chosen = sorted(set(selected))
    if not chosen:
        raise Invalid("Nothing is selected: select at least one change to apply")
    return chosen


@dataclass
class DataPlan:
    """Rows to add, update and delete (values coerced, keyed by column id); `results`: ops already decided."""

    results: dict[int, OpResult] = field(default_factory=dict)
    adds: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    updates: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    deletes: dict[int, int] = field(default_factory=dict)


def data_refs(p: DataProposal, chosen: Sequence[int]) -> tuple[list[int], set[str]]:
    """The rows and column keys the chosen operations touch: what to read from the change feed."""
    rows, keys = [], set()
    for i in chosen:
        op = p.operations[i]
        if not isinstance(op, AddRow):
            rows.append(op.row_id)
        keys.update(op.data if isinstance(op, AddRow) else op.changes if isinstance(op, UpdateRow) else ())
    return rows, keys


def plan_data(p: DataProposal, table: TablePublic, chosen: Sequence[int], since: Since, *,
              clear_ai: bool = False) -> DataPlan:
    """Ops on rows deleted or edited since, on cells written since, or setting removed columns conflict.
    `clear_ai`: an AI cell set to None is emptied (a revert), not left to the AI."""
    idx = ColumnIndex(table.columns)
    coerce_values = Coercer(table.columns, clear_ai=clear_ai)
    plan = DataPlan()
    for i in chosen:
        op = p.operations[i]
        rid = None if isinstance(op, AddRow) else op.row_id
        if rid is not None and rid in since.deleted_rows:
            plan.results[i] = failed(
                i, f"Row {rid} was deleted after this proposal was made", True, row_id=rid
            )
            continue
        if isinstance(op, DeleteRow):
            if rid in since.changed_rows:
                plan.results[i] = failed(
                    i, f"Row {rid} was edited after this proposal was made", True, row_id=rid
                )
            else:
                plan.deletes[rid] = i
            continue
        values = op.data if isinstance(op, AddRow) else op.changes
        if any(k in since.removed_columns for k in values):
            plan.results[i] = failed(
                i, "A column it sets was removed after this proposal was made", True, row_id=rid
            )
            continue
        try:
            coerced = coerce_values(values, partial=rid is not None)
        except Invalid as exc:
            plan.results[i] = failed(i, exc.message, row_id=rid)
            continue
        if isinstance(op, AddRow):
            plan.adds.append((i, coerced))
            continue
        edited = [idx.by_id[k].name for k in coerced if (rid, k) in since.changed_cells]
        if edited:
            plan.results[i] = failed(
                i, f"Row {rid}: {', '.join(edited)} changed after this proposal was made", True, row_id=rid
            )
            continue
        emptied = [
            idx.by_id[k].name
            for k, v in coerced.items()
            if v is None and idx.by_id[k].required and idx.by_id[k].ai is None
        ]
        if emptied:
            plan.results[i] = failed(i, f'Column "{emptied[0]}" is required', row_id=rid)
            continue
        plan.updates[rid] = (i, coerced)
    return plan


def column_create(spec: ColumnSpec) -> ColumnCreate:
    return ColumnCreate(
        name=spec.name,
        type=spec.type,
        required=spec.required,
        options=spec.options,
        filter_display=spec.filter_display,
        ai=spec.ai,
    )


@dataclass
class SchemaPlan:
    """Columns to remove, modify (with their changes), add and reorder, in that order of execution."""

    results: dict[int, OpResult] = field(default_factory=dict)
    removes: list[tuple[int, ColumnPublic]] = field(default_factory=list)
    modifies: list[tuple[int, ColumnPublic, dict[str, Any]]] = field(default_factory=list)
    adds: list[tuple[int, ColumnCreate]] = field(default_factory=list)
    reorders: list[tuple[int, ColumnPublic]] = field(default_factory=list)


def schema_refs(p: SchemaProposal, chosen: Sequence[int]) -> list[str]:
    """The existing columns the chosen operations name: what to read from the change feed."""
    return [op.column_id for i in chosen if not isinstance(op := p.operations[i], AddColumn)]


def plan_schema(p: SchemaProposal, table: TablePublic, chosen: Sequence[int], since: Since) -> SchemaPlan:
    """A column removed since the proposal, or redefined since (for modify and remove), is a conflict."""
    refs = Refs(table.columns, p.operations)
    plan = SchemaPlan()
    for i in chosen:
        op = p.operations[i]
        if isinstance(op, AddColumn):
            plan.adds.append((i, column_create(op.column)))
            continue
        col = refs.column(op.column_id)
        if col is None:
            gone = op.column_id in since.removed_columns
            plan.results[i] = failed(
                i,
                "The column was removed after this proposal was made"
                if gone
                else f'No column "{op.column_id}" in this table',
                conflict=gone,
            )
        elif str(col.id) in since.redefined_columns and not isinstance(op, ReorderColumn):
            plan.results[i] = failed(
                i,
                f'Column "{col.name}" was changed after this proposal was made',
                True,
                column_id=str(col.id),
            )
        elif isinstance(op, RemoveColumn):
            plan.removes.append((i, col))
        elif isinstance(op, ModifyColumn):
            plan.modifies.append((i, col, op.changes.model_dump(exclude_unset=True)))
        else:
            plan.reorders.append((i, col))
    return plan


def final_order(
    p: SchemaProposal, table: TablePublic, done: Sequence[int], created: dict[int, uuid.UUID]
) -> list[uuid.UUID]:
    """Column ids in order once the ops `done` succeeded (`created`: add-op index → new column id)."""
    refs = Refs(table.columns, p.operations)
    moves = [(i, p.operations[i]) for i in done if isinstance(p.operations[i], (AddColumn, ReorderColumn))]
    keys = column_order([str(c.id) for c in table.columns], moves, refs)
    by_key = {new_key(i): cid for i, cid in created.items()}
    return [by_key[k] if k in by_key else uuid.UUID(k) for k in keys if k in by_key or k in refs.by_id]


@dataclass
class CreatePlan:
    """The new table's columns in order, the sample rows restricted to them, and the left-out ops."""

    results: dict[int, OpResult] = field(default_factory=dict)
    columns: list[tuple[int, ColumnCreate]] = field(default_factory=list)
    sample_rows: list[dict[str, Any]] = field(default_factory=list)


def plan_create(p: SchemaProposal, chosen: Sequence[int], *, include_sample_rows: bool) -> CreatePlan:
    """An AI column whose source columns were not selected cannot be created and fails."""
    specs = {i: p.operations[i].column for i in chosen}  # type: ignore[union-attr]
    plan = CreatePlan()
    while True:
        names = {s.name for s in specs.values()}
        missing = {i: [d for d in s.ai.depends_on if d not in names] for i, s in specs.items() if s.ai}
        missing = {i: m for i, m in missing.items() if m}
        if not missing:
            break
        for i, m in missing.items():
            plan.results[i] = failed(i, f"Needs column(s) {', '.join(m)}, which were not selected")
            del specs[i]
    refs = Refs([], p.operations)
    for key in column_order([], [(i, p.operations[i]) for i in specs], refs):
        i = int(key.removeprefix("new:"))
        plan.columns.append((i, column_create(specs[i])))
    if include_sample_rows:
        names = {s.name for s in specs.values()}
        rows = [{k: v for k, v in r.items() if k in names} for r in p.sample_rows or []]
        plan.sample_rows = [r for r in rows if r]
    return plan
