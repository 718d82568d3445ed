"""The fill progress message of app.py, driven through a real Chainlit session whose socket is a recorder,
with the real fill pipeline (Dramatiq workers, relay) and the fake Claude slowed down."""

from __future__ import annotations

import itertools
import re
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))

from fakes.cell_llm import CellLLM
from workerkit import Pipeline, make_sheet

from db.engine import transaction
from worker import jobs

PROGRESS = re.compile(r"(\d+) / (\d+) done")


@pytest.fixture(scope="module")
def app(engine):
    import importlib

    return importlib.import_module("app")


@pytest.fixture(scope="module")
def fake_llm():
    with CellLLM() as fake:
        yield fake


@pytest.fixture(scope="module")
def pipeline(services, fake_llm):
    p = Pipeline(services, fake_llm)
    p.start(TABLECHAT_MAX_CONCURRENCY=1)  # one call at a time: a fill of a few batches takes a while
    yield p
    p.stop()


def _session(account_id, events: list):
    from chainlit.context import init_ws_context
    from chainlit.session import WebsocketSession
    from chainlit.user import PersistedUser

    async def emit(event, data):
        events.append((time.monotonic(), event, data))

    user = PersistedUser(id=str(uuid.uuid4()), createdAt="", identifier="progress",
                         metadata={"account_id": str(account_id)})
    session = WebsocketSession(id=str(uuid.uuid4()), socket_id=str(uuid.uuid4()), emit=emit, emit_call=emit,
                               user_env={}, client_type="webapp", user=user, thread_id=str(uuid.uuid4()))
    init_ws_context(session)
    return session


async def test_one_message_counts_up_at_most_four_times_a_second(app, engine, unique, pipeline, fake_llm):
    fake_llm.reset(latency_s=0.3)
    sheet = await make_sheet(engine, unique, 60)
    events: list = []
    _session(sheet.account, events)
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, "Out", "all")
    task = app._follow_job(job.id, "Out")
    await task
    messages = [(t, e, d) for t, e, d in events if e in ("new_message", "update_message")]
    assert {d["id"] for _, _, d in messages} == {messages[0][2]["id"]} and messages[0][1] == "new_message"
    texts = [d["output"] for _, _, d in messages]
    assert texts[-1].startswith("Filled **Out**: 60 / 60 done · 0 failed")
    counts = [int(PROGRESS.search(t).group(1)) for t in texts if PROGRESS.search(t)]
    assert counts == sorted(counts) and any(0 < c < 60 for c in counts), texts  # it counted up
    assert all("queued" in t and "so far" in t for t in texts[:-1])
    times = [t for t, _, _ in messages]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    print(f"progress: {len(times)} messages, shortest gap {min(gaps):.3f} s, counts {counts}")
    assert len(times) >= 3 and min(gaps) >= 0.2  # ≤ 4 updates a second
