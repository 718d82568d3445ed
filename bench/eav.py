"""The alternative layout, for baselines only: one row per cell as in seeds/000 and seeds/001, with the
keys, indexes and change-feed trigger such a layout needs. It lives in the bench database only.

Leaner than the seeds (no surrogate uuid per cell, no per-cell created_at), so it is the best case
for the cell-per-row design: every number it gives is a floor for that design, not a straw man."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.bulk import RowCoercer
from db.engine import transaction
from db.schemas import CellPublic, RecordPublic, TablePublic

SCHEMA = r"""
CREATE TABLE eav_records (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_id uuid NOT NULL REFERENCES data_tables (id) ON DELETE CASCADE,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ix_eav_records_table_id_id ON eav_records (table_id, id);

-- every cell of every row exists (seeds/000: "createRecord creates empty cells for all columns"),
-- since each one carries its own version and compute status
CREATE TABLE eav_cells (
  record_id bigint NOT NULL REFERENCES eav_records (id) ON DELETE CASCADE,
  column_id uuid NOT NULL REFERENCES columns (id) ON DELETE CASCADE,
  value jsonb,
  version integer NOT NULL DEFAULT 0,
  status varchar(10) NOT NULL DEFAULT 'idle',
  error text,
  pinned boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (record_id, column_id));
-- deleting a column cascades through it, and workers find a column's pending cells with it
CREATE INDEX ix_eav_cells_column_id_status ON eav_cells (column_id, status);

CREATE TABLE eav_changes (LIKE changes INCLUDING DEFAULTS INCLUDING IDENTITY);
ALTER TABLE eav_changes ADD PRIMARY KEY (seq);
CREATE INDEX ix_eav_changes_table_id_seq ON eav_changes (table_id, seq);

CREATE FUNCTION eav_records_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM new_rows ORDER BY 1) s;
  INSERT INTO eav_changes (table_id, workspace_id, kind, op, record_id)
  SELECT table_id, workspace_id, 'record', 'insert', id FROM new_rows ORDER BY id;
  RETURN NULL;
END $$;
CREATE TRIGGER eav_records_feed AFTER INSERT ON eav_records
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION eav_records_inserted();

CREATE FUNCTION eav_cells_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT r.table_id AS t FROM new_rows n
                                JOIN eav_records r ON r.id = n.record_id ORDER BY 1) s;
  INSERT INTO eav_changes (table_id, workspace_id, kind, op, record_id, column_id, data)
  SELECT r.table_id, r.workspace_id, 'cell', 'update', n.record_id, n.column_id,
         jsonb_build_object('value', n.value, 'version', n.version, 'status', n.status,
                            'error', n.error, 'pinned', n.pinned)
  FROM new_rows n JOIN eav_records r ON r.id = n.record_id ORDER BY n.record_id, n.column_id;
  RETURN NULL;
END $$;
CREATE TRIGGER eav_cells_feed AFTER UPDATE ON eav_cells
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION eav_cells_updated();
"""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


async def create_schema(engine: AsyncEngine) -> None:
    async with transaction(None, engine=engine) as conn:
        raw = await conn.get_raw_connection()
        # without arguments asyncpg sends the script as one simple query: several statements at once
        await raw.driver_connection.execute(SCHEMA)


async def insert(engine: AsyncEngine, table: TablePublic, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Store the rows cell by cell: one record row each, then every cell through binary COPY.
    Values are coerced exactly as the JSONB path coerces them. Returns the record ids in order."""
    coercer = RowCoercer(table)
    columns = [(c.id, str(c.id)) for c in table.columns]
    async with transaction(None, engine=engine) as conn:
        res = await conn.execute(
            text("INSERT INTO eav_records (table_id, workspace_id) "
                 "SELECT :t, :w FROM generate_series(1, :n) RETURNING id"),
            {"t": table.id, "w": table.workspace_id, "n": len(rows)},
        )
        ids = sorted(res.scalars().all())

        async def cells():
            for n, (rid, values) in enumerate(zip(ids, rows, strict=True)):
                data = coercer.data(values)
                for cid, key in columns:
                    value = data.get(key)
                    yield rid, cid, None if value is None else _dumps(value)
                if n % 1000 == 999:
                    await asyncio.sleep(0)

        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            "eav_cells", records=cells(), columns=["record_id", "column_id", "value"])
    return ids


async def first_page(engine: AsyncEngine, table: TablePublic, limit: int = 100) -> tuple[list[RecordPublic], int]:
    """The first `limit` rows with all their cells in one query, and the row count, as list_records does."""
    async with transaction(None, engine=engine) as conn:
        rows = await conn.execute(
            text("WITH page AS (SELECT id FROM eav_records WHERE table_id = :t ORDER BY id LIMIT :lim) "
                 "SELECT p.id, c.column_id, c.value, c.version, c.status, c.error, c.pinned "
                 "FROM page p JOIN eav_cells c ON c.record_id = p.id ORDER BY p.id"),
            {"t": table.id, "lim": limit},
        )
        cells: dict[int, dict[str, CellPublic]] = {}
        for rid, cid, value, version, status, error, pinned in rows.all():
            cells.setdefault(rid, {})[str(cid)] = CellPublic(value=value, version=version, status=status,
                                                             error=error, pinned=pinned)
        total = (await conn.execute(text("SELECT count(*) FROM eav_records WHERE table_id = :t"),
                                    {"t": table.id})).scalar_one()
    wanted = [str(c.id) for c in table.columns]
    return [RecordPublic(id=rid, cells={k: row.get(k, CellPublic()) for k in wanted})
            for rid, row in cells.items()], total


async def edit_cell(engine: AsyncEngine, record_id: int, column_id: Any, value: Any, version: int) -> bool:
    """Set one cell if it still has `version`: one conditional UPDATE of one small row."""
    async with transaction(None, engine=engine) as conn:
        res = await conn.execute(
            text("UPDATE eav_cells SET value = CAST(:v AS jsonb), version = version + 1, updated_at = now() "
                 "WHERE record_id = :r AND column_id = :c AND version = :ver"),
            {"v": _dumps(value), "r": record_id, "c": column_id, "ver": version},
        )
    return res.rowcount == 1


async def size_bytes(engine: AsyncEngine) -> int:
    """Heap, TOAST and indexes of the cell layout (its feed excluded, like the JSONB layout's)."""
    async with transaction(None, engine=engine) as conn:
        return (await conn.execute(text(
            "SELECT pg_total_relation_size('eav_records') + pg_total_relation_size('eav_cells')"))).scalar_one()
