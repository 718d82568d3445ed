"""The history of AI cells: a fill is one change set (its job), each value it wrote has its provenance
(model, rows as sent, raw answer, tokens, cost), a manual edit and a revert are versions of their own, and
reverting the fill brings the previous values back (empty cells idle again, not pinned)."""

from workerkit import cells, make_sheet, wait_job

import jobs
from db import history_read, records, tables
from db.engine import transaction
from proposals import store
from proposals.apply import apply
from proposals.revert import propose_revert


async def test_fill_is_a_change_set_with_provenance_and_reverts(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 30)
    out = sheet.col("Out")
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, out, "all")
    done = await wait_job(engine, job.id)
    assert done["done"] == 30
    first = sheet.ids[0]
    async with transaction(sheet.account, engine=engine) as conn:
        listed = await history_read.list_changes(conn, sheet.table.id)
        fill = next(i for i in listed if i["kind"] == "fill")
        assert fill["id"] == str(job.id) and fill["cells"] == 30 and fill["cost_usd"] > 0
        assert fill["actor"]["kind"] == "ai" and fill["actor"]["column_id"] == out and '"Out"' in fill["summary"]

        spent = await history_read.spend(conn, table_id=sheet.table.id)
        assert spent["columns"][out]["calls"] == 3 and spent["total_usd"] == spent["today_usd"] > 0
        assert abs(spent["total_usd"] - fill["cost_usd"]) < 1e-9
        usage = await history_read.usage(conn)
        (mine,) = [u for u in usage["tables"] if u["table_id"] == str(sheet.table.id)]
        assert mine["name"] == "Companies" and mine["columns"][0]["name"] == "Out"
        t = await tables.get_table(conn, sheet.table.id)
        await records.update_record(conn, t, sheet.ids[1], {"Out": "typed by hand"})
    async with transaction(sheet.account, engine=engine) as conn:
        versions = await history_read.cell_history(conn, sheet.table.id, first, t.columns[2].id)
    ai = versions[0]
    assert ai["source"]["kind"] == "ai" and ai["source"]["change_id"] == str(job.id)
    assert ai["source"]["model"] and ai["source"]["answer"] and ai["source"]["tokens"]["input"] > 0
    assert str(first) in ai["source"]["prompt"] and "Company 0 makes" in ai["source"]["prompt"]  # inputs as sent
    assert ai["source"]["cost_usd"] > 0 and ai["source"]["attempts"] >= 1 and ai["value"]
    assert versions[-1]["source"]["row_created"] and versions[-1]["value"] is None

    # reverting the fill: the values it wrote go, the hand-typed one is a conflict and stays
    async with transaction(sheet.account, engine=engine) as conn:
        stored, plan = await propose_revert(conn, job.id, account_id=sheet.account, thread_id=f"t{unique}")
        assert [(c.record_id, c.current) for c in plan.conflicts] == [(sheet.ids[1], "typed by hand")]
    async with transaction(sheet.account, engine=engine) as conn:
        stored = await store.get(conn, stored.id, account_id=sheet.account, thread_id=f"t{unique}")
        chosen = [i for i in range(len(plan.proposal.operations)) if i not in plan.unselected]
        result = await apply(conn, stored, chosen, sheet.account)
    assert result.status == "applied" and result.applied == 29, result.results[:3]
    got = await cells(engine, sheet)
    assert got[sheet.ids[1]]["value"] == "typed by hand"
    assert all(c["value"] is None and c["s"] == "idle" and not c.get("p")
               for rid, c in got.items() if rid != sheet.ids[1])
    async with transaction(sheet.account, engine=engine) as conn:
        versions = await history_read.cell_history(conn, sheet.table.id, first, t.columns[2].id)
    assert [v["source"]["kind"] for v in versions] == ["revert", "ai", "edit"]  # the row was added by hand
    assert versions[0]["value"] is None and versions[0]["source"]["reverts"] == str(job.id)
