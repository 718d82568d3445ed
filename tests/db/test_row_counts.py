"""Row counts kept by triggers: right after inserts (plain and COPY), deletes and a rolled-back
transaction; gone with their table; visible only to the table's workspace."""

from sqlalchemy import text

from db import accounts, bulk, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate

COLUMNS = [ColumnCreate(name="Name", type="text")]


async def _owner(engine, unique, tag):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"rc{tag}{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    return acc, ws["id"]


async def _counts(engine, acc, ws):
    async with transaction(acc, engine=engine) as conn:
        return {t.name: t.row_count for t in await tables.list_tables(conn, workspace_id=ws)}


async def test_counts_follow_inserts_copies_deletes_and_rollbacks(engine, unique):
    acc, ws = await _owner(engine, unique, "a")
    async with transaction(acc, engine=engine) as conn:
        one = await tables.create_table(conn, workspace_id=ws, name="One", columns=COLUMNS)
        two = await tables.create_table(conn, workspace_id=ws, name="Two", columns=COLUMNS)
        empty = await tables.create_table(conn, workspace_id=ws, name="Empty", columns=COLUMNS)
        made = await records.create_records(conn, one, [{"Name": f"r{i}"} for i in range(5)])
        await bulk.copy_records(conn, two, [{"Name": f"c{i}"} for i in range(1200)])
    assert await _counts(engine, acc, ws) == {"One": 5, "Two": 1200, "Empty": 0}

    async with transaction(acc, engine=engine) as conn:
        await records.delete_records(conn, one.id, made[:2])
    try:
        async with transaction(acc, engine=engine) as conn:
            await records.create_records(conn, one, [{"Name": "gone"}] * 3)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert (await _counts(engine, acc, ws))["One"] == 3

    async with transaction(acc, engine=engine) as conn:
        await tables.delete_table(conn, two.id)
        left = (await conn.execute(text("SELECT count(*) FROM table_row_counts WHERE table_id = :t"),
                                   {"t": two.id})).scalar_one()
    assert left == 0 and await _counts(engine, acc, ws) == {"One": 3, "Empty": 0}
    assert empty.id


async def test_another_workspace_sees_no_counts(engine, unique):
    acc, ws = await _owner(engine, unique, "b")
    other, _ = await _owner(engine, unique, "c")
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws, name="Mine", columns=COLUMNS)
        await records.create_records(conn, t, [{"Name": "x"}])
    async with transaction(other, engine=engine) as conn:
        seen = (await conn.execute(text("SELECT count(*) FROM table_row_counts WHERE table_id = :t"),
                                   {"t": t.id})).scalar_one()
    assert seen == 0
