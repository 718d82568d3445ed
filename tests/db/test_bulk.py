"""Bulk insert through COPY: same rows and feed as create_records, bad rows named, RLS still applies."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db import accounts, bulk, changes, records, tables
from db.engine import transaction
from db.errors import Invalid
from db.schemas import AiConfig, ColumnCreate

COLUMNS = [
    ColumnCreate(name="Name", type="text", required=True),
    ColumnCreate(name="Score", type="number"),
    ColumnCreate(name="Done", type="boolean"),
    ColumnCreate(name="Due", type="date"),
    ColumnCreate(name="Stage", type="select", options=["Lead", "Won"]),
    ColumnCreate(name="Tags", type="multi_select", options=["a", "b"]),
]
ROWS = [
    {"Name": "Ada", "Score": "1,200", "Done": "yes", "Due": "2024-02-29", "Stage": "won", "Tags": "a, b"},
    {"Name": "Bob", "Score": 3.0, "Done": False, "Stage": "Lead", "Tags": []},
    {"Name": "Cy", "Score": None, "Due": "2024-03-01T10:00:00Z", "Tags": ["b"]},
]


async def _owner(engine, unique, tag=""):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"bulk{tag}{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    return acc, ws


async def _table(engine, acc, ws, name, columns=COLUMNS):
    async with transaction(acc, engine=engine) as conn:
        return await tables.create_table(conn, workspace_id=ws["id"], name=name, columns=columns)


def _values(page):
    return [{cid: (c.value, c.version, c.status) for cid, c in r.cells.items()} for r in page.items]


async def test_copy_stores_what_create_records_stores_in_order_with_feed(engine, unique):
    acc, ws = await _owner(engine, unique)
    plain = await _table(engine, acc, ws, "Plain")
    copied = await _table(engine, acc, ws, "Copied")
    async with transaction(acc, engine=engine) as conn:
        await records.create_records(conn, plain, ROWS)
        before = await tables.current_seq(conn, copied.id)
        assert await bulk.copy_records(conn, copied, ROWS * 400) == 1200
    async with transaction(acc, engine=engine) as conn:
        want = await records.list_records(conn, plain, limit=3)
        got = await records.list_records(conn, copied, limit=1000)
        feed = await changes.read_changes(conn, copied, cursor=before, limit=1000)

    by_name = {c.name: str(c.id) for c in copied.columns}
    plain_ids = {str(c.id): c.name for c in plain.columns}
    renamed = [{by_name[plain_ids[cid]]: v for cid, v in row.items()} for row in _values(want)]
    assert got.total == 1200
    assert _values(got)[:3] == renamed
    assert got.items[0].cells[by_name["Score"]].value == 1200
    assert got.items[0].cells[by_name["Tags"]].value == ["a", "b"]
    assert [r.cells[by_name["Name"]].value for r in got.items[:6]] == ["Ada", "Bob", "Cy"] * 2
    assert [r.id for r in got.items] == sorted(r.id for r in got.items)
    inserted = [c for c in feed.changes if (c.kind, c.op) == ("record", "insert")]
    assert [c.record_id for c in inserted] == [r.id for r in got.items[:len(inserted)]]
    assert len(inserted) == 1000 and feed.more


async def test_bad_row_is_named_and_nothing_is_kept(engine, unique):
    acc, ws = await _owner(engine, unique)
    t = await _table(engine, acc, ws, "Strict")
    rows = [*ROWS, {"Name": "Dee", "Stage": "Maybe"}]
    with pytest.raises(Invalid) as bad:
        async with transaction(acc, engine=engine) as conn:
            await bulk.copy_records(conn, t, rows)
    assert bad.value.message.startswith("Row 4:") and "Stage" in bad.value.message
    with pytest.raises(Invalid) as missing:
        async with transaction(acc, engine=engine) as conn:
            await bulk.copy_records(conn, t, [{"Score": 1}])
    assert "Name" in missing.value.message
    async with transaction(acc, engine=engine) as conn:
        assert await records.count_records(conn, t.id) == 0
        assert await bulk.copy_records(conn, t, ROWS[:1]) == 1
        leftovers = await conn.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'tc_bulk_%'"))
        assert leftovers.scalar_one() == 0


async def test_async_rows_and_ai_cells(engine, unique):
    acc, ws = await _owner(engine, unique)
    t = await _table(engine, acc, ws, "Ai", columns=[
        ColumnCreate(name="Name", type="text"),
        ColumnCreate(name="Summary", type="text", ai=AiConfig(prompt="Sum {Name}", depends_on=["Name"])),
    ])

    async def stream():
        yield {"Name": "x"}
        yield {"Name": "y", "Summary": "given by hand"}

    async with transaction(acc, engine=engine) as conn:
        assert await bulk.copy_records(conn, t, stream()) == 2
        page = await records.list_records(conn, t)
    summary = str(t.columns[1].id)
    first, second = (r.cells[summary] for r in page.items)
    assert (first.status, first.value, first.pinned) == ("pending", None, False)
    assert (second.status, second.value, second.pinned) == ("completed", "given by hand", True)


async def test_row_level_security_still_guards_the_copy(engine, unique):
    acc, ws = await _owner(engine, unique)
    stranger, _ = await _owner(engine, unique, tag="x")
    t = await _table(engine, acc, ws, "Mine")
    with pytest.raises(DBAPIError, match="row-level security"):
        async with transaction(stranger, engine=engine) as conn:
            await bulk.copy_records(conn, t, ROWS)
    async with transaction(acc, engine=engine) as conn:
        assert await records.count_records(conn, t.id) == 0
