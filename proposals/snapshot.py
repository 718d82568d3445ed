"""What a proposal is checked and previewed against: the table, a page of its rows, the row count,
and the rows the proposal touches."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from db import records as db_records
from db import tables as db_tables
from db.schemas import RecordPublic, TablePublic

CONTEXT_ROWS = 50


class TableSnapshot(BaseModel):
    """`rows` holds a page of the table in order, plus every row the proposal refers to."""

    table: TablePublic
    rows: list[RecordPublic] = Field(default_factory=list)
    total_rows: int = 0

    def row_map(self) -> dict[int, RecordPublic]:
        return {r.id: r for r in self.rows}


async def load_snapshot(
    conn: AsyncConnection, table_id: object, *, row_ids: Iterable[int] = (), context_rows: int = CONTEXT_ROWS
) -> TableSnapshot:
    """The table, its first `context_rows` rows and the rows `row_ids` (those that exist)."""
    table = await db_tables.get_table(conn, table_id)
    page = await db_records.list_records(conn, table, limit=max(1, context_rows))
    rows = page.items[:context_rows]
    seen = {r.id for r in rows}
    wanted = sorted({int(i) for i in row_ids} - seen)
    if wanted:
        rows += await db_records.get_records(conn, table, wanted)
    return TableSnapshot(table=table, rows=rows, total_rows=page.total)
