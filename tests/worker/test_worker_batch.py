"""Batch fills end to end: outbox → relay → a worker submits Message Batches to the fake server → polls →
results written with the same guards as realtime calls, at half the price; Stop cancels the batch."""

import asyncio
import time

from workerkit import cells, expected_values, make_sheet, quiet_cells, wait_job

import jobs
from db import records
from db.engine import transaction


async def _start(engine, sheet, mode):
    async with transaction(sheet.account, engine=engine) as conn:
        return await jobs.start_fill(conn, sheet.table.id, sheet.col("Out"), "all", mode=mode)


async def test_a_batch_fill_writes_every_cell_through_batches_at_half_the_price(engine, unique, pipeline, fake):
    fake.configure(batch_latency_s=0.5)
    sheet = await make_sheet(engine, unique, 120)
    job = await _start(engine, sheet, "batch")
    assert (job.mode, job.total) == ("batch", 120)
    done = await wait_job(engine, job.id, timeout=60)
    assert (done["status"], done["done"], done["failed"]) == ("completed", 120, 0)
    got = await cells(engine, sheet)
    assert {rid: c["value"] for rid, c in got.items()} == expected_values(sheet, got)
    stats = fake.stats()
    assert stats["calls"] == 0 and len(stats["batches"]) == 1  # no realtime call: one batch of 12 requests
    assert set(stats["rows"].values()) == {1}

    now = await wait_job(engine, (await _start(engine, sheet, "now")).id, timeout=60)  # the same fill, now
    assert now["status"] == "completed" and fake.stats()["calls"] == 12
    assert abs(done["cost_usd"] / now["cost_usd"] - 0.5) < 1e-3  # the same tokens, at half the price


async def test_stop_cancels_the_batch_and_gives_the_cells_back(engine, unique, pipeline, fake):
    fake.configure(batch_latency_s=60)
    sheet = await make_sheet(engine, unique, 30)
    job = await _start(engine, sheet, "batch")
    deadline = time.monotonic() + 20
    while not fake.stats()["batches"]:  # submitted
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the batch is recorded on the job
    async with transaction(sheet.account, engine=engine) as conn:
        ended = await jobs.cancel(conn, job.id)
    assert ended.status == "cancelled"
    while not all(b["canceled"] for b in fake.stats()["batches"].values()):
        assert time.monotonic() < deadline, fake.stats()["batches"]
        await asyncio.sleep(0.05)
    got = await quiet_cells(engine, sheet)
    assert {c["s"] for c in got.values()} == {"idle"} and all(c["value"] is None for c in got.values())
    assert fake.stats()["calls"] == 0


async def test_a_batch_that_would_pass_the_cost_cap_is_not_submitted_and_the_job_stops(engine, unique, pipeline,
                                                                                       fake):
    pipeline.restart(TABLECHAT_MAX_JOB_COST_USD=0.001)
    try:
        sheet = await make_sheet(engine, unique, 200)
        job = await _start(engine, sheet, "batch")
        done = await wait_job(engine, job.id, timeout=60)
        got = await quiet_cells(engine, sheet)
    finally:
        pipeline.restart()
    assert done["status"] == "stopped" and "TABLECHAT_MAX_JOB_COST_USD" in done["error"], done
    assert not fake.stats()["batches"] and done["cost_usd"] == 0
    assert {c["s"] for c in got.values()} == {"error"} and all("cost limit" in c["e"] for c in got.values())


async def test_a_row_edited_while_its_batch_runs_is_computed_from_its_new_input_and_a_refused_row_fails_alone(
        engine, unique, pipeline, fake):
    fake.configure(batch_latency_s=1.0, poison="product 5 for market 0")
    sheet = await make_sheet(engine, unique, 20)
    job = await _start(engine, sheet, "batch")
    deadline = time.monotonic() + 20
    while not fake.stats()["batches"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    edited, key = sheet.ids[3], sheet.col("Description")
    async with transaction(sheet.account, engine=engine) as conn:
        rec = await records.get_record(conn, sheet.table, edited)
        await records.update_cell(conn, sheet.table.id, edited, key, value="edited while in a batch",
                                  version=rec.cells[key].version)
    done = await wait_job(engine, job.id, timeout=60)
    got = await quiet_cells(engine, sheet)
    want = expected_values(sheet, got)
    poisoned = [rid for rid, c in got.items() if "product 5 for market 0" in str(c["data"].get(key))]
    assert len(poisoned) == 1 and got[poisoned[0]]["s"] == "error" and "too long" in got[poisoned[0]]["e"]
    # the batch's answer to the old input is dropped; the row is computed again from its new input
    assert got[edited]["s"] == "completed" and got[edited]["value"] == want[edited] == "about edited while in a batch"
    assert fake.stats()["rows"][str(edited)] == 2
    others = [rid for rid in sheet.ids if rid not in (edited, *poisoned)]
    assert all(got[rid]["s"] == "completed" and got[rid]["value"] == want[rid] for rid in others)
    assert done["status"] == "completed" and done["failed"] == 1
    # the refused request's rows were asked again in realtime calls (the poisoned row alone or first with
    # others, then alone: how the claims fall decides), and only it failed
    assert fake.stats()["calls"] >= 2 and fake.stats()["rows"][str(poisoned[0])] >= 2
