"""The history purge: deleted rows and removed columns older than the keeping time can no longer be
reverted, and a removed column's values leave the rows; younger ones stay recoverable."""

from sqlalchemy import text

from db import accounts, history_read, records, tables
from db.engine import transaction
from db.errors import Invalid
from db.schemas import ColumnCreate
from proposals.revert import plan_revert
from worker.purge import purge_history


async def test_purge_forgets_old_deletions_and_keeps_young_ones(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"pg{unique}", password="pw-12345678")
        ws = (await accounts.create_workspace(conn, owner_id=acc))["id"]
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws, name="Old", columns=[
            ColumnCreate(name="Name", type="text"), ColumnCreate(name="Note", type="text")])
        ids = await records.create_records(conn, t, [{"Name": f"n{i}", "Note": f"note {i}"} for i in range(3)])
    note = str(next(c.id for c in t.columns if c.name == "Note"))
    async with transaction(acc, engine=engine) as conn:
        await records.delete_records(conn, t.id, [ids[0]])
    async with transaction(acc, engine=engine) as conn:
        await tables.delete_column(conn, t.id, note)
    async with transaction(acc, engine=engine) as conn:
        await records.delete_records(conn, t.id, [ids[1]])  # young: stays recoverable
        listed = await history_read.list_changes(conn, t.id)
    young, column_gone, old_row = listed[0]["id"], listed[1]["id"], listed[2]["id"]
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE changes SET created_at = now() - interval '31 days' WHERE table_id = :t "
                                "AND kind IN ('record', 'column') AND op = 'delete' AND record_id IS DISTINCT FROM :r"),
                           {"t": t.id, "r": ids[1]})

    stats = await purge_history(engine, 30)
    assert stats["rows"] >= 1 and stats["columns"] >= 1 and stats["compacted"] == 1  # the one row left with a Note

    async with transaction(acc, engine=engine) as conn:
        for gone in (old_row, column_gone):
            try:
                await plan_revert(conn, gone)
                raise AssertionError("reverted a purged change")
            except Invalid as exc:
                assert "Nothing of this change is left" in exc.message
        assert (await plan_revert(conn, young)).reverted["rows_restored"] == 1
        left = (await conn.execute(text("SELECT count(*) FROM records WHERE table_id = :t AND data ? :c"),
                                   {"t": t.id, "c": note})).scalar_one()
    assert left == 0
