"""What starts a fill and what a fill touches: scopes, hand-edited cells, new rows, and source cells
that change before, during or after a computation."""

import asyncio

from fakes.cell_llm import expected
from sqlalchemy import text
from workerkit import cells, expected_values, make_sheet, quiet_cells, wait_job

import jobs
from db import ai_cells, records, tables
from db.engine import transaction
from db.schemas import AiConfig, ColumnCreate


async def _fill(engine, sheet, scope, column="Out"):
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, sheet.col(column), scope)
    return await wait_job(engine, job.id)


async def _edit(engine, sheet, rid, column, value):
    async with transaction(sheet.account, engine=engine) as conn:
        rec = await records.get_record(conn, sheet.table, rid)
        key = sheet.col(column)
        return await records.update_cell(conn, sheet.table.id, rid, key, value=value,
                                         version=rec.cells[key].version)


def _sent(fake):
    return {int(k): v for k, v in fake.stats()["rows"].items()}


async def test_scopes_pick_their_cells_and_leave_hand_edits_alone(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 12)
    ids = sheet.ids
    fake.configure(poison="product 11 ")  # the one row whose description names product 11 (row 9) is refused
    first = await _fill(engine, sheet, "all")
    assert (first["done"], first["failed"]) == (11, 1)
    await _edit(engine, sheet, ids[0], "Out", "written by hand")
    await _edit(engine, sheet, ids[1], "Description", "a new description")  # Out of row 1 goes stale
    async with transaction(sheet.account, engine=engine) as conn:
        (new_row,) = await records.create_records(conn, sheet.table, [{"Name": "late", "Description": "late one"}])
    got = await cells(engine, sheet)
    assert got[ids[0]]["p"] is True and got[ids[1]]["s"] == "stale" and got[ids[9]]["s"] == "error"
    assert got[new_row]["s"] == "pending"

    for scope, rows in (("failed", {ids[9]}), ("stale", {ids[1]}), ("empty", {new_row})):
        fake.reset()
        job = await _fill(engine, sheet, scope)
        assert set(_sent(fake)) == rows and job["total"] == len(rows) == job["done"], scope
    fake.reset()
    everything = await _fill(engine, sheet, "all")
    assert everything["total"] == 12 and ids[0] not in _sent(fake)  # 13 rows, the hand-edited one kept
    got = await cells(engine, sheet)
    assert got[ids[0]]["value"] == "written by hand" and got[ids[0]]["p"] is True
    assert {rid: c["value"] for rid, c in got.items() if rid != ids[0]} == {
        rid: v for rid, v in expected_values(sheet, got).items() if rid != ids[0]}

    fake.reset()
    chosen = await _fill(engine, sheet, [ids[0], ids[5]])  # naming the row regenerates a hand edit
    got = await cells(engine, sheet)
    assert chosen["done"] == 2 and set(_sent(fake)) == {ids[0], ids[5]}
    assert got[ids[0]]["value"] == expected_values(sheet, got)[ids[0]] and not got[ids[0]].get("p")


async def test_nothing_to_fill_is_a_finished_job_and_a_plain_column_is_refused(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 3)
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, "out", "failed")  # by name, any case
        assert (job.status, job.total) == ("completed", 0)
        for bad_column, bad_scope, message in (("Name", "all", "not an AI column"),
                                               ("Out", "everything", "scope is")):
            try:
                await jobs.start_fill(conn, sheet.table.id, bad_column, bad_scope)
            except Exception as exc:  # noqa: BLE001 - the message is what a caller shows
                assert message in str(exc)
            else:
                raise AssertionError("accepted")


async def test_new_rows_and_a_new_ai_column_are_queued_and_filled(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 5)
    async with transaction(sheet.account, engine=engine) as conn:
        new_ids = await records.create_records(conn, sheet.table, [{"Description": f"new {n}"} for n in range(7)])
        (job_id,) = await ai_cells.fill_new_rows(conn, sheet.table, new_ids)
        col = await tables.create_column(conn, sheet.table.id, ColumnCreate(
            name="Count", type="number", ai=AiConfig(prompt="How many words in {Description}?")))
        column_job = await ai_cells.start_fill(conn, sheet.table.id, col.id, "all", reason="new_column")
        sheet.table = await tables.get_table(conn, sheet.table.id)
    assert (await wait_job(engine, job_id))["done"] == 7
    assert (await wait_job(engine, column_job["id"]))["done"] == 12
    got = await cells(engine, sheet)
    assert all(got[rid]["value"] == expected_values(sheet, got)[rid] for rid in new_ids)
    counts = await cells(engine, sheet, "Count")
    assert {rid: c["value"] for rid, c in counts.items()} == expected_values(sheet, counts, "Count")


async def test_an_edit_during_the_call_discards_the_result_and_recomputes(engine, unique, pipeline, fake):
    fake.configure(latency_s=0.8)
    sheet = await make_sheet(engine, unique, 20)
    ids = sheet.ids
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, sheet.col("Out"), "all")
    while (await cells(engine, sheet))[ids[4]].get("s") != "computing":
        await asyncio.sleep(0.02)
    await _edit(engine, sheet, ids[4], "Description", "edited while computing")
    # and one change that goes around the write path: the input hash catches it when the result lands
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE records SET data = jsonb_set(data, ARRAY[:c], '\"changed behind its back\"') "
                                "WHERE id = :r"), {"c": sheet.col("Description"), "r": ids[15]})
    done = await wait_job(engine, job.id)
    got = await quiet_cells(engine, sheet)
    assert (done["status"], done["done"], done["failed"]) == ("completed", 20, 0)
    spec = {"type": "text"}
    assert got[ids[4]]["value"] == expected(spec, {"Description": "edited while computing"})
    assert got[ids[15]]["value"] == expected(spec, {"Description": "changed behind its back"})
    assert {rid: c["value"] for rid, c in got.items()} == expected_values(sheet, got)
    sent = _sent(fake)
    assert sent[ids[4]] == sent[ids[15]] == 2 and sent[ids[0]] == 1
    assert got[ids[4]]["v"] == got[ids[15]]["v"] == 1  # the stale results were never written


async def test_auto_update_recomputes_once_after_a_burst_of_edits(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 4, auto_update=True)
    await _fill(engine, sheet, "all")
    fake.reset()
    for text_ in ("first", "second", "third and last"):
        await _edit(engine, sheet, sheet.ids[2], "Description", text_)
    got = await cells(engine, sheet)
    assert got[sheet.ids[2]]["s"] == "pending"  # queued, waiting out the debounce
    await asyncio.sleep(0.3)
    assert fake.stats()["calls"] == 0
    async with transaction(None, engine=engine) as conn:
        (auto_job,) = (await conn.execute(text("SELECT id FROM jobs WHERE table_id = :t AND reason = 'auto_update'"),
                                          {"t": sheet.table.id})).scalars().all()
    done = await wait_job(engine, auto_job)
    got = await cells(engine, sheet)
    assert done["done"] == 1 and _sent(fake) == {sheet.ids[2]: 1}
    assert got[sheet.ids[2]]["value"] == expected({"type": "text"}, {"Description": "third and last"})


async def test_without_auto_update_an_edit_leaves_the_cell_stale(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 3)
    await _fill(engine, sheet, "all")
    before = await cells(engine, sheet)
    await _edit(engine, sheet, sheet.ids[0], "Description", "something else")
    await asyncio.sleep(1.5)
    got = await cells(engine, sheet)
    assert got[sheet.ids[0]]["s"] == "stale" and got[sheet.ids[0]]["value"] == before[sheet.ids[0]]["value"]
    assert fake.stats()["calls"] == 3 // 10 + 1  # only the first fill


async def test_a_chain_of_ai_columns_settles_on_the_final_values(engine, unique, pipeline, fake):
    score = ColumnCreate(name="Score", type="number",
                         ai=AiConfig(prompt="Score {Out}", depends_on=["Out"], auto_update=True))
    sheet = await make_sheet(engine, unique, 15, extra_ai=[score])
    async with transaction(sheet.account, engine=engine) as conn:
        both = [await jobs.start_fill(conn, sheet.table.id, sheet.col(c), "all") for c in ("Out", "Score")]
    for job in both:
        await wait_job(engine, job.id)
    deadline = asyncio.get_running_loop().time() + 20
    while True:  # Score cells computed from an empty Out go stale, and are computed again
        out, scores = await cells(engine, sheet), await cells(engine, sheet, "Score")
        if all(c["s"] == "completed" for c in (*out.values(), *scores.values())):
            break
        assert asyncio.get_running_loop().time() < deadline, scores
        await asyncio.sleep(0.1)
    spec = {"type": "number"}
    assert all(scores[rid]["value"] == expected(spec, {"Out": out[rid]["value"]}) for rid in sheet.ids)
