"""Recovery without a worker's help: claims of dead workers, lost messages, a broker that is down, and
the shared limit on calls in flight."""

import asyncio
import secrets
import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from workerkit import cells, expected_values, make_sheet, wait_job

import jobs
from db import ai_cells, tables
from db.engine import transaction
from jobs import names
from worker.broker import make_broker
from worker.limiter import OP_FIELDS, Limiter, Slot, Spend
from worker.outbox import Relay


async def _queued_without_messages(engine, sheet):
    """A job whose messages went nowhere (as if Redis lost them): outbox rows marked sent, unsent."""
    async with transaction(None, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, sheet.col("Out"), "all")
        await conn.execute(text("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL "
                                "AND payload ->> 'job' = :j"), {"j": str(job.id)})
    return job


async def test_cells_claimed_by_a_dead_worker_and_lost_messages_are_recovered(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 30)
    job = await _queued_without_messages(engine, sheet)
    dead = secrets.randbelow(2**31 - 2) + 1  # a worker key no live process holds
    async with transaction(None, engine=engine) as conn:
        taken = await ai_cells.claim(conn, job_id=str(job.id), table_id=sheet.table.id, column_id=sheet.col("Out"),
                                     deps=[sheet.col("Description")], record_ids=sheet.ids[:10],
                                     claim_id="gone", worker=dead)
        # a cell that already used its three attempts with a worker that died
        await conn.execute(text("UPDATE records SET meta = jsonb_set(meta, ARRAY[:c, 'a'], '3') WHERE id = :r"),
                           {"c": sheet.col("Out"), "r": sheet.ids[0]})
    assert len(taken) == 10
    done = await wait_job(engine, job.id, timeout=30)  # the sweeper: dead claims at once, the rest once stalled
    got = await cells(engine, sheet)
    assert (done["done"], done["failed"]) == (29, 1)
    assert got[sheet.ids[0]]["s"] == "error" and "stopped before it finished" in got[sheet.ids[0]]["e"]
    assert all(got[r]["value"] == expected_values(sheet, got)[r] for r in sheet.ids[1:])
    assert max(fake.stats()["rows"].values()) == 1


async def test_the_outbox_keeps_messages_while_the_broker_is_down(engine, services, pipeline):
    pipeline.stop()  # its relay would send the messages first
    try:
        await _outbox_waits_for_the_broker(engine, services)
    finally:
        pipeline.start()


async def _outbox_waits_for_the_broker(engine, services):
    namespace = f"tcdown{uuid.uuid4().hex[:6]}"
    async with transaction(None, engine=engine) as conn:
        before = (await conn.execute(text("SELECT coalesce(max(id), 0) FROM outbox"))).scalar_one()
        await ai_cells.enqueue(conn, [{"job": str(uuid.uuid4()), "rows": [1, 2], "delay_ms": 0},
                                      {"job": str(uuid.uuid4()), "rows": [3], "delay_ms": 0}])
    down = make_broker("redis://127.0.0.1:1/0", namespace)  # nothing listens on port 1
    assert await Relay(engine, down).drain() == 0
    async with transaction(None, engine=engine) as conn:
        unsent = (await conn.execute(text("SELECT count(*) FROM outbox WHERE id > :b AND sent_at IS NULL"),
                                     {"b": before})).scalar_one()
    assert unsent == 2
    up = make_broker(services.redis_url, namespace)
    try:
        assert await Relay(engine, up).drain() >= 2
        queued = up.client.lrange(f"{namespace}:dramatiq:{names.QUEUE}", 0, -1)
        assert len(queued) >= 2
    finally:
        up.flush_all()
        up.close()
        down.close()


@pytest.fixture
async def redis(services):
    client = Redis.from_url(services.redis_url)
    prefix = f"tclim{uuid.uuid4().hex[:6]}"
    yield client, prefix
    keys = await client.keys(f"{prefix}:*")
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_two_processes_share_one_limit_that_halves_on_rate_limits_and_grows_back(redis):
    client, prefix = redis
    a, b = Limiter(client, prefix, cap=4), Limiter(client, prefix, cap=4)  # two processes, one budget
    inside = peak = 0

    async def call(limiter):
        nonlocal inside, peak
        async with limiter.slot() as slot:
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1
            slot.ok = True

    await asyncio.gather(*(call(a if n % 2 else b) for n in range(40)))
    assert peak == 4 and await a.in_flight() == 0
    assert await a.throttle() == 2.0
    assert await b.throttle() == 2.0  # a second 429 within the cooldown does not halve again
    held = [await _take(a), await _take(b)]
    assert None not in held and await _take(a, wait_s=0.2) is None  # two slots now, not four
    for token in held:
        await a._run("give", give=(Slot(token, ok=True), None))  # two successes: 2 + 1/2 + 1/2.5
    assert 2.8 < await a.limit() < 3.0
    await asyncio.gather(*(call(a) for _ in range(40)))
    assert await a.limit() == 4.0  # back to the cap, never above


async def test_slots_handed_over_in_line_never_exceed_the_limit_even_when_waiters_give_up(redis):
    client, prefix = redis
    limiters = [Limiter(client, prefix, cap=3), Limiter(client, prefix, cap=3)]
    inside = peak = 0

    async def call(n):
        nonlocal inside, peak
        async with limiters[n % 2].slot() as slot:
            inside += 1
            peak = max(peak, inside)
            try:
                await asyncio.sleep(0.001 * (n % 4))
                slot.ok = True
            finally:  # a call cancelled during its LLM call leaves too
                inside -= 1

    tasks = [asyncio.create_task(call(n)) for n in range(300)]
    await asyncio.sleep(0.05)
    for task in tasks[100::7]:  # some give up while waiting in line, or during their call
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert peak == 3
    assert await limiters[0].in_flight() == 0  # every slot came back, none leaked to a cancelled call


async def test_calls_of_a_busy_process_share_script_calls_and_a_slot_granted_too_late_comes_back(redis):
    client, prefix = redis
    limiter = Limiter(client, prefix, cap=20)
    sent = []
    script = limiter._script

    async def counted(*, keys, args):
        sent.append((len(args) - 3) // OP_FIELDS)
        return await script(keys=keys, args=args)

    limiter._script = counted

    async def call():
        async with limiter.slot(Spend("job", estimate=0.01, cap=100.0)) as slot:
            await asyncio.sleep(0.005)
            slot.ok, slot.cost = True, 0.01

    await asyncio.gather(*(call() for _ in range(200)))
    assert sum(sent) >= 400 and len(sent) < 200, sent  # 2 operations a call, several per round trip
    assert await limiter.in_flight() == 0
    spent = await client.hget(f"{prefix}:job:job:budget", "spent")
    assert abs(float(spent) - 2.0) < 1e-6  # every call's cost counted once

    for _ in range(5):  # a caller cancelled while its slot was being granted: the slot is given back
        task = asyncio.create_task(limiter._run("take", take=(uuid.uuid4().hex, None)))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        while limiter._sender is not None and not limiter._sender.done():
            await limiter._sender
    assert await limiter.in_flight() == 0


async def _take(limiter, wait_s=1.0):
    """Hold a slot (released by hand), or None when none frees up in `wait_s`."""
    token = uuid.uuid4().hex
    try:
        await asyncio.wait_for(limiter._wait(token, None), wait_s)
    except TimeoutError:
        return None
    return token


async def test_a_slot_of_a_dead_process_comes_back_by_itself(redis):
    client, prefix = redis
    dead = Limiter(client, prefix, cap=1, slot_ttl_s=0.3)
    await dead._wait("held-by-a-process-that-died", None)  # taken, never released
    alive = Limiter(client, prefix, cap=1, slot_ttl_s=0.3)
    started = asyncio.get_running_loop().time()
    async with alive.slot():
        waited = asyncio.get_running_loop().time() - started
    assert 0.2 < waited < 2.0


async def test_a_job_whose_column_was_deleted_is_cancelled(engine, unique, pipeline, fake):
    sheet = await make_sheet(engine, unique, 5)
    job = await _queued_without_messages(engine, sheet)
    async with transaction(sheet.account, engine=engine) as conn:
        await tables.delete_column(conn, sheet.table.id, sheet.col("Out"))
    ended = await wait_job(engine, job.id, timeout=20)
    assert ended["status"] == "cancelled" and "column was deleted" in ended["error"]
    assert fake.stats()["calls"] == 0


async def test_a_call_that_would_pass_the_cost_cap_waits_for_calls_in_flight_or_is_refused(redis):
    client, prefix = redis
    limiter = Limiter(client, prefix, cap=8)
    ask = Spend("job1", estimate=0.4, cap=1.0)
    async with limiter.slot(ask) as first, limiter.slot(ask) as second:  # 0.8 reserved
        assert not first.refused and not second.refused
        third = asyncio.create_task(_refused(limiter, ask))
        await asyncio.sleep(0.2)
        assert not third.done()  # 0.8 + 0.4 > 1.0 while the others are in flight: it waits
        first.cost = second.cost = 0.1  # they come back cheaper than feared
    assert await third is False  # 0.2 spent + 0.4 fits (and costs 0.4)
    assert await _refused(limiter, Spend("job1", estimate=0.5, cap=1.0)) is True  # 0.6 + 0.5 > 1.0
    assert await _refused(limiter, Spend("job1", estimate=0.3, cap=1.0)) is False  # 0.6 + 0.3 fits
    assert await _refused(limiter, Spend("job1", estimate=0.2, cap=1.0)) is True  # 0.9 spent
    assert await _refused(limiter, Spend("job2", estimate=0.2, cap=1.0)) is False  # each job its own cap
    assert await limiter.in_flight() == 0


async def _refused(limiter, ask):
    async with limiter.slot(ask) as slot:
        if not slot.refused:
            slot.cost = ask.estimate
        return slot.refused
