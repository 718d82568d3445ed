"""Data-layer metrics of SPEC §10 on a 100,000-row × 10-column table (1M cells), each against the
cell-per-row layout (bench/eav.py) or the bare query it is built on, measured in the same run.

Long because each metric sits beside the baseline it is measured against in the same run.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench import dataset, eav
from bench.client import open_access
from bench.context import Bench
from bench.harness import Result, interleaved, metric, pct
from db import ai_cells, bulk, records, tables
from db.engine import make_engine, transaction
from db.schemas import AiConfig, ColumnCreate, TablePublic

CHUNK = 5000
MB = 1024 * 1024
EDITED = "Company"

# The floor of a versioned cell edit in this layout: one conditional UPDATE of one row, nothing else.
RAW_EDIT = """
UPDATE records SET
  data = jsonb_set(data, ARRAY[CAST(:c AS text)], to_jsonb(CAST(:v AS text))),
  meta = jsonb_set(meta, ARRAY[CAST(:c AS text)],
                   coalesce(meta -> CAST(:c AS text), '{}') || jsonb_build_object('v', :ver + 1)),
  updated_at = now()
WHERE id = :r AND table_id = :t AND coalesce((meta -> CAST(:c AS text) ->> 'v')::int, 0) = :ver
"""
BURST_EDIT = """
UPDATE records SET
  data = jsonb_set(data, ARRAY[CAST(:c AS text)], to_jsonb(CAST(:v AS text))),
  meta = jsonb_set(meta, ARRAY[CAST(:c AS text)], coalesce(meta -> CAST(:c AS text), '{}')
                   || jsonb_build_object('v', coalesce((meta -> CAST(:c AS text) ->> 'v')::int, 0) + 1)),
  updated_at = now()
WHERE table_id = :t AND id = ANY(:ids)
"""


@dataclass
class Loaded:
    """A loaded table and its record ids in row order."""

    table: TablePublic
    ids: list[int]

    def column(self, name: str) -> Any:
        return next(c.id for c in self.table.columns if c.name == name)


async def _dataset(bench: Bench) -> list[dict[str, Any]]:
    async def build() -> list[dict[str, Any]]:
        return list(dataset.rows(bench.scale.rows))

    return await bench.fixture("rows", build)


async def _new_table(bench: Bench, name: str) -> TablePublic:
    async with transaction(bench.account_id, engine=bench.engine) as conn:
        return await tables.create_table(conn, workspace_id=bench.workspace_id, name=name,
                                         columns=dataset.COLUMNS)


async def _copy(bench: Bench, table: TablePublic, rows: Sequence[dict[str, Any]]) -> int:
    async with transaction(bench.account_id, engine=bench.engine) as conn:
        return await bulk.copy_records(conn, table, rows)


async def _create_chunked(bench: Bench, table: TablePublic, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with transaction(bench.account_id, engine=bench.engine) as conn:
            await records.create_records(conn, table, rows[start:start + CHUNK])


async def _record_ids(bench: Bench, table: TablePublic) -> list[int]:
    async with transaction(None, engine=bench.engine) as conn:
        found = await conn.execute(text("SELECT id FROM records WHERE table_id = :t ORDER BY id"), {"t": table.id})
        return list(found.scalars())


async def _settle(bench: Bench, *relations: str) -> None:
    """VACUUM (ANALYZE) after a bulk load, as autovacuum soon would: latencies are measured in the
    steady state (fresh statistics, visibility map set), not in the minute right after an import."""
    async with bench.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text(f"VACUUM (ANALYZE) {', '.join(relations)}"))


async def _eav_schema(bench: Bench) -> None:
    await bench.fixture("eav_schema", lambda: eav.create_schema(bench.engine))


async def jsonb_table(bench: Bench) -> Loaded:
    """The 100k-row table in the app's layout (loaded by insert_100k_s, or here when it did not run)."""

    async def build() -> Loaded:
        table = await _new_table(bench, "Big")
        await _copy(bench, table, await _dataset(bench))
        await _settle(bench, "records", "changes")
        return Loaded(table, await _record_ids(bench, table))

    return await bench.fixture("jsonb", build)


async def eav_table(bench: Bench) -> Loaded:
    """The same rows in the cell-per-row layout."""

    async def build() -> Loaded:
        await _eav_schema(bench)
        table = await _new_table(bench, "Big (cells)")
        ids = await eav.insert(bench.engine, table, await _dataset(bench))
        await _settle(bench, "eav_records", "eav_cells", "eav_changes")
        return Loaded(table, ids)

    return await bench.fixture("eav", build)


def _seconds_since(start: float) -> float:
    return time.perf_counter() - start


@metric("insert_100k_s", unit="s", target="<= 8")
async def insert_100k(bench: Bench) -> Result:
    """Insert 100,000 rows × 10 mixed-type columns (coercion included) into the JSONB layout, by the
    faster of db.bulk's COPY path and create_records in chunks; baseline: the cell-per-row layout."""
    rows = await _dataset(bench)
    await _eav_schema(bench)
    warm, warm_cells, chunked = [await _new_table(bench, n) for n in ("Warm-up", "Warm-up (cells)", "Chunked")]
    await _copy(bench, warm, rows[:1000])
    await _create_chunked(bench, warm, rows[:1000])
    await eav.insert(bench.engine, warm_cells, rows[:1000])

    start = time.perf_counter()
    await _create_chunked(bench, chunked, rows)
    chunked_s = _seconds_since(start)

    # The measured loads start from empty relations, so that storage_100k_mb sees one table per layout.
    bench.drop("jsonb")
    bench.drop("eav")
    async with transaction(None, engine=bench.engine) as conn:
        await conn.execute(text("TRUNCATE records, changes, eav_cells, eav_records, eav_changes"))
        await conn.execute(text("DELETE FROM data_tables WHERE id = ANY(:ids)"),
                           {"ids": [warm.id, warm_cells.id, chunked.id]})

    big = await _new_table(bench, "Big")
    start = time.perf_counter()
    copied = await _copy(bench, big, rows)
    copy_s = _seconds_since(start)
    if copied != len(rows):
        raise RuntimeError(f"COPY stored {copied} of {len(rows)} rows")

    cells = await _new_table(bench, "Big (cells)")
    start = time.perf_counter()
    cell_ids = await eav.insert(bench.engine, cells, rows)
    eav_s = _seconds_since(start)

    await _settle(bench, "records", "changes", "eav_records", "eav_cells", "eav_changes")
    bench.provide("jsonb", Loaded(big, await _record_ids(bench, big)))
    bench.provide("eav", Loaded(cells, cell_ids))
    best = min(copy_s, chunked_s)
    return Result(
        value=best, baseline=eav_s,
        note=f"COPY {copy_s:.2f} s, create_records×{CHUNK} {chunked_s:.2f} s",
        extra={"path": "copy" if copy_s <= chunked_s else "create_records", "copy_s": copy_s,
               "create_records_s": chunked_s, "baseline_cells": len(rows) * len(big.columns)},
    )


@metric("storage_100k_mb", unit="MB", target=None)
async def storage_100k(bench: Bench) -> Result:
    """Size on disk (heap, TOAST, indexes) of the 100,000-row table in the JSONB layout, right after
    loading; baseline: the cell-per-row layout. The change feed is left out of both."""
    big = await jsonb_table(bench)
    await eav_table(bench)
    async with transaction(None, engine=bench.engine) as conn:
        row = (await conn.execute(text(
            "SELECT (SELECT count(*) FROM records), pg_total_relation_size('records'), "
            "pg_relation_size('records'), pg_indexes_size('records'), pg_total_relation_size('changes'), "
            "pg_total_relation_size('eav_cells'), pg_indexes_size('eav_cells')"))).one()
    count, total, heap, indexes, feed, cell_total, cell_indexes = row
    if count != len(big.ids):
        raise RuntimeError("records holds more than the measured table: run storage right after the load")
    eav_total = await eav.size_bytes(bench.engine)
    return Result(
        value=total / MB, baseline=eav_total / MB,
        note=f"heap {heap / MB:.0f} + indexes {indexes / MB:.0f} MB; cells' indexes {cell_indexes / MB:.0f} MB",
        extra={"heap_mb": heap / MB, "toast_mb": (total - heap - indexes) / MB, "indexes_mb": indexes / MB,
               "baseline_cells_mb": cell_total / MB, "baseline_cells_indexes_mb": cell_indexes / MB,
               "feed_mb": feed / MB},
    )


def _values_by_name(items: list[dict[str, Any]], table: TablePublic) -> list[dict[str, Any]]:
    names = {str(c.id): c.name for c in table.columns}
    return [{names[cid]: cell["value"] for cid, cell in item["cells"].items()} for item in items]


async def _jsonb_page(bench: Bench, table: TablePublic) -> list[Any]:
    """The same page straight from the JSONB layout, with no API or service layer around it."""
    async with transaction(None, engine=bench.engine) as conn:
        found = await conn.execute(
            text("SELECT id, data, meta FROM records WHERE table_id = :t ORDER BY id LIMIT 100"), {"t": table.id})
        items = [records.record_of(m, table.columns) for m in found.mappings()]
        await conn.execute(text("SELECT count(*) FROM records WHERE table_id = :t"), {"t": table.id})
    return items


@metric("first_page_ms", unit="ms", target="<= 50")
async def first_page(bench: Bench) -> Result:
    """Median time to get the first page (100 rows, with the total) of the 100,000-row table through
    the API; baseline: the same page assembled from the cell-per-row layout."""
    big, cells = await jsonb_table(bench), await eav_table(bench)
    s = bench.scale
    async with open_access(bench) as access:
        page = await access.first_page(big.table.id)
        items, total = await eav.first_page(bench.engine, cells.table)
        if page["total"] != len(big.ids) or total != len(cells.ids) or len(page["items"]) != 100:
            raise RuntimeError(f"first page: total {page['total']}, {len(page['items'])} items")
        if _values_by_name(page["items"], big.table) != _values_by_name(
                [i.model_dump(mode="json") for i in items], cells.table):
            raise RuntimeError("the two layouts disagree on the first page: the comparison would be void")
        got = await interleaved({
            "api": lambda: access.first_page(big.table.id),
            "cells": lambda: eav.first_page(bench.engine, cells.table),
            "bare": lambda: _jsonb_page(bench, big.table),
        }, n=s.page_calls, warmup=s.warmup)
    samples, base, raw = got["api"], got["cells"], got["bare"]
    return Result(
        value=statistics.median(samples), baseline=statistics.median(base),
        note=f"p95 {pct(samples, 95):.1f} ms (baseline {pct(base, 95):.1f}); bare JSONB page "
             f"{statistics.median(raw):.1f} ms",
        extra={"p95": pct(samples, 95), "baseline_p95": pct(base, 95), "jsonb_raw_ms": statistics.median(raw),
               "jsonb_raw_p95": pct(raw, 95), "calls": s.page_calls},
    )


async def _versions(bench: Bench, table: Loaded, column: Any, ids: list[int]) -> dict[int, int]:
    async with transaction(None, engine=bench.engine) as conn:
        found = await conn.execute(
            text("SELECT id, coalesce((meta -> CAST(:c AS text) ->> 'v')::int, 0) FROM records "
                 "WHERE table_id = :t AND id = ANY(:ids)"),
            {"c": str(column), "t": table.table.id, "ids": ids})
        return dict(found.all())


@metric("cell_edit_p99_ms", unit="ms", target="<= 20")
async def cell_edit(bench: Bench) -> Result:
    """p99 of a manual cell edit with its version (409 on a stale one) through the API, on the
    100,000-row table; baseline: a bare conditional single-row UPDATE of the cell on the same engine."""
    big, cells = await jsonb_table(bench), await eav_table(bench)
    s = bench.scale
    k = s.warmup + s.edits
    rnd = random.Random(11)
    picked = rnd.sample(big.ids, 2 * k)
    col, cell_col = big.column(EDITED), cells.column(EDITED)
    versions = await _versions(bench, big, col, picked)
    api_ids, raw_ids, eav_ids = iter(picked[:k]), iter(picked[k:]), iter(rnd.sample(cells.ids, k))

    async def bare() -> None:
        rid = next(raw_ids)
        async with bench.engine.begin() as conn:
            res = await conn.execute(text(RAW_EDIT), {"c": str(col), "v": f"Edited {rid}", "ver": versions[rid],
                                                      "r": rid, "t": big.table.id})
        if res.rowcount != 1:
            raise RuntimeError(f"bare edit of row {rid} changed {res.rowcount} rows")

    async def cell_row() -> None:
        rid = next(eav_ids)
        if not await eav.edit_cell(bench.engine, rid, cell_col, f"Edited {rid}", 0):
            raise RuntimeError(f"cell-layout edit of row {rid} found another version")

    async with open_access(bench) as access:
        async def via_api() -> None:
            rid = next(api_ids)
            cell = await access.edit_cell(big.table.id, rid, col, f"Edited {rid}", versions[rid])
            if (cell["value"], cell["version"]) != (f"Edited {rid}", versions[rid] + 1):
                raise RuntimeError(f"edit of row {rid} answered {cell}")

        got = await interleaved({"api": via_api, "bare": bare, "cells": cell_row}, n=s.edits, warmup=s.warmup)
    samples, base, per_cell = got["api"], got["bare"], got["cells"]
    return Result(
        value=pct(samples, 99), baseline=pct(base, 99),
        note=f"median {statistics.median(samples):.1f} ms; bare p99 in the cell layout "
             f"{pct(per_cell, 99):.1f} ms",
        extra={"median": statistics.median(samples), "baseline_median": statistics.median(base),
               "eav_p99_ms": pct(per_cell, 99), "eav_median_ms": statistics.median(per_cell),
               "edits": s.edits},
    )


@metric("updates_p95_ms", unit="ms", target="<= 20")
async def updates(bench: Bench) -> Result:
    """p95 of `updates?cursor=N` from recent cursors after a burst of cell edits, on the 100,000-row
    table (1M cells); baseline: a plain SELECT of the feed after N without the join."""
    big = await jsonb_table(bench)
    s = bench.scale
    rnd = random.Random(5)
    burst_ids = rnd.sample(big.ids, s.burst)
    columns = [big.column(n) for n in ("Company", "Notes")]
    step = max(1, s.burst // 10)
    for n, start in enumerate(range(0, s.burst, step)):
        async with transaction(bench.account_id, engine=bench.engine) as conn:
            await conn.execute(text(BURST_EDIT), {"c": str(columns[n % 2]), "v": f"Burst {n}",
                                                  "t": big.table.id, "ids": burst_ids[start:start + step]})
    async with transaction(None, engine=bench.engine) as conn:
        head = await tables.current_seq(conn, big.table.id)
    cursors = [head - rnd.randrange(0, s.burst + 1) for _ in range(s.warmup + s.feed_calls)]
    sizes: list[int] = []

    async with open_access(bench) as access:
        first = await access.updates(big.table.id, head - s.burst)
        seqs = [c["seq"] for c in first["changes"]]
        if not seqs or seqs != sorted(seqs) or seqs[0] <= head - s.burst or first["cursor"] != seqs[-1] \
                or any(c["kind"] != "cell" for c in first["changes"]):
            raise RuntimeError(f"the feed after the burst is not what was written: {seqs[:5]}…")
        # both read from the same cursors, so they return the same changes
        api_cursors, plain_cursors = iter(cursors), iter(cursors)

        async def via_api() -> None:
            page = await access.updates(big.table.id, next(api_cursors))
            sizes.append(len(page["changes"]))

        async def plain() -> None:
            async with bench.engine.connect() as conn:
                found = await conn.execute(
                    text("SELECT seq, kind, op, record_id, column_id, data FROM changes "
                         "WHERE table_id = :t AND seq > :cur ORDER BY seq LIMIT 501"),
                    {"t": big.table.id, "cur": next(plain_cursors)})
                found.all()

        got = await interleaved({"api": via_api, "plain": plain}, n=s.feed_calls, warmup=s.warmup)
    samples, base = got["api"], got["plain"]
    return Result(
        value=pct(samples, 95), baseline=pct(base, 95),
        note=f"median {statistics.median(samples):.1f} ms, {statistics.mean(sizes):.0f} changes a call",
        extra={"median": statistics.median(samples), "baseline_median": statistics.median(base),
               "changes_per_call": statistics.mean(sizes), "burst": s.burst, "calls": s.feed_calls},
    )


async def _timed_column_change(bench: Bench, loaded: Loaded, add_cells: str | None) -> tuple[float, float]:
    """Seconds to add an AI column with every existing row's cell queued, and to drop the column. In
    the JSONB layout that is the API's path: the column and its fill (job, pending cells, messages) in
    one transaction; `add_cells` queues them in the other layout. Runs on a new connection."""
    summary = ColumnCreate(name="Summary", type="text",
                           ai=AiConfig(prompt="Summarize {Notes} in 10 words", depends_on=["Notes"]))
    engine = make_engine(bench.url, pool_size=1, max_overflow=0)
    try:
        start = time.perf_counter()
        async with transaction(bench.account_id, engine=engine) as conn:
            col = await tables.create_column(conn, loaded.table.id, summary)
            if not add_cells:
                await ai_cells.start_fill(conn, loaded.table.id, col.id, "all", reason="new_column")
        if add_cells:
            async with transaction(None, engine=engine) as conn:
                await conn.execute(text(add_cells), {"c": col.id, "t": loaded.table.id})
        added = _seconds_since(start)
        start = time.perf_counter()
        async with transaction(bench.account_id, engine=engine) as conn:
            await tables.delete_column(conn, loaded.table.id, col.id)
        return added, _seconds_since(start)
    finally:
        await engine.dispose()
@metric("column_change_100k_s", unit="s", target=None)
async def column_change(bench: Bench) -> Result:
    """Add an AI column with its 100,000 cells queued (the column, its fill job, the pending cells and
    the job's messages, as the API does) and drop it again on the 100,000-row table in the JSONB
    layout; baseline: the same in the cell-per-row layout (cells inserted, then cascaded away)."""
    big, cells = await jsonb_table(bench), await eav_table(bench)
    add_s, drop_s = await _timed_column_change(bench, big, None)
    eav_add_s, eav_drop_s = await _timed_column_change(
        bench, cells, "INSERT INTO eav_cells (record_id, column_id, status) "
                      "SELECT id, :c, 'pending' FROM eav_records WHERE table_id = :t")
    return Result(
        value=add_s + drop_s, baseline=eav_add_s + eav_drop_s,
        note=f"add {add_s:.2f} + drop {drop_s:.3f} s; cell layout add {eav_add_s:.2f} + drop {eav_drop_s:.2f} s",
        extra={"add_s": add_s, "drop_s": drop_s, "baseline_add_s": eav_add_s, "baseline_drop_s": eav_drop_s},
    )
