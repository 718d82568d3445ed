"""Preview jobs end to end on real PostgreSQL and Redis (outbox → relay → Dramatiq → the real SDK → the
fake LLM → job_results): the values are computed like a fill's and kept as the job's results; no cell
of the table changes. Rows are claimed once (a redelivered message computes nothing), cancel and the
cost cap stop a preview, and the sweeper recovers rows of dead workers."""

from __future__ import annotations

import asyncio
import secrets

from fakes.cell_llm import expected
from redis.asyncio import Redis
from sqlalchemy import text
from workerkit import PREFIX, expected_values, make_sheet, wait_job

import jobs
from db import previews, records, tables
from db.engine import transaction
from jobs import progress


async def _preview(engine, sheet, ids, *, column="Out", lose_messages=False, duplicate_messages=False):
    """A preview of `column` for `ids`; its messages lost (marked sent) or sent twice when asked."""
    async with transaction(sheet.account, engine=engine) as conn:
        table = await tables.get_table(conn, sheet.table.id)
        col = next(c for c in table.columns if c.name == column)
        job = await jobs.start_preview(conn, table, col, ids)
    if lose_messages or duplicate_messages:
        async with transaction(None, engine=engine) as conn:
            if duplicate_messages:
                await conn.execute(text("INSERT INTO outbox (queue, actor, payload) SELECT queue, actor, payload "
                                        "FROM outbox WHERE payload ->> 'job' = :j"), {"j": str(job.id)})
            else:
                await conn.execute(text("UPDATE outbox SET sent_at = now() WHERE payload ->> 'job' = :j"),
                                   {"j": str(job.id)})
    return job


async def _records(engine, sheet):
    """Every row as stored: values, cell states and when it last changed."""
    async with transaction(None, engine=engine) as conn:
        res = await conn.execute(text("SELECT id, data, meta, updated_at FROM records WHERE table_id = :t"),
                                 {"t": sheet.table.id})
        return {r.id: (r.data, r.meta, r.updated_at) for r in res.all()}


async def _feed(engine, sheet):
    async with transaction(None, engine=engine) as conn:
        return (await conn.execute(text("SELECT count(*) FROM changes WHERE table_id = :t"),
                                   {"t": sheet.table.id})).scalar_one()


async def _results(engine, job_id):
    async with transaction(None, engine=engine) as conn:
        return {r.record_id: r for r in await previews.results(conn, job_id)}


async def _quiet(engine, job_id, timeout=15.0, until=("pending", "computing")):
    """The results once no row is in one of the states `until` any more (or `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await _results(engine, job_id)
        if not any(r.status in until for r in got.values()):
            return got
        if asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.1)


def _want(sheet, stored):
    return expected_values(sheet, {rid: {"data": data} for rid, (data, _, _) in stored.items()})


def _sent(fake):
    return {int(k): v for k, v in fake.stats()["rows"].items()}


async def test_a_preview_computes_values_and_leaves_every_cell_as_it_was(engine, unique, pipeline, fake):
    fake.configure(min_cache_tokens=0)  # a model that caches this short prefix: the cache is accounted for
    sheet = await make_sheet(engine, unique, 30)
    before, feed = await _records(engine, sheet), await _feed(engine, sheet)
    job = await _preview(engine, sheet, sheet.ids[:25])
    assert (job.mode, job.status, job.total, job.queued) == ("preview", "queued", 25, 25)
    done = await wait_job(engine, job.id)
    assert (done["status"], done["done"], done["failed"], done["mode"]) == ("completed", 25, 0, "preview")

    assert await _records(engine, sheet) == before  # values, states, versions, updated_at: all as they were
    assert await _feed(engine, sheet) == feed  # the live view saw nothing change
    got = await _results(engine, job.id)
    want = _want(sheet, before)
    assert {rid: (r.status, r.value, r.error) for rid, r in got.items()} == {
        rid: ("done", want[rid], None) for rid in sheet.ids[:25]}
    stats = fake.stats()
    assert stats["calls"] == 3 and _sent(fake) == dict.fromkeys(sheet.ids[:25], 1)  # 10 rows a call, each once

    async with transaction(None, engine=engine) as conn:
        runs = (await conn.execute(text(
            "SELECT count(*), sum(jsonb_array_length(record_ids)), sum(cost_usd), bool_and(success), "
            " min(model), sum(cache_read_tokens) FROM ai_runs WHERE job_id = :j"), {"j": job.id})).one()
    calls, rows, cost, ok, model, read = runs
    assert (calls, rows, ok, model) == (3, 25, True, "claude-haiku-4-5") and read > 0
    assert abs(float(cost) - done["cost_usd"]) < 1e-9 and done["cost_usd"] > 0

    redis = Redis.from_url(pipeline.services.redis_url)
    try:
        events = await progress.read(redis, PREFIX, str(job.id))
    finally:
        await redis.aclose()
    assert events[-1][1]["status"] == "completed" and events[-1][1]["done"] == "25"


async def test_a_redelivered_message_computes_nothing_twice(engine, unique, pipeline, fake):
    from worker import preview
    from worker.runtime import close_runtime, runtime

    sheet = await make_sheet(engine, unique, 24)
    job = await _preview(engine, sheet, sheet.ids[:20], duplicate_messages=True)
    done = await wait_job(engine, job.id)
    assert (done["done"], done["failed"]) == (20, 0)
    await asyncio.sleep(0.5)  # the duplicates are handled by now too
    assert _sent(fake) == dict.fromkeys(sheet.ids[:20], 1)
    try:  # the same message once more, straight to a worker
        claimed = await preview.run_message(await runtime(), str(job.id), sheet.ids[:20])
    finally:
        await close_runtime()
    assert claimed == 0 and _sent(fake) == dict.fromkeys(sheet.ids[:20], 1)
    again = await wait_job(engine, job.id)
    assert (again["done"], again["failed"], again["cost_usd"]) == (20, 0, done["cost_usd"])


async def test_cancel_stops_a_preview_and_keeps_what_was_computed(engine, unique, pipeline, fake):
    fake.configure(latency_s=0.3)
    sheet = await make_sheet(engine, unique, 300)
    before = await _records(engine, sheet)
    job = await _preview(engine, sheet, sheet.ids)
    await wait_job(engine, job.id, until=("running",))
    await asyncio.sleep(0.5)
    async with transaction(sheet.account, engine=engine) as conn:
        cancelled = await jobs.cancel(conn, job.id)
    assert cancelled.status == "cancelled" and cancelled.queued == 0
    await asyncio.sleep(1.0)  # calls already in flight come back and are dropped
    got = await _quiet(engine, job.id, until=("computing",))  # rows claimed as it was cancelled come back
    calls = fake.stats()["calls"]
    await asyncio.sleep(1.0)
    assert fake.stats()["calls"] == calls < 30
    assert await _results(engine, job.id) == got
    assert {r.status for r in got.values()} <= {"done", "pending"}
    assert 0 < sum(r.status == "done" for r in got.values()) < 300
    assert await _records(engine, sheet) == before


async def test_the_cost_cap_stops_a_preview_with_a_message(engine, unique, pipeline, fake):
    pipeline.restart(TABLECHAT_MAX_JOB_COST_USD=0.01)
    try:
        sheet = await make_sheet(engine, unique, 400)
        before = await _records(engine, sheet)
        job = await _preview(engine, sheet, sheet.ids)
        await wait_job(engine, job.id)
        got = await _quiet(engine, job.id)  # calls in flight when it stopped land, rows sent back fail
        done = await wait_job(engine, job.id)
    finally:
        pipeline.restart()
    assert done["status"] == "stopped" and "TABLECHAT_MAX_JOB_COST_USD" in done["error"]
    assert 0 < done["done"] < 400 and done["done"] + done["failed"] == 400 and done["cost_usd"] <= 0.01
    assert {r.status for r in got.values()} == {"done", "error"}
    assert all("cost limit" in r.error for r in got.values() if r.status == "error")
    assert await _records(engine, sheet) == before


async def test_rows_of_a_dead_worker_and_lost_messages_are_recovered(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 30)
    job = await _preview(engine, sheet, sheet.ids, lose_messages=True)
    dead = secrets.randbelow(2**31 - 2) + 1  # a worker key no live process holds
    async with transaction(None, engine=engine) as conn:
        taken = await previews.claim(conn, job_id=str(job.id), table_id=sheet.table.id,
                                     deps=[sheet.col("Description")], record_ids=sheet.ids[:10],
                                     claim_id="gone", worker=dead)
        # a row that already used its three attempts with a worker that died
        await conn.execute(text("UPDATE job_results SET attempts = 3 WHERE job_id = :j AND record_id = :r"),
                           {"j": job.id, "r": sheet.ids[0]})
    assert len(taken) == 10
    done = await wait_job(engine, job.id, timeout=30)  # the sweeper: dead claims at once, the rest once stalled
    got = await _results(engine, job.id)
    assert (done["done"], done["failed"]) == (29, 1)
    assert got[sheet.ids[0]].status == "error" and "stopped before it finished" in got[sheet.ids[0]].error
    want = _want(sheet, await _records(engine, sheet))
    assert all(got[r].value == want[r] for r in sheet.ids[1:])
    assert max(_sent(fake).values()) == 1


async def test_an_edit_during_the_call_computes_the_row_again_and_a_deleted_row_fails(engine, unique, pipeline, fake):
    fake.configure(latency_s=0.8)
    sheet = await make_sheet(engine, unique, 12)
    ids = sheet.ids
    async with transaction(sheet.account, engine=engine) as conn:
        await records.delete_records(conn, sheet.table.id, [ids[11]])
    job = await _preview(engine, sheet, ids)
    while (await _results(engine, job.id))[ids[4]].status != "computing":
        await asyncio.sleep(0.02)
    async with transaction(sheet.account, engine=engine) as conn:
        rec = await records.get_record(conn, sheet.table, ids[4])
        key = sheet.col("Description")
        await records.update_cell(conn, sheet.table.id, ids[4], key, value="edited while computing",
                                  version=rec.cells[key].version)
    done = await wait_job(engine, job.id, timeout=30)  # the deleted row waits for the sweeper
    got = await _results(engine, job.id)
    assert (done["status"], done["done"], done["failed"]) == ("completed", 11, 1)
    assert got[ids[4]].value == expected({"type": "text"}, {"Description": "edited while computing"})
    assert got[ids[11]].status == "error" and got[ids[11]].error == "The row was deleted"
    sent = _sent(fake)
    assert sent[ids[4]] == 2 and sent[ids[0]] == 1 and ids[11] not in sent


async def test_a_previews_results_are_private_to_its_workspace(engine, unique, pipeline, fake):
    mine, theirs = await make_sheet(engine, unique, 3), await make_sheet(engine, "o" + unique, 1)
    job = await _preview(engine, mine, mine.ids)
    await wait_job(engine, job.id)
    async with transaction(mine.account, engine=engine) as conn:
        assert len(await previews.results(conn, job.id)) == 3
    async with transaction(theirs.account, engine=engine) as conn:
        assert await previews.results(conn, job.id) == []
        assert (await conn.execute(text("SELECT count(*) FROM job_results"))).scalar_one() == 0
