"""Fair queues: interactive work (small fills, new rows, previews) goes ahead of bulk fills, and bulk work
is shared in turns between workspaces. With one first-in first-out queue each of these fails: the
small fill and the second workspace's fill would wait for the whole of the first big fill."""

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from workerkit import make_sheet, wait_job

import jobs
from db import ai_cells
from db.engine import transaction
from jobs.names import BULK_QUEUE, QUEUE, is_bulk
from worker.consumers import FairWorker, reserved_threads
from worker.limiter import Limiter
from worker.outbox import BULK_WINDOW, Relay


async def _start(engine, sheet, scope="all"):
    async with transaction(sheet.account, engine=engine) as conn:
        return await jobs.start_fill(conn, sheet.table.id, sheet.col("Out"), scope)


def test_which_work_is_bulk():
    assert not is_bulk("write", "fill", 49) and is_bulk("write", "fill", 50)
    assert not is_bulk("preview", "fill", 5000)
    assert not is_bulk("write", "new_rows", 1000) and is_bulk("write", "new_rows", 1001)
    assert not is_bulk("write", "auto_update", 300) and not is_bulk(None, None, None)


@pytest.fixture
async def redis(services):
    client = Redis.from_url(services.redis_url)
    prefix = f"tcfair{uuid.uuid4().hex[:6]}"
    yield client, prefix
    keys = await client.keys(f"{prefix}:*")
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_an_urgent_call_takes_the_next_free_slot_before_calls_that_waited_longer(redis):
    client, prefix = redis
    limiter, other = Limiter(client, prefix, cap=2), Limiter(client, prefix, cap=2)  # two processes
    release = asyncio.Event()
    order: list[str] = []

    async def call(name: str, urgent: bool = False, hold: asyncio.Event | None = None):
        async with limiter.slot(urgent=urgent):
            order.append(name)
            if hold is not None:
                await hold.wait()

    holders = [asyncio.create_task(call(f"held{n}", hold=release)) for n in range(2)]
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(call(f"bulk{n}")) for n in range(6)]
    await asyncio.sleep(0.05)
    urgent = asyncio.create_task(call("urgent", urgent=True))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*holders, *waiting, urgent)
    assert order[:2] == ["held0", "held1"] and order[2] == "urgent", order
    assert await other.in_flight() == 0


def test_a_worker_keeps_threads_for_interactive_work():
    from worker.actors import broker

    assert [reserved_threads(n) for n in (1, 2, 4, 8, 16)] == [0, 1, 1, 2, 4]
    worker = FairWorker(broker, worker_threads=8)
    assert worker.bulk_prefetch == 6 and worker.queue_prefetch == 16


@dataclass
class _Client:
    waiting: int = 0

    def llen(self, _key):
        return self.waiting


@dataclass
class _Broker:
    """Records what the relay sends; says `waiting` messages sit in the bulk queue."""

    namespace: str = "test"
    client: _Client = field(default_factory=_Client)
    sent: list = field(default_factory=list)

    def enqueue(self, message, delay=None):
        self.sent.append((message.queue_name, message.actor_name, message.args[0]))


async def test_the_relay_sends_interactive_work_first_and_bulk_work_in_turns(engine, unique):
    big = await make_sheet(engine, unique, 2000)  # workspace A: 25 messages of 80 rows
    other = await make_sheet(engine, unique, 200)  # workspace B, started later: 3 messages
    a = await _start(engine, big)
    b = await _start(engine, other)
    small = await _start(engine, await make_sheet(engine, unique, 10))  # interactive
    mine = {str(a.id): "A", str(b.id): "B", str(small.id): "small"}

    broker = _Broker(client=_Client(waiting=BULK_WINDOW - 4))  # room for 4 bulk messages
    relay = Relay(engine, broker)
    await relay.drain()
    first = [(q, mine[j]) for q, _, j in broker.sent if j in mine]
    assert first[0] == (QUEUE, "small")  # at once, on the interactive queue
    bulk = [who for q, who in first if q == BULK_QUEUE]
    assert len([q for q, _, _ in broker.sent if q == BULK_QUEUE]) <= 4 and relay.bulk_waits
    broker.client.waiting = 0  # the workers took them: room for the rest
    for _ in range(10):
        await relay.drain()
    order = [mine[j] for q, _, j in broker.sent if j in mine and q == BULK_QUEUE]
    assert order.count("A") == 25 and order.count("B") == 3 and bulk == order[:len(bulk)]
    # B's three messages go out in the first turns, not after A's 25
    assert max(i for i, who in enumerate(order) if who == "B") < 8, order
    await _cancel(engine, a, b, small)


async def _cancel(engine, *started):
    """Jobs whose messages went to a recording broker: nobody will run them."""
    async with transaction(None, engine=engine) as conn:
        for job in started:
            await jobs.cancel(conn, job.id)


async def test_relayed_messages_name_their_queue_by_the_job(engine, unique):
    sheet = await make_sheet(engine, unique, 60)
    job = await _start(engine, sheet)
    async with transaction(None, engine=engine) as conn:
        await ai_cells.enqueue(conn, [{"job": str(uuid.uuid4()), "rows": [1], "delay_ms": 0}])
        unknown = (await conn.execute(text("SELECT max(id) FROM outbox"))).scalar_one()
    broker = _Broker()
    await Relay(engine, broker).drain()
    queues = {q for q, _, j in broker.sent if j == str(job.id)}
    assert queues == {BULK_QUEUE}  # 60 cells: bulk
    assert unknown and any(q == QUEUE for q, _, j in broker.sent if j not in (str(job.id),))
    await _cancel(engine, job)


async def test_the_sweeper_does_not_send_again_messages_that_wait_for_their_turn(engine, unique):
    sheet = await make_sheet(engine, unique, 400)
    job = await _start(engine, sheet)  # its messages wait in the outbox: no relay runs here
    count = text("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND payload ->> 'job' = :j")
    async with transaction(None, engine=engine) as conn:
        before = (await conn.execute(count, {"j": str(job.id)})).scalar_one()
        job_row = next(j for j in await ai_cells.active_jobs(conn) if j["id"] == str(job.id))
        assert await ai_cells.requeue_stalled(conn, job_row) == (0, [])
        assert (await conn.execute(count, {"j": str(job.id)})).scalar_one() == before == 5
    await _cancel(engine, job)


async def test_a_small_fill_and_another_workspaces_fill_do_not_wait_for_a_big_one(engine, unique, pipeline, fake):
    fake.configure(latency_s=0.15)
    big = await make_sheet(engine, unique, 2400)
    other = await make_sheet(engine, unique, 160)
    bulk = await _start(engine, big)
    await asyncio.sleep(0.3)
    second = await _start(engine, other)  # bulk as well, in another workspace
    small = await _start(engine, await make_sheet(engine, unique, 10))  # FIFO would reach it last

    ended_small = await wait_job(engine, small.id, timeout=60)
    async with transaction(None, engine=engine) as conn:
        at_small = await ai_cells.get_job(conn, bulk.id)
    ended_second = await wait_job(engine, second.id, timeout=60)
    async with transaction(None, engine=engine) as conn:
        at_second = await ai_cells.get_job(conn, bulk.id)
    assert ended_small["status"] == ended_second["status"] == "completed"
    # the big fill was still far from done when each of the others ended
    assert at_small["done"] < 0.5 * at_small["total"], at_small
    assert at_second["done"] < 0.75 * at_second["total"], at_second
    async with transaction(None, engine=engine) as conn:
        await jobs.cancel(conn, bulk.id)
    fake.configure(latency_s=0.0)
