"""Stopping a fill (the cost cap, a dead key) counts every cell it fails, even when two workers stop the
same job at once and cells went back to its queue in between."""

from sqlalchemy import text
from workerkit import cells, make_sheet

from db import ai_cells
from db.ai_cells import stopping
from db.engine import transaction

MESSAGE = "Stopped: the key was refused"


async def test_a_second_stopper_counts_the_cells_it_fails(engine, unique, monkeypatch):
    sheet = await make_sheet(engine, unique, 6)
    out = sheet.col("Out")
    async with transaction(sheet.account, engine=engine) as conn:
        job = await ai_cells.start_fill(conn, sheet.table, out, "all")
    assert job["total"] == 6
    computing = sheet.ids[:2]
    async with transaction(None, engine=engine) as conn:  # two cells are being computed
        await conn.execute(text("UPDATE records SET meta = jsonb_set(meta, ARRAY[:c], meta -> :c || "
                                "'{\"s\": \"computing\", \"c\": \"x\", \"a\": 1}') WHERE id = ANY(:ids)"),
                           {"c": out, "ids": computing})

    async with transaction(None, engine=engine) as conn:  # the first stopper fails the four queued cells
        (stopped,) = await ai_cells.stop_job(conn, job["id"], MESSAGE)
    assert (stopped["status"], stopped["failed"]) == ("stopped", 4)

    # their calls came back with a retry, written as the job was being stopped: queued again
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE records SET meta = jsonb_set(meta, ARRAY[:c], (meta -> :c) - 'c' "
                                "|| '{\"s\": \"pending\"}') WHERE id = ANY(:ids)"), {"c": out, "ids": computing})
    # a second stopper read the job before the first one committed: it still sees it running
    real_get_job = ai_cells.get_job

    async def seen_running(conn, job_id):
        return {**await real_get_job(conn, job_id), "status": "running"}

    monkeypatch.setattr(stopping, "get_job", seen_running)
    async with transaction(None, engine=engine) as conn:
        await ai_cells.stop_job(conn, job["id"], MESSAGE)
    monkeypatch.undo()

    async with transaction(None, engine=engine) as conn:
        final = await ai_cells.get_job(conn, job["id"])
    states = await cells(engine, sheet)
    assert {c["s"] for c in states.values()} == {"error"} and {c["e"] for c in states.values()} == {MESSAGE}
    assert (final["status"], final["total"], final["done"], final["failed"]) == ("stopped", 6, 0, 6)
