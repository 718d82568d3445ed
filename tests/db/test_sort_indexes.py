"""Sort indexes of big tables: a request only notes the sort; `maintain`, as the schema owner, builds the
index CONCURRENTLY, the sorted page (as the app, under row-level security) then reads it, and the index
goes when its column does."""

from __future__ import annotations

from sqlalchemy import text

from db import accounts, records, tables
from db.engine import transaction
from db.record_query import Sort, build
from db.schemas import ColumnCreate
from db.sort_indexes import index_name, maintain

ROWS = 10_000


async def _big_table(engine, unique, rows=ROWS):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"six{unique}", password="a long passphrase")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws["id"], name="Big", columns=[
            ColumnCreate(name="Company", type="text"), ColumnCreate(name="Amount", type="number")])
        await records.create_records(conn, t, [{"Company": f"Co {n % 977}", "Amount": n % 1013} for n in range(rows)])
    return acc, t


async def _demand(engine, table_id):
    async with transaction(None, engine=engine) as conn:
        return (await conn.execute(text("SELECT kind, descending, hits FROM sort_demand WHERE table_id = :t "
                                        "ORDER BY kind"), {"t": table_id})).all()


async def _plan(engine, acc, t, sort):
    async with transaction(acc, engine=engine) as conn:
        q = build(t.columns, sort=sort)
        rows = await conn.execute(text(
            f"EXPLAIN SELECT r.id FROM records r WHERE r.table_id = '{t.id}'::uuid "
            f"ORDER BY {', '.join(q.order)} LIMIT 100"))
        return "\n".join(r[0] for r in rows)


async def test_a_sort_is_noted_then_indexed_by_the_maintenance_step(engine, services, unique):
    acc, t = await _big_table(engine, unique)
    by_amount = [Sort(column="Amount", direction="desc")]
    async with transaction(acc, engine=engine) as conn:
        page = await records.list_records(conn, t, sort=by_amount)
        await records.list_records(conn, t, sort=by_amount)
        await records.list_records(conn, t, sort=[Sort(column="Company"), Sort(column="Amount")])
        await records.list_records(conn, t, sort=by_amount, offset=100)  # a later page is not counted
    amounts = [i.cells[str(t.columns[1].id)].value for i in page.items]
    assert amounts == sorted(amounts, reverse=True)
    assert await _demand(engine, t.id) == [("jsonb", True, 2), ("text", False, 1)]
    assert "ix_sort_" not in await _plan(engine, acc, t, by_amount)

    done = await maintain(services.owner_url)
    amount = index_name(t.columns[1].id, "jsonb", True)
    company = index_name(t.columns[0].id, "text", False)
    assert {amount, company} <= set(done["built"])
    assert f"Index Scan using {amount}" in await _plan(engine, acc, t, by_amount)
    assert company in await _plan(engine, acc, t, [Sort(column="Company"), Sort(column="Amount")])
    async with transaction(acc, engine=engine) as conn:  # the same page as before, now from the index
        again = await records.list_records(conn, t, sort=by_amount)
    assert [i.id for i in again.items] == [i.id for i in page.items]
    assert await _demand(engine, t.id) == [("jsonb", True, 2), ("text", False, 1)]  # no more writes once built
    async with transaction(acc, engine=engine) as conn:
        await records.list_records(conn, t, sort=by_amount)
    assert await _demand(engine, t.id) == [("jsonb", True, 2), ("text", False, 1)]

    async with transaction(acc, engine=engine) as conn:
        await tables.delete_column(conn, t.id, t.columns[1].id)
    done = await maintain(services.owner_url)
    assert amount in done["dropped"] and company not in done["dropped"]
    assert await _demand(engine, t.id) == [("text", False, 1)]


async def test_small_tables_and_other_peoples_tables_note_nothing(engine, unique):
    acc, small = await _big_table(engine, unique, rows=50)
    async with transaction(acc, engine=engine) as conn:
        await records.list_records(conn, small, sort=[Sort(column="Amount")])
    assert await _demand(engine, small.id) == []
    _, big = await _big_table(engine, unique + "b")
    async with transaction(acc, engine=engine) as conn:  # tc_note_sort checks the table is the caller's
        await conn.execute(text("SELECT tc_note_sort(:t, :c, 'jsonb', false)"),
                           {"t": big.id, "c": big.columns[1].id})
    assert await _demand(engine, big.id) == []
