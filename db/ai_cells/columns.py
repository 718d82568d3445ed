"""Which columns an AI column reads, and which AI columns read a column."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from db.errors import Invalid, NotFound
from db.schemas import ColumnPublic, TablePublic

PLACEHOLDER = re.compile(r"\{([^{}\n]{1,200})\}")


def dependencies(table: TablePublic, column: ColumnPublic) -> list[ColumnPublic]:
    """The columns an AI column reads: its `depends_on`, then every {Name} of its prompt, once each."""
    ai = column.ai or {}
    by_name = {c.name.casefold(): c for c in table.columns}
    names = list(ai.get("depends_on") or []) + PLACEHOLDER.findall(ai.get("prompt") or "")
    out: list[ColumnPublic] = []
    for name in names:
        col = by_name.get(name.strip().casefold())
        if col is not None and col.id != column.id and col not in out:
            out.append(col)
    return out


def dependents(table: TablePublic, column_ids: Iterable[str]) -> list[ColumnPublic]:
    """The AI columns that read any of `column_ids`."""
    changed = {str(c) for c in column_ids}
    return [c for c in table.columns if c.ai is not None and str(c.id) not in changed
            and any(str(d.id) in changed for d in dependencies(table, c))]


def ai_column(table: TablePublic, column_id: Any) -> ColumnPublic:
    """The AI column `column_id` (an id or a name) of `table`; NotFound / Invalid otherwise."""
    key = str(column_id)
    col = next((c for c in table.columns if str(c.id) == key or c.name.casefold() == key.casefold()), None)
    if col is None:
        raise NotFound(f"No column {key!r} in this table", column_id=key[:80])
    if col.ai is None:
        raise Invalid(f'Column "{col.name}" is not an AI column: it has no prompt to fill it from',
                      column=col.name)
    return col
