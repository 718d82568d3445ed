"""Bulk insert for imports: rows are streamed with binary COPY into a temporary staging table and moved
into `records` by one INSERT … SELECT, so row-level security and the change-feed triggers apply exactly
as for `records.create_records` (PostgreSQL refuses COPY into a table with row-level security)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db import ai_cells
from db.coerce import coerce
from db.errors import Invalid
from db.records import ColumnIndex, RowsAdded, _ai_meta
from db.schemas import TablePublic

# The event loop gets a turn after this many rows, so a large import does not stall other requests.
YIELD_EVERY = 1000
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class RowCoercer:
    """Turn rows keyed by column name or id into stored `(data, meta)` documents, row by row.
    Each key is resolved once per call site, not once per value: that is most of the speed of a bulk load."""

    def __init__(self, table: TablePublic, jobs: Mapping[str, str] | None = None):
        self.index = ColumnIndex(table.columns)
        self.columns = table.columns
        self.required = [c for c in table.columns if c.required and c.ai is None]
        self.ai_ids = {str(c.id) for c in table.columns if c.ai is not None}
        self.jobs = dict(jobs or {})
        self.given: dict[str, list[int]] = {}  # AI column id → positions (0-based) of rows that gave a value
        self._seen = 0
        self._keys: dict[str, tuple[str, dict[str, Any], bool]] = {}
        self._plain_meta = _dumps(_ai_meta(table.columns, {}, self.jobs))

    def _column(self, key: str) -> tuple[str, dict[str, Any], bool]:
        found = self._keys.get(key)
        if found is None:
            col = self.index.get(key)
            found = self._keys[key] = (str(col.id), col.model_dump(), col.ai is not None)
        return found

    def data(self, values: Mapping[str, Any], *, coerced: bool = False) -> dict[str, Any]:
        """The stored values of one row, keyed by column id; Invalid when a value or a required one is bad."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            cid, col, is_ai = self._column(key)
            if is_ai and value is None:
                continue
            stored = value if coerced else coerce(col, value)
            if stored is not None:
                out[cid] = stored
        for col in self.required:
            if out.get(str(col.id)) is None:
                raise Invalid(f'Column "{col.name}" is required', column=col.name)
        return out

    def meta_json(self, data: Mapping[str, Any]) -> str:
        """The cell-state document of the next new row as JSON (AI cells pending in their job, or pinned
        when given)."""
        position, self._seen = self._seen, self._seen + 1
        if not self.ai_ids or not self.ai_ids.intersection(data):
            return self._plain_meta
        for key in self.ai_ids.intersection(data):
            self.given.setdefault(key, []).append(position)
        return _dumps(_ai_meta(self.columns, data, self.jobs))


async def _staged(rows: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
                  coercer: RowCoercer, coerced: bool) -> AsyncIterator[tuple[int, str, str]]:
    async def each() -> AsyncIterator[Mapping[str, Any]]:
        if isinstance(rows, AsyncIterable):
            async for row in rows:
                yield row
        else:
            for row in rows:
                yield row

    n = 0
    async for values in each():
        n += 1
        try:
            data = coercer.data(values, coerced=coerced)
        except Invalid as exc:
            raise Invalid(f"Row {n}: {exc.message}", row=n, **exc.details) from None
        yield n, _dumps(data), coercer.meta_json(data)
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)


Rows = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]]


async def copy_records(conn: AsyncConnection, table: TablePublic, rows: Rows, *, coerced: bool = False) -> int:
    """Insert rows (keyed by column name or id) in their order, as one statement; returns how many.
    Values are coerced per column type unless `coerced`; a bad row raises Invalid naming it, and
    nothing of the call is kept once the caller rolls back. AI cells are left `pending` without a
    job: `copy_new_rows` also queues them."""
    count, _ = await _copy(conn, table, rows, RowCoercer(table), coerced=coerced, returning=False)
    return count


async def copy_new_rows(conn: AsyncConnection, table: TablePublic, rows: Rows, *, coerced: bool = False,
                        thread_id: str | None = None) -> RowsAdded:
    """`copy_records`, then the new rows' AI cells queued (one fill job per AI column, in this
    transaction), as `records.add_records` does."""
    jobs = await ai_cells.open_new_row_jobs(conn, table, thread_id=thread_id)
    coercer = RowCoercer(table, jobs)
    _, ids = await _copy(conn, table, rows, coercer, coerced=coerced, returning=True)
    given = {c: {ids[n] for n in positions} for c, positions in coercer.given.items()}
    return RowsAdded(ids, await ai_cells.close_new_row_jobs(conn, jobs, ids, given))


async def _copy(conn: AsyncConnection, table: TablePublic, rows: Rows, coercer: RowCoercer, *, coerced: bool,
                returning: bool) -> tuple[int, list[int]]:
    """How many rows went in, and (`returning`) their ids in order."""
    stage = f"tc_bulk_{secrets.token_hex(6)}"
    # ON COMMIT DROP: a failed call leaves nothing behind once the caller's transaction ends.
    await conn.execute(text(f"CREATE TEMP TABLE {stage} (n bigint, data jsonb, meta jsonb) ON COMMIT DROP"))
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(
        stage, records=_staged(rows, coercer, coerced), columns=["n", "data", "meta"]
    )
    res = await conn.execute(
        text(
            f"INSERT INTO records (table_id, workspace_id, data, meta) "
            f"SELECT :t, :w, data, meta FROM {stage} ORDER BY n" + (" RETURNING id" if returning else "")
        ),
        {"t": table.id, "w": table.workspace_id},
    )
    ids = sorted(res.scalars().all()) if returning else []
    await conn.execute(text(f"DROP TABLE {stage}"))
    return (len(ids) if returning else res.rowcount), ids
