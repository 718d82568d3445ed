"""A block of cell edits as one change (a paste from a spreadsheet, an offline outbox replayed): each cell
carries the version it was based on, and either every cell is written or none is.

All-or-conflicts: every cell whose version moved on, whose row is gone or whose value does not fit is
collected (not only the first), so the caller can show each one; the caller's transaction is then rolled
back by the raised error, never leaving half a block written or silently overwriting someone's change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Conflict, Invalid, NotFound
from db.records import update_cell
from db.schemas import CellPublic, ColumnPublic, TablePublic


@dataclass(frozen=True)
class CellEdit:
    record_id: int
    column: ColumnPublic
    value: Any
    version: int


async def write_block(conn: AsyncConnection, table: TablePublic, edits: Sequence[CellEdit], *,
                      account_id: uuid.UUID | None = None) -> list[CellPublic]:
    """Write every edit if each cell is still at its `version`; else Conflict listing each failing cell
    (`details.cells`: `{index, record_id, column_id, problem, current?}`); the caller must roll back."""
    written: list[CellPublic] = []
    problems: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for n, edit in enumerate(edits):
        key = (edit.record_id, str(edit.column.id))
        where = {"index": n, "record_id": edit.record_id, "column_id": str(edit.column.id)}
        if key in seen:
            problems.append({**where, "problem": "invalid", "message": "the same cell twice in one block"})
            continue
        seen.add(key)
        if edit.value is None and edit.column.required:
            problems.append({**where, "problem": "invalid", "message": f'Column "{edit.column.name}" is required'})
            continue
        try:
            written.append(await update_cell(conn, table, edit.record_id, str(edit.column.id), value=edit.value,
                                             version=edit.version, account_id=account_id))
        except Conflict as exc:
            problems.append({**where, "problem": "conflict", "message": exc.message,
                             "current": exc.details.get("current")})
        except NotFound as exc:
            problems.append({**where, "problem": "not_found", "message": exc.message})
        except Invalid as exc:
            problems.append({**where, "problem": "invalid", "message": exc.message})
    if problems:
        raise Conflict(f"{len(problems)} of {len(edits)} cells could not be written; nothing was saved",
                       cells=problems)
    return written
