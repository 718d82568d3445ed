"""What changed in a table after the version a proposal was made against, read from the change feed;
an operation that touches any of it is a conflict and is reported, not applied."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.schemas import ColumnPublic

DEFINITION = ("name", "type", "required", "options", "filter_display", "ai")


@dataclass
class Since:
    """Changes after a proposal's `base_seq`, limited to the rows and columns it refers to."""

    deleted_rows: set[int] = field(default_factory=set)
    changed_rows: set[int] = field(default_factory=set)
    changed_cells: set[tuple[int, str]] = field(default_factory=set)
    removed_columns: set[str] = field(default_factory=set)
    redefined_columns: set[str] = field(default_factory=set)


async def changes_since(
    conn: AsyncConnection,
    table_id: uuid.UUID,
    base_seq: int,
    *,
    row_ids: Iterable[int] = (),
    columns: Iterable[ColumnPublic] = (),
    column_ids: Iterable[str] = (),
) -> Since:
    """Rows deleted or written, and columns (of `column_ids`) removed or redefined, after `base_seq`."""
    # `columns` are the table's current ones: comparing them with the feed tells a redefinition from a move
    since = Since()
    rows = sorted(set(row_ids))
    asked = {str(c) for c in column_ids}
    found = await conn.execute(
        text(
            "SELECT kind, op, record_id, column_id FROM changes WHERE table_id = :t AND seq > :b AND "
            "((kind IN ('record', 'cell') AND record_id = ANY(:rows)) "
            "OR (kind = 'column' AND op <> 'insert'))"
        ),
        {"t": table_id, "b": base_seq, "rows": rows},
    )
    redefined: set[str] = set()
    for kind, op, record_id, column_id in found.all():
        if kind == "record" and op == "delete":
            since.deleted_rows.add(record_id)
        elif kind == "cell":
            since.changed_rows.add(record_id)
            since.changed_cells.add((record_id, str(column_id)))
        elif kind == "column" and str(column_id) in asked:
            (since.removed_columns if op == "delete" else redefined).add(str(column_id))
    redefined -= since.removed_columns
    if redefined:
        since.redefined_columns = await _redefined(conn, table_id, base_seq, redefined, columns)
    return since


async def _redefined(
    conn: AsyncConnection, table_id: uuid.UUID, base_seq: int, ids: set[str], columns: Iterable[ColumnPublic]
) -> set[str]:
    """Columns whose definition now differs from the one at `base_seq` (a position change is no conflict)."""
    now = {str(c.id): c.model_dump(mode="json") for c in columns}
    found = await conn.execute(
        text(
            "SELECT DISTINCT ON (column_id) column_id, data FROM changes "
            "WHERE table_id = :t AND kind = 'column' AND seq <= :b AND column_id = ANY(CAST(:ids AS uuid[])) "
            "ORDER BY column_id, seq DESC"
        ),
        {"t": table_id, "b": base_seq, "ids": [uuid.UUID(i) for i in sorted(ids)]},
    )
    then = {str(cid): data or {} for cid, data in found.all()}
    out = set()
    for cid in ids:
        before, after = then.get(cid), now.get(cid)
        if before is None or after is None or any(before.get(k) != after.get(k) for k in DEFINITION):
            out.add(cid)
    return out
