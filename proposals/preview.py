"""`diff(current, proposal) -> Preview`, pure: what the proposal element renders as it is (seeds/002),
a new table, or the current table with the schema or data changes in place, a page of ops at a time.

Long because the three shapes of a preview (new table, schema, data) share one model and its paging.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from db.coerce import coerce
from db.errors import Invalid
from db.records import ColumnIndex
from db.schemas import ColumnPublic, RecordPublic
from proposals.payloads import (
    AddColumn,
    AddRow,
    ColumnSpec,
    DataProposal,
    DeleteRow,
    ModifyColumn,
    Proposal,
    RemoveColumn,
    ReorderColumn,
    ResearchEntry,
    SchemaProposal,
    kind_of,
)
from proposals.resolve import Refs, column_order, new_key
from proposals.snapshot import CONTEXT_ROWS, TableSnapshot

PAGE_SIZE = 50
SHOW_MAX = 200
EMPTY_NEW = "—"


class PreviewColumn(BaseModel):
    """A column header: `key` names its cells in every row; `ops` are the operations on it."""

    key: str
    id: str | None = None
    name: str
    type: str
    required: bool = False
    options: list[str] | None = None
    ai_prompt: str | None = None
    state: Literal["added", "removed", "modified", "unchanged"] = "unchanged"
    subtitle: str | None = None
    moved: bool = False
    op: int | None = None
    ops: list[int] = Field(default_factory=list)


class CellChange(BaseModel):
    new: str
    was: str


class PreviewRow(BaseModel):
    """A row as shown: added rows have negative ids; `op` is the operation its checkbox selects."""

    id: int
    state: Literal["added", "updated", "deleted", "unchanged"] = "unchanged"
    op: int | None = None
    cells: dict[str, str] = Field(default_factory=dict)
    changes: dict[str, CellChange] = Field(default_factory=dict)


class Preview(BaseModel):
    """One page of a proposal as the user sees it."""

    kind: Literal["schema_create", "schema_update", "data", "table_change"]
    table_id: str | None = None
    table_name: str
    table_description: str = ""
    renamed_from: str | None = None
    reasoning: str = ""
    summary: str
    columns: list[PreviewColumn]
    rows: list[PreviewRow]
    counts: dict[str, int]
    total_ops: int
    total_rows: int = 0
    page: int = 0
    pages: int = 1
    page_size: int = PAGE_SIZE
    has_sample_rows: bool = False
    research_log: list[ResearchEntry] = Field(default_factory=list)
    proposal_id: str | None = None
    status: str = "pending"
    results: list[dict[str, Any]] = Field(default_factory=list)
    change: dict[str, Any] | None = None  # a table_change: action, name, new_name, rows, columns, workspace


def show(value: Any) -> str:
    """A stored value as text for a cell (never HTML), shortened for the preview."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "Yes" if value else "No"
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = ", ".join(value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text if len(text) <= SHOW_MAX else text[: SHOW_MAX - 1] + "…"


def _show_as(column: Mapping[str, Any], value: Any) -> str:
    try:
        return show(coerce(column, value, check_required=False))
    except Invalid:
        return show(value)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def diff(
    current: TableSnapshot | None, proposal: Proposal, *, page: int = 0, page_size: int = PAGE_SIZE
) -> Preview:
    """The preview of `proposal` against `current` (None for a new table); data ops page from 0."""
    if isinstance(proposal, DataProposal):
        if current is None:
            raise ValueError("a data proposal needs its table")
        return _data(current, proposal, page, page_size)
    if proposal.mode == "create":
        return _create(proposal)
    if current is None:
        raise ValueError("a schema update needs its table")
    return _schema_update(current, proposal)


def _spec_column(key: str, spec: ColumnSpec, op: int) -> PreviewColumn:
    return PreviewColumn(
        key=key,
        name=spec.name,
        type=spec.type,
        required=spec.required,
        options=spec.options,
        ai_prompt=spec.ai.prompt if spec.ai else None,
        state="added",
        op=op,
        ops=[op],
    )


def _create(p: SchemaProposal) -> Preview:
    refs = Refs([], p.operations)
    order = column_order([], enumerate(p.operations), refs)
    specs = {new_key(i): op.column for i, op in enumerate(p.operations)}  # type: ignore[union-attr]
    columns = [_spec_column(k, specs[k], int(k.removeprefix("new:"))) for k in order]
    by_name = {c.name.casefold(): c for c in columns}
    rows = []
    for n, sample in enumerate(p.sample_rows or []):
        cells = {c.key: "" for c in columns}
        for name, value in sample.items():
            col = by_name.get(str(name).strip().casefold())
            if col is not None:
                cells[col.key] = _show_as(specs[col.key].model_dump(), value)
        rows.append(PreviewRow(id=-(n + 1), state="added", cells=cells))
    summary = f"New table with {_plural(len(columns), 'column')}"
    if rows:
        summary += f" and {_plural(len(rows), 'sample row')}"
    return Preview(
        kind="schema_create",
        table_name=p.table_name or "",
        table_description=p.table_description or "",
        reasoning=p.reasoning,
        summary=summary,
        columns=columns,
        rows=rows,
        counts={"columns": len(columns), "sample_rows": len(rows)},
        total_ops=len(p.operations),
        total_rows=len(rows),
        has_sample_rows=bool(rows),
    )


def _subtitle(col: ColumnPublic, op: ModifyColumn) -> str | None:
    ch, given = op.changes, op.changes.model_fields_set
    parts = []
    if "name" in given and ch.name and ch.name != col.name:
        parts.append(f"→ renamed: {ch.name}")
    if "type" in given and ch.type and ch.type != col.type:
        parts.append(f"→ type: {ch.type}")
    if "required" in given and ch.required is not None and ch.required != col.required:
        parts.append("→ required" if ch.required else "→ optional")
    if "options" in given and ch.options and ch.options != col.options:
        parts.append(f"→ options: {', '.join(ch.options)}")
    if "filter_display" in given and ch.filter_display != col.filter_display:
        parts.append(f"→ filter: {ch.filter_display or 'none'}")
    if "ai" in given:
        if ch.ai is None and col.ai is not None:
            parts.append("→ no longer AI")
        elif ch.ai is not None and (col.ai or {}).get("prompt") != ch.ai.prompt:
            parts.append(f"→ AI: {show(ch.ai.prompt)}")
        elif ch.ai is not None and col.ai is not None and ch.ai.model_dump() != col.ai:
            parts.append("→ AI settings")
    return " · ".join(parts) or None


def _schema_update(snap: TableSnapshot, p: SchemaProposal) -> Preview:
    table = snap.table
    refs = Refs(table.columns, p.operations)
    existing = {str(c.id): c for c in table.columns}
    start = [str(c.id) for c in table.columns]
    columns: dict[str, PreviewColumn] = {
        k: PreviewColumn(
            key=k,
            id=k,
            name=c.name,
            type=c.type,
            required=c.required,
            options=c.options,
            ai_prompt=(c.ai or {}).get("prompt"),
        )
        for k, c in existing.items()
    }
    for i, op in enumerate(p.operations):
        if isinstance(op, AddColumn):
            columns[new_key(i)] = _spec_column(new_key(i), op.column, i)
            continue
        key = refs.key(op.column_id)
        if key not in existing:
            continue
        col = columns[key]
        col.ops.append(i)
        if isinstance(op, RemoveColumn):
            col.state, col.op, col.subtitle = "removed", i, "Data will be lost"
        elif isinstance(op, ModifyColumn) and col.state != "removed":
            subtitle = _subtitle(existing[key], op)
            if subtitle:
                col.state, col.op, col.subtitle = "modified", i, subtitle
        elif isinstance(op, ReorderColumn):
            col.op = col.op if col.op is not None else i
    order = column_order(start, enumerate(p.operations), refs)
    old_place = {k: n for n, k in enumerate(start)}
    for n, k in enumerate(k for k in order if k in existing):
        # moved: a reorder names it and its place among the existing columns changed
        if old_place[k] != n and any(isinstance(p.operations[i], ReorderColumn) for i in columns[k].ops):
            columns[k].moved = True
    shown = [columns[k] for k in order]
    rows = []
    for rec in snap.rows[:CONTEXT_ROWS]:
        cells = {}
        for c in shown:
            cells[c.key] = EMPTY_NEW if c.state == "added" else _cell(rec, c.key)
        rows.append(PreviewRow(id=rec.id, cells=cells))
    counts = {s: sum(c.state == s for c in shown) for s in ("added", "removed", "modified")}
    counts["moved"] = sum(c.moved and c.state == "unchanged" for c in shown)
    renamed = p.table_name if p.table_name and p.table_name != table.name else None
    parts = [_plural(counts["added"], "new column")] if counts["added"] else []
    parts += [f"{counts[s]} {s}" for s in ("removed", "modified", "moved") if counts[s]]
    if renamed:
        parts.append("table renamed")
    if p.table_description is not None and p.table_description != table.description:
        parts.append("new description")
    return Preview(
        kind="schema_update",
        table_id=str(table.id),
        table_name=renamed or table.name,
        table_description=p.table_description if p.table_description is not None else table.description,
        renamed_from=table.name if renamed else None,
        reasoning=p.reasoning,
        summary=", ".join(parts) or "no visible change",
        columns=shown,
        rows=rows,
        counts=counts,
        total_ops=len(p.operations),
        total_rows=snap.total_rows,
    )


def _cell(rec: RecordPublic, key: str) -> str:
    cell = rec.cells.get(key)
    return show(cell.value) if cell is not None else ""


def display_order(p: DataProposal) -> list[int]:
    """Op indices in preview order: added rows as proposed, then updated and deleted rows by row id."""
    adds = [i for i, op in enumerate(p.operations) if isinstance(op, AddRow)]
    others = sorted((op.row_id, i) for i, op in enumerate(p.operations) if not isinstance(op, AddRow))
    return adds + [i for _, i in others]


def page_count(p: DataProposal, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(len(p.operations) / page_size))


def page_ops(p: DataProposal, page: int, page_size: int = PAGE_SIZE) -> list[int]:
    """The operation indices shown on `page` (clamped to the last page)."""
    page = max(0, min(page, page_count(p, page_size) - 1))
    return display_order(p)[page * page_size : (page + 1) * page_size]


def page_row_ids(p: DataProposal, page: int, page_size: int = PAGE_SIZE) -> list[int]:
    """The existing rows that `page` shows changed: what a snapshot for that page must hold."""
    return [
        p.operations[i].row_id
        for i in page_ops(p, page, page_size)  # type: ignore[union-attr]
        if not isinstance(p.operations[i], AddRow)
    ]


def _data(snap: TableSnapshot, p: DataProposal, page: int, page_size: int) -> Preview:
    table = snap.table
    idx = ColumnIndex(table.columns)
    pages = page_count(p, page_size)
    page = max(0, min(page, pages - 1))
    rows_by_id = snap.row_map()
    touched = {op.row_id for op in p.operations if not isinstance(op, AddRow)}
    columns = [
        PreviewColumn(
            key=str(c.id),
            id=str(c.id),
            name=c.name,
            type=c.type,
            required=c.required,
            options=c.options,
            ai_prompt=(c.ai or {}).get("prompt"),
        )
        for c in table.columns
    ]
    added, existing = [], []
    for i in page_ops(p, page, page_size):
        op = p.operations[i]
        if isinstance(op, AddRow):
            cells = {c.key: "" for c in columns}
            cells |= _values(idx, op.data)
            added.append(PreviewRow(id=-(i + 1), state="added", op=i, cells=cells))
            continue
        rec = rows_by_id.get(op.row_id)
        cells = {c.key: (_cell(rec, c.key) if rec else "") for c in columns}
        if isinstance(op, DeleteRow):
            existing.append(PreviewRow(id=op.row_id, state="deleted", op=i, cells=cells))
            continue
        changes = {}
        for key, new in _values(idx, op.changes).items():
            if new != cells.get(key, ""):
                changes[key] = CellChange(new=new, was=cells.get(key, ""))
                cells[key] = new
        existing.append(PreviewRow(id=op.row_id, state="updated", op=i, cells=cells, changes=changes))
    if page == 0:
        # the untouched rows of the table's first page show the changes in context
        existing += [
            PreviewRow(id=r.id, cells={c.key: _cell(r, c.key) for c in columns})
            for r in snap.rows[:CONTEXT_ROWS]
            if r.id not in touched
        ]
    existing.sort(key=lambda r: r.id)
    counts = {"added": 0, "updated": 0, "deleted": 0}
    for op in p.operations:
        counts[{"add": "added", "update": "updated", "delete": "deleted"}[op.action]] += 1
    parts = [_plural(counts["added"], "new row")] if counts["added"] else []
    if counts["updated"]:
        parts.append(_plural(counts["updated"], "update"))
    if counts["deleted"]:
        parts.append(_plural(counts["deleted"], "deletion"))
    log = [e if isinstance(e, ResearchEntry) else ResearchEntry(note=e) for e in p.research_log or []]
    return Preview(
        kind=kind_of(p),
        table_id=str(table.id),
        table_name=table.name,
        table_description=table.description,
        reasoning=p.reasoning,
        summary=", ".join(parts),
        columns=columns,
        rows=added + existing,
        counts=counts,
        total_ops=len(p.operations),
        total_rows=snap.total_rows,
        page=page,
        pages=pages,
        page_size=page_size,
        research_log=log,
    )


def _values(idx: ColumnIndex, values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        try:
            col = idx.get(key)
        except Invalid:
            continue
        out[str(col.id)] = _show_as(col.model_dump(), value)
    return out
