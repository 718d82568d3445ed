"""The fill progress message of app.py, driven through a real Chainlit session whose socket is a recorder,
with the real fill pipeline (Dramatiq workers, relay) and the fake Claude slowed down."""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))

from sqlalchemy import text
from workerkit import Pipeline, make_sheet, wait_job

import jobs
from db.engine import transaction
from ui import job_progress

PROGRESS = re.compile(r"(\d+) / (\d+) done")


@pytest.fixture(scope="module")
def app(engine):
    import importlib

    return importlib.import_module("app")


@pytest.fixture(scope="module")
def pipeline(services, cell_llm):
    p = Pipeline(services, cell_llm)
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


async def test_one_message_counts_up_at_most_four_times_a_second(app, engine, unique, pipeline, cell_llm):
    cell_llm.reset(latency_s=0.3)
    sheet = await make_sheet(engine, unique, 60)
    events: list = []
    _session(sheet.account, events)
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, "Out", "all")
    task = job_progress.follow_job(job.id, "Out")
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


async def test_the_stop_button_of_a_progress_message_cancels_its_fill(app, engine, unique, pipeline, cell_llm):
    import chainlit as cl

    cell_llm.reset(latency_s=0.3)
    sheet = await make_sheet(engine, unique, 80)
    stranger = await make_sheet(engine, unique + "t", 1)
    events: list = []
    _session(sheet.account, events)
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.start_fill(conn, sheet.table.id, "Out", "all")
    task = job_progress.follow_job(job.id, "Out")
    await wait_done(engine, job.id, at_least=10)
    (button,) = [d for _, e, d in events if e == "action"]  # sent with the progress message
    assert button["label"] == "Stop" and button["payload"] == {"job_id": str(job.id)}

    assert (await app.on_stop_job(cl.Action(name="stop_job", payload={"job_id": "x"})))["ok"] is False
    async with transaction(stranger.account, engine=engine) as conn:  # a job of another workspace
        theirs = await jobs.start_fill(conn, stranger.table.id, "Out", "all")
    answer = await app.on_stop_job(cl.Action(name="stop_job", payload={"job_id": str(theirs.id)}))
    assert answer == {"ok": False, "error": "This fill was not found in your workspace."}
    answer = await app.on_stop_job(cl.Action(name="stop_job", payload=button["payload"]))
    assert answer == {"ok": True, "status": "cancelled"}
    await task

    texts = [d["output"] for _, e, d in events if e in ("new_message", "update_message")]
    assert texts[-1].startswith("Cancelled filling **Out**: "), texts
    assert [d["id"] for _, e, d in events if e == "remove_action"] == [button["id"]]  # the button is gone
    async with transaction(None, engine=engine) as conn:
        states = dict((await conn.execute(text(
            "SELECT coalesce(meta -> :c ->> 's', 'idle'), count(*) FROM records WHERE table_id = :t GROUP BY 1"),
            {"c": sheet.col("Out"), "t": sheet.table.id})).all())
        stopped = await jobs.get_job(conn, job.id)
    assert stopped.status == "cancelled" and 10 <= stopped.done < 80
    # nothing left queued or computing: the cells computed stay, the others are as before the fill
    assert states.get("completed", 0) >= stopped.done and set(states) <= {"completed", "idle"}, states
    assert (await wait_job(engine, theirs.id))["status"] == "completed"  # the stranger's fill went on


async def wait_done(engine, job_id, *, at_least: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with transaction(None, engine=engine) as conn:
            if (await jobs.get_job(conn, job_id)).done >= at_least:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {at_least} cells done")


async def test_retry_failed_of_the_live_view_is_a_fill_this_chat_follows(app, engine, unique, pipeline, cell_llm):
    import chainlit as cl

    cell_llm.reset()
    sheet = await make_sheet(engine, unique, 30)
    out = sheet.col("Out")
    async with transaction(sheet.account, engine=engine) as conn:
        first = await jobs.start_fill(conn, sheet.table.id, "Out", "all")
    await wait_job(engine, first.id)
    async with transaction(None, engine=engine) as conn:  # three failed cells, one far down the table
        await conn.execute(text("UPDATE records SET meta = jsonb_set(meta, ARRAY[:c], '{\"s\": \"error\", "
                                "\"e\": \"refused\", \"v\": 1}') WHERE id = ANY(:ids)"),
                           {"c": out, "ids": [sheet.ids[1], sheet.ids[2], sheet.ids[28]]})
    events: list = []
    session = _session(sheet.account, events)
    payload = {"table_id": str(sheet.table.id), "column_id": out}

    live = cl.CustomElement(name="LiveTable", props={"table_id": str(sheet.table.id), "locked": True}, display="side")
    cl.user_session.set("live", live)
    answer = await app.on_retry_failed(cl.Action(name="live_retry_failed", payload=payload))
    assert answer == {"ok": False, "error": "Editing is paused while a proposal is open: apply or dismiss it first."}
    live.props = {**live.props, "locked": False}

    answer = await app.on_retry_failed(cl.Action(name="live_retry_failed", payload={**payload, "column_id": "x"}))
    assert answer["ok"] is False and "reload" in answer["error"]
    stranger = await make_sheet(engine, unique + "s", 1)
    answer = await app.on_retry_failed(cl.Action(name="live_retry_failed", payload={
        "table_id": str(stranger.table.id), "column_id": stranger.col("Out")}))
    assert answer["ok"] is False and "No table" in answer["error"]  # not even visible to this account

    answer = await app.on_retry_failed(cl.Action(name="live_retry_failed", payload=payload))
    assert answer["ok"] is True and answer["total"] == 3, answer
    async with transaction(sheet.account, engine=engine) as conn:
        job = await jobs.get_job(conn, answer["job_id"])
        thread = (await conn.execute(text("SELECT thread_id FROM jobs WHERE id = :j"), {"j": job.id})).scalar_one()
    assert thread == session.thread_id  # a reloaded chat picks the fill up again
    follower = job_progress.FOLLOWERS[answer["job_id"]][0]
    await follower
    texts = [d["output"] for _, e, d in events if e in ("new_message", "update_message")]
    assert texts[-1].startswith("Filled **Out**: 3 / 3 done · 0 failed"), texts

    again = await app.on_retry_failed(cl.Action(name="live_retry_failed", payload=payload))
    assert again["ok"] is True and again["total"] == 0  # nothing failed any more: nothing followed
    assert again["job_id"] not in job_progress.FOLLOWERS


async def test_an_enrich_in_the_chat_shows_the_samples_progress_then_its_proposal(app, engine, unique, pipeline,
                                                                                   cell_llm):
    import chainlit as cl

    cell_llm.reset(latency_s=0.2)
    sheet = await make_sheet(engine, unique, 8)
    events: list = []
    session = _session(sheet.account, events)
    session.has_first_interaction = True
    metadata = {"workspace_id": str(sheet.table.workspace_id), "workspace_name": "theirs"}
    await app.resume({"id": session.thread_id, "steps": [], "elements": [], "metadata": metadata})
    cl.user_session.set("active_table_id", str(sheet.table.id))
    await app.on_message(cl.Message(content="enrich column Out", author="user", type="user_message"))
    for task, _ in list(job_progress.FOLLOWERS.values()):
        await task  # the progress message gets its final summary just after the tool saw the job end

    said: dict[str, str] = {}  # message id → its last text, in the order the messages appeared
    for _, kind, data in events:
        if kind in ("new_message", "update_message") and data.get("type") == "assistant_message":
            said[data["id"]] = data["output"]
    texts = list(said.values())
    computing = next(i for i, t in enumerate(texts) if "sample of **Out**" in t)
    assert texts[computing].startswith("Computed a sample of **Out**: 5 / 5 done · 0 failed")
    assert any("background workers are computing" in t for t in texts[:computing])
    (proposal,) = [d for _, kind, d in events if kind == "element" and d.get("name") == "Proposal"]
    last = texts[-1]
    assert "**Apply**" in last and "**Dismiss**" in last and "background workers are computing" not in last
    assert proposal["props"]["kind"] == "data" and len(proposal["props"]["rows"]) >= 5
