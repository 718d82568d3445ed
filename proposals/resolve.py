"""Resolving what a proposal refers to: columns by id or (leniently) by name, and the column order
after schema operations. Pure; shared by validation, preview and apply so that all three agree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from db.coerce import coerce
from db.errors import Invalid
from db.records import ColumnIndex
from db.schemas import ColumnPublic
from proposals.payloads import AddColumn, ReorderColumn, SchemaOp

NEW = "new:"


def new_key(index: int) -> str:
    """The key of the column that add-operation `index` creates, before it has an id."""
    return f"{NEW}{index}"


class Refs:
    """Existing columns by id or name (case-insensitive), and the columns a proposal adds by name."""

    def __init__(self, columns: Sequence[ColumnPublic], ops: Sequence[SchemaOp] = ()):
        self.columns = list(columns)
        self.by_id = {str(c.id): c for c in columns}
        self.by_name = {c.name.casefold(): c for c in columns}
        self.added: dict[str, str] = {}
        for i, op in enumerate(ops):
            if isinstance(op, AddColumn):
                self.added.setdefault(op.column.name.casefold(), new_key(i))

    def column(self, ref: str | None) -> ColumnPublic | None:
        """The existing column `ref` names, if any."""
        if ref is None:
            return None
        return self.by_id.get(str(ref).strip()) or self.by_name.get(str(ref).strip().casefold())

    def key(self, ref: str | None) -> str | None:
        """The key (column id, or `new:i` for a column added by the proposal) that `ref` names."""
        if ref is None:
            return None
        col = self.column(ref)
        if col is not None:
            return str(col.id)
        return self.added.get(str(ref).strip().casefold())

    def names(self) -> list[str]:
        return [c.name for c in self.columns]


class Coercer:
    """ColumnIndex.coerce_values with the per-column work done once (10,000 ops coerce many values)."""

    def __init__(self, columns: Sequence[ColumnPublic], *, clear_ai: bool = False):
        # an AI cell set to None is left to the AI, unless `clear_ai` (a revert emptying what a fill wrote)
        self.clear_ai = clear_ai
        self.idx = ColumnIndex(columns)
        self.by_key: dict[str, tuple[str, dict[str, Any], bool]] = {}
        for c in columns:
            cid = str(c.id)
            self.by_key[cid] = (cid, c.model_dump(), c.ai is not None)
        self.required = [(str(c.id), c.name) for c in columns if c.required and c.ai is None]

    def __call__(self, values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            entry = self.by_key.get(key)
            if entry is None:
                entry = self.by_key[str(self.idx.get(key).id)]  # by name; Invalid when unknown
            cid, column, is_ai = entry
            if is_ai and value is None and not self.clear_ai:
                continue
            out[cid] = coerce(column, value)
        if partial:
            return out
        for cid, name in self.required:
            if out.get(cid) is None:
                raise Invalid(f'Column "{name}" is required', column=name)
        return {k: v for k, v in out.items() if v is not None}


def column_order(start: Sequence[str], ops: Iterable[tuple[int, SchemaOp]], refs: Refs) -> list[str]:
    """Column keys in order after `ops` (index, op), removed columns still in place."""
    # an added column goes after `after_column_id` (last when absent or unknown); a reorder moves one
    # right after it (first when null) and does nothing when either column is unknown
    keys = list(start)
    for i, op in ops:
        if isinstance(op, AddColumn):
            ref = refs.key(op.after_column_id)
            key = new_key(i)
            if ref in keys:
                keys.insert(keys.index(ref) + 1, key)
            else:
                keys.append(key)
        elif isinstance(op, ReorderColumn):
            key = refs.key(op.column_id)
            if key not in keys:
                continue
            if op.after_column_id is None:
                keys.remove(key)
                keys.insert(0, key)
                continue
            ref = refs.key(op.after_column_id)
            if ref not in keys or ref == key:
                continue
            keys.remove(key)
            keys.insert(keys.index(ref) + 1, key)
    return keys
