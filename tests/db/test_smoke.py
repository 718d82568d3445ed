"""Service layer on real PostgreSQL: the happy path and the rules that guard data."""

import asyncio

import pytest

from db import accounts, changes, records, tables
from db.engine import transaction
from db.errors import Conflict, Invalid
from db.schemas import ColumnCreate


async def _account(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"u{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    return acc, ws


async def test_table_rows_cells_and_feed(engine, unique):
    acc, ws = await _account(engine, unique)
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws["id"], name="Bugs", columns=[
            ColumnCreate(name="Name", type="text", required=True),
            ColumnCreate(name="Priority", type="select", options=["P0", "P1"]),
            ColumnCreate(name="Points", type="number"),
        ])
        ids = await records.create_records(conn, t, [
            {"Name": "a", "Priority": "p0", "Points": "3"}, {"Name": "b"}, {"Name": "c"}])
        page = await records.list_records(conn, t, limit=2)
    assert page.total == 3 and len(page.items) == 2
    name, prio, pts = (str(c.id) for c in t.columns)
    assert page.items[0].cells[prio].value == "P0" and page.items[0].cells[pts].value == 3

    async with transaction(acc, engine=engine) as conn:
        cell = await records.update_cell(conn, t.id, ids[1], name, value="B", version=0)
        assert cell.version == 1
        with pytest.raises(Conflict):
            await records.update_cell(conn, t.id, ids[1], name, value="BB", version=0)
        with pytest.raises(Invalid) as bad:
            await records.update_cell(conn, t.id, ids[1], pts, value="lots", version=0)
        assert "Points" in bad.value.message
        await records.delete_records(conn, t.id, [ids[2]])
        feed = await changes.read_changes(conn, t, cursor=0)
    kinds = [(c.kind, c.op) for c in feed.changes]
    assert kinds[0] == ("table", "insert")
    assert kinds[-2:] == [("cell", "update"), ("record", "delete")]
    assert [c.seq for c in feed.changes] == sorted(c.seq for c in feed.changes)


async def test_concurrent_cell_updates_one_wins(engine, unique):
    acc, ws = await _account(engine, unique)
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws["id"], name="T",
                                      columns=[ColumnCreate(name="N", type="number")])
        (rid,) = await records.create_records(conn, t, [{"N": 1}])
    col = str(t.columns[0].id)

    async def edit(v):
        async with transaction(acc, engine=engine) as conn:
            return await records.update_cell(conn, t.id, rid, col, value=v, version=0)

    results = await asyncio.gather(edit(10), edit(20), return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    winner = next(r for r in results if not isinstance(r, Exception))
    async with transaction(acc, engine=engine) as conn:
        rec = await records.get_record(conn, t, rid)
    assert rec.cells[col].value == winner.value and rec.cells[col].version == 1
