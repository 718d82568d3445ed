"""The fill pipeline end to end on real PostgreSQL and Redis: outbox → relay → Dramatiq → the real SDK →
the fake LLM → cells. Every cell must end completed (with the answer for its own row) or error with a
reason; none stays queued or computing; no row is sent more than 3 times."""

import asyncio

from sqlalchemy import text
from workerkit import PREFIX, cells, expected_values, make_sheet, quiet_cells, wait_job

import jobs
from db.engine import transaction
from jobs import progress


async def _start(engine, sheet, scope="all", column="Out"):
    async with transaction(sheet.account, engine=engine) as conn:
        return await jobs.start_fill(conn, sheet.table.id, sheet.col(column), scope)


def _settled(got):
    """Every cell completed or failed with a reason, and nothing left in flight."""
    states = {c["s"] for c in got.values()}
    assert states <= {"completed", "error"}, states
    assert all(c.get("e") for c in got.values() if c["s"] == "error")
    assert not any(k in c for c in got.values() for k in ("j", "c", "w"))


async def test_fill_batches_rows_and_writes_each_cell_once_with_its_own_rows_answer(engine, unique, pipeline, fake):
    fake.configure(min_cache_tokens=0)  # a model that caches this short prefix: the cache is accounted for
    sheet = await make_sheet(engine, unique, 200)
    job = await _start(engine, sheet)
    assert (job.status, job.total, job.queued) == ("queued", 200, 200)
    done = await wait_job(engine, job.id)
    assert (done["status"], done["done"], done["failed"]) == ("completed", 200, 0)

    got = await cells(engine, sheet)
    _settled(got)
    assert {rid: c["value"] for rid, c in got.items()} == expected_values(sheet, got)
    assert all(c["v"] == 1 for c in got.values())  # one value write per cell
    stats = fake.stats()
    assert stats["calls"] == 20 and set(stats["rows"].values()) == {1}  # 10 rows per call, each row once

    async with transaction(None, engine=engine) as conn:
        runs = (await conn.execute(text(
            "SELECT count(*), sum(jsonb_array_length(record_ids)), sum(cache_read_tokens), "
            " sum(cache_write_tokens), sum(input_tokens), sum(output_tokens), sum(cost_usd), bool_and(success) "
            "FROM ai_runs WHERE job_id = :j"), {"j": job.id})).one()
        completed = (await conn.execute(text(
            "SELECT count(*) FROM changes WHERE table_id = :t AND kind = 'cell' AND column_id = :c "
            "AND data ->> 'status' = 'completed'"), {"t": sheet.table.id, "c": sheet.col("Out")})).scalar_one()
    calls, rows, read, written, inp, out, cost, ok = runs
    assert (calls, rows, ok) == (20, 200, True)
    assert written > 0 and read >= 18 * written // 1.01  # the shared prefix is written once, then read
    assert inp > 0 and out > 0 and abs(float(cost) - done["cost_usd"]) < 1e-9 and done["cost_usd"] > 0
    assert completed == 200  # the live view saw each cell complete exactly once

    from redis.asyncio import Redis
    redis = Redis.from_url(pipeline.services.redis_url)
    try:
        events = await progress.read(redis, PREFIX, str(job.id))
    finally:
        await redis.aclose()
    assert events and events[-1][1]["status"] == "completed" and events[-1][1]["done"] == "200"
    assert events[-1][1]["queued"] == "0" and float(events[-1][1]["cost_usd"]) > 0
    dones = [int(e["done"]) for _, e in events]
    assert dones == sorted(dones) and len(events) < 200  # throttled, monotonic


async def test_a_storm_of_errors_and_bad_answers_still_settles_every_cell(engine, unique, pipeline, fake):
    fake.configure(rate_limit_rate=0.05, overloaded_rate=0.06, server_error_rate=0.05, timeout_rate=0.02,
                   hang_s=3.0, malformed_rate=0.1, missing_rate=0.15, invalid_rate=0.15, retry_after_s=0.05, seed=7)
    sheet = await make_sheet(engine, unique, 300)
    job = await _start(engine, sheet)
    done = await wait_job(engine, job.id, timeout=90)
    got = await cells(engine, sheet)
    _settled(got)
    assert done["status"] == "completed" and done["done"] + done["failed"] == 300
    assert done["done"] == sum(c["s"] == "completed" for c in got.values())
    expected = expected_values(sheet, got)
    assert all(c["value"] == expected[rid] and c["v"] == 1 for rid, c in got.items() if c["s"] == "completed")
    stats = fake.stats()
    assert max(stats["rows"].values()) <= 3, "a row was sent more than 3 times"
    assert set(stats["statuses"]) >= {"200", "429", "529", "500"}
    assert done["done"] > 250  # three attempts absorb most failures


async def test_a_select_never_takes_an_invented_option(engine, unique, pipeline, fake):
    fake.configure(invalid_rate=0.6, seed=3)
    options = ["Hardware", "Software", "Services"]
    sheet = await make_sheet(engine, unique, 60, ai_type="select", options=options,
                             prompt="Which sector is {Description}?")
    job = await _start(engine, sheet)
    done = await wait_job(engine, job.id)
    got = await cells(engine, sheet)
    _settled(got)
    assert all(c["value"] in options for c in got.values() if c["s"] == "completed")
    assert all(c.get("value") is None for c in got.values() if c["s"] == "error")
    failed = [c["e"] for c in got.values() if c["s"] == "error"]
    assert all("not one of the options" in e and "3 attempts" in e for e in failed)
    assert done["done"] == 60 - len(failed) and done["done"] > 30


async def test_a_row_the_api_refuses_fails_alone_and_the_job_goes_on(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 30)
    victim = sheet.ids[13]
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE records SET data = jsonb_set(data, ARRAY[:c], '\"POISON pill\"') "
                                "WHERE id = :r"), {"c": sheet.col("Description"), "r": victim})
    fake.configure(poison="POISON")
    job = await _start(engine, sheet)
    done = await wait_job(engine, job.id)
    got = await cells(engine, sheet)
    _settled(got)
    assert (done["status"], done["done"], done["failed"]) == ("completed", 29, 1)
    assert got[victim]["s"] == "error" and "prompt is too long" in got[victim]["e"]
    # the batch was split: the refused row was tried alone once, its neighbours were not retried
    rows = fake.stats()["rows"]
    assert rows[str(victim)] == 2 and sorted(rows.values()).count(2) == 10


async def test_a_dead_key_fails_the_job_at_once_with_the_reason(engine, unique, pipeline, fake):
    fake.configure(fatal="auth")
    sheet = await make_sheet(engine, unique, 200)
    job = await _start(engine, sheet)
    await wait_job(engine, job.id)
    got = await quiet_cells(engine, sheet)
    done = await wait_job(engine, job.id)
    _settled(got)
    assert done["status"] == "stopped" and "invalid x-api-key" in done["error"]
    assert done["failed"] == 200 and all("invalid x-api-key" in c["e"] for c in got.values())
    assert fake.stats()["calls"] <= 8 + 4  # the calls in flight when the first refusal came back, no more


async def test_a_spend_limit_is_not_retried(engine, unique, pipeline, fake):
    fake.configure(fatal="spend")
    sheet = await make_sheet(engine, unique, 20)
    job = await _start(engine, sheet)
    done = await wait_job(engine, job.id)
    assert done["status"] == "stopped" and "spend limit" in done["error"]
    assert set(fake.stats()["rows"].values()) == {1}


async def test_calls_in_flight_stay_under_the_limit_and_429s_slow_them_down(engine, unique, pipeline, fake):
    from redis.asyncio import Redis

    fake.configure(latency_s=0.05, max_inflight=4, retry_after_s=0.2)
    sheet = await make_sheet(engine, unique, 300)
    redis = Redis.from_url(pipeline.services.redis_url)
    limits = []
    try:
        job = await _start(engine, sheet)
        while (await wait_job(engine, job.id, until=("queued", "running", "completed")))["status"] != "completed":
            value = await redis.get(f"{PREFIX}:llm:limit")
            limits.append(float(value) if value is not None else 8.0)
            await asyncio.sleep(0.02)
        await redis.delete(f"{PREFIX}:llm:limit")  # later tests start at the full limit again
    finally:
        await redis.aclose()
    done = await wait_job(engine, job.id)
    stats = fake.stats()
    got = await cells(engine, sheet)
    _settled(got)
    # rate limits count as attempts: a cell may run out of them, saying why
    assert all("rate limit" in c["e"] and "3 attempts" in c["e"] for c in got.values() if c["s"] == "error")
    assert done["status"] == "completed" and done["done"] >= 270
    assert stats["max_inflight"] <= 8  # TABLECHAT_MAX_CONCURRENCY
    assert stats["statuses"].get("429", 0) > 0
    assert min(limits) <= 4, "the shared limit did not come down after rate limiting"


async def test_cancel_stops_the_calls_and_gives_the_cells_back(engine, unique, pipeline, fake):
    fake.configure(latency_s=0.3)
    sheet = await make_sheet(engine, unique, 400)
    job = await _start(engine, sheet)
    await wait_job(engine, job.id, until=("running",))
    await asyncio.sleep(0.5)
    async with transaction(sheet.account, engine=engine) as conn:
        cancelled = await jobs.cancel(conn, job.id)
    assert cancelled.status == "cancelled" and cancelled.queued == 0
    await asyncio.sleep(1.0)  # calls already in flight come back and are dropped
    calls = fake.stats()["calls"]
    got = await cells(engine, sheet)
    await asyncio.sleep(1.0)
    assert fake.stats()["calls"] == calls < 40
    assert {c["s"] for c in got.values()} <= {"completed", "idle"}
    assert not any(k in c for c in got.values() for k in ("j", "c"))
    assert await cells(engine, sheet) == got
    async with transaction(sheet.account, engine=engine) as conn:
        again = await jobs.cancel(conn, job.id)
    assert again.status == "cancelled" and again.done == cancelled.done


async def test_the_cost_cap_stops_a_job_with_a_message(engine, unique, pipeline, fake):
    pipeline.restart(TABLECHAT_MAX_JOB_COST_USD=0.01)
    try:
        sheet = await make_sheet(engine, unique, 400)
        job = await _start(engine, sheet)
        await wait_job(engine, job.id)
        got = await quiet_cells(engine, sheet)
        done = await wait_job(engine, job.id)
    finally:
        pipeline.restart()
    _settled(got)
    assert done["status"] == "stopped" and "TABLECHAT_MAX_JOB_COST_USD" in done["error"]
    assert "$0.01" in done["error"] and done["cost_usd"] <= 0.01
    assert 0 < done["done"] < 400 and done["done"] + done["failed"] == 400
    stopped = [c["e"] for c in got.values() if c["s"] == "error"]
    assert stopped and all("cost limit" in e for e in stopped)
