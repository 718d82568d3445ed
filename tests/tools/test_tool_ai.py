"""The AI column tools against the real fill pipeline (Dramatiq workers on Redis, the outbox relay,
Postgres) with the fake Claude: fill_column writes and reports progress; enrich_column has the workers
compute a sample without writing and proposes it; applying a new AI column starts its fill."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))

from workerkit import Pipeline, expected_values, quiet_cells, wait_job

import jobs
from core.markdown import md_text
from db import records, tables
from db.engine import transaction
from db.schemas import AiConfig, ColumnCreate
from proposals import store
from proposals.apply import apply
from tools import ai
from tools.base import JobEvent, ProposalEvent
from tools.registry import run_tool
from worker.llm import offline_value


@pytest.fixture(scope="module")
def pipeline(services, cell_llm):
    p = Pipeline(services, cell_llm)
    p.start()
    yield p
    p.stop()


class Sheet:
    """A Companies table of the context's account, with an AI column "Out" and its rows."""

    def __init__(self, table, ids):
        self.table, self.ids = table, ids

    def col(self, name: str) -> str:
        return next(str(c.id) for c in self.table.columns if c.name == name)


@pytest.fixture
def sheet(engine, account):
    acc, ws = account

    async def make(rows: int, *, ai_column: bool = True) -> Sheet:
        async with transaction(acc, engine=engine) as conn:
            t = await tables.create_table(conn, workspace_id=ws, name="Companies", columns=[
                ColumnCreate(name="Name", type="text"), ColumnCreate(name="Description", type="long_text")])
            ids = await records.create_records(conn, t, [
                {"Name": f"Company {n}", "Description": f"Company {n} makes product {n * 7 % 13}"}
                for n in range(rows)])
            if ai_column:
                await tables.create_column(conn, t.id, ColumnCreate(name="Out", type="text", ai=AiConfig(
                    prompt="Summarize {Description} in a few words", depends_on=["Description"])))
            return Sheet(await tables.get_table(conn, t.id), ids)

    return make


async def test_fill_column_starts_a_job_whose_cells_complete(ctx, events, engine, sheet, pipeline, fake):
    s = await sheet(12)
    out = await run_tool(ctx, "fill_column", {"table_id": str(s.table.id), "column_id": "Out", "scope": "all"})
    assert not out.is_error, out.text()
    assert out.content["cells_queued"] == 12 and "estimated_cost_usd" not in out.content  # 12 ≤ 50 cells
    started = [e for e in events if isinstance(e, JobEvent)]
    assert [(str(e.job_id), e.column_name, e.total) for e in started] == [(out.content["job_id"], "Out", 12)]

    shown: list[str] = []

    async def show(line: str) -> None:
        shown.append(line)

    job = await ai.follow_job(ctx, out.content["job_id"], "Out", show, interval_s=0.05, timeout_s=60)
    assert job.status == "completed" and job.done == 12 and job.failed == 0
    assert shown[-1].startswith("Filled **Out**: 12 / 12 done · 0 failed")
    assert all(line.startswith("Filling **Out**:") for line in shown[:-1])
    got = await quiet_cells(engine, s)
    assert {rid: c["value"] for rid, c in got.items()} == expected_values(s, got)
    assert {c["s"] for c in got.values()} == {"completed"}


async def test_fill_of_more_than_50_cells_states_its_estimated_cost(ctx, sheet, pipeline, fake, engine):
    s = await sheet(60)
    out = await run_tool(ctx, "fill_column", {"table_id": str(s.table.id), "column_id": "Out"})
    assert out.content["cells_queued"] == 60 and out.content["estimated_cost_usd"] > 0
    await wait_job(engine, out.content["job_id"])


async def test_progress_summary_lists_failed_cells_and_why(ctx, sheet, pipeline, fake, engine):
    s = await sheet(6)
    fake.configure(poison="Company 3 makes")
    out = await run_tool(ctx, "fill_column", {"table_id": str(s.table.id), "column_id": "Out"})
    shown: list[str] = []

    async def show(line: str) -> None:
        shown.append(line)

    job = await ai.follow_job(ctx, out.content["job_id"], "Out", show, interval_s=0.05, timeout_s=60)
    assert (job.done, job.failed) == (5, 1)
    bad = s.ids[3]
    assert "5 / 6 done · 1 failed" in shown[-1]
    assert f"- row {bad}: Claude refused the request" in shown[-1] and "Retry failed" in shown[-1]


async def test_a_job_over_its_cost_cap_stops_and_says_so(ctx, sheet, pipeline, fake, engine):
    pipeline.restart(TABLECHAT_MAX_JOB_COST_USD=0.00002)
    try:
        s = await sheet(40)
        out = await run_tool(ctx, "fill_column", {"table_id": str(s.table.id), "column_id": "Out"})
        shown: list[str] = []

        async def show(line: str) -> None:
            shown.append(line)

        job = await ai.follow_job(ctx, out.content["job_id"], "Out", show, interval_s=0.05, timeout_s=60)
    finally:
        pipeline.restart()
    assert job.status == "stopped" and job.done < 40
    assert shown[-1].startswith("Stopped filling **Out**") and md_text("cost limit of $0.00") in shown[-1]


async def _cells(engine, table_id):
    async with transaction(None, engine=engine) as conn:
        return {r.id: (r.data, r.meta, r.updated_at) for r in (await conn.execute(
            text("SELECT id, data, meta, updated_at FROM records WHERE table_id = :t"), {"t": table_id})).all()}


async def test_enrich_column_has_the_workers_compute_a_sample_and_proposes_it_without_writing(
        ctx, events, engine, sheet, pipeline, fake):
    s = await sheet(8)
    before = await _cells(engine, s.table.id)
    out = await run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "column_id": "Out"})
    assert not out.is_error, out.text()
    assert out.ends_turn and (out.content["sample"], out.content["rows_in_scope"]) == (5, 8)
    assert (out.content["computed"], out.content["failed"]) == (5, 0) and out.content["cost_usd"] > 0
    assert out.content["model"] == "claude-haiku-4-5"
    assert f'fill_column {{column_id: "{s.col("Out")}", scope: "empty"}}' in out.content["scale"]
    started, proposed = ([e for e in events if isinstance(e, kind)] for kind in (JobEvent, ProposalEvent))
    (job_event,), (event,) = started, proposed
    assert (str(job_event.job_id), job_event.column_name, job_event.total) == (out.content["job_id"], "Out", 5)
    assert event.kind == "data"

    after = await _cells(engine, s.table.id)
    assert after == before  # no cell changed: values, states, versions, not even updated_at
    got = {rid: {"data": data} for rid, (data, _, _) in after.items()}
    want = expected_values(s, got)
    out_id = s.col("Out")
    assert {op["row_id"]: op["changes"][out_id] for op in event.payload["operations"]} == {
        rid: want[rid] for rid in s.ids[:5]}
    assert {int(r) for r in fake.stats()["rows"]} == set(s.ids[:5])  # the workers called the model for these
    first = event.payload["research_log"][0]
    assert first["query"] == "Summarize {Description} in a few words" and first["source"] == "claude-haiku-4-5"
    assert "sample of 5 of 8 rows" in first["note"] and "5 values, 0 failed" in first["note"]
    assert f"${out.content['cost_usd']:.4f}" in first["note"]
    assert "After Apply, ask to fill the remaining 3 rows." in event.payload["reasoning"]
    async with transaction(None, engine=engine) as conn:
        job = (await conn.execute(text("SELECT mode, status, done, cost_usd FROM jobs WHERE id = :j"),
                                  {"j": out.content["job_id"]})).one()
        runs = (await conn.execute(text("SELECT count(*), sum(cost_usd) FROM ai_runs WHERE job_id = :j"),
                                   {"j": out.content["job_id"]})).one()
    assert (job.mode, job.status, job.done) == ("preview", "completed", 5)
    assert runs[0] == 1 and float(runs[1]) == float(job.cost_usd) == out.content["cost_usd"]


async def test_the_conversation_shows_a_preview_as_a_sample_being_computed(ctx, events, engine, sheet, pipeline, fake):
    s = await sheet(6)
    fake.configure(poison="Company 2 makes")
    out = await run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "column_id": "Out", "sample": 4})
    assert not out.is_error, out.text()
    assert (out.content["computed"], out.content["failed"]) == (3, 1)
    shown: list[str] = []

    async def show(line: str) -> None:
        shown.append(line)

    job = await ai.follow_job(ctx, out.content["job_id"], "Out", show, interval_s=0.05, timeout_s=10)
    assert (job.mode, job.status, job.done, job.failed) == ("preview", "completed", 3, 1)
    assert shown[-1].startswith("Computed a sample of **Out**: 3 / 4 done · 1 failed") and "nothing written" in shown[-1]
    assert f"- row {s.ids[2]}: Claude refused the request" in shown[-1] and "Retry failed" not in shown[-1]
    (event,) = [e for e in events if isinstance(e, ProposalEvent)]
    assert [op["row_id"] for op in event.payload["operations"]] == [s.ids[0], s.ids[1], s.ids[3]]
    assert any(f"Row {s.ids[2]}: no value (Claude refused the request" in e.get("note", "")
               for e in event.payload["research_log"])


async def test_a_plain_column_is_researched_from_the_rest_of_its_row(ctx, events, engine, sheet, pipeline, fake):
    s = await sheet(3, ai_column=False)
    async with transaction(ctx.account_id, engine=engine) as conn:
        await tables.create_column(conn, s.table.id, ColumnCreate(name="Country", type="text"))
    out = await run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "column_id": "Country", "sample": 2})
    assert not out.is_error, out.text()
    assert "enrich_column again" in out.content["scale"] and "1 more rows are in scope" in out.content["scale"]
    (event,) = [e for e in events if isinstance(e, ProposalEvent)]
    assert event.payload["research_log"][0]["query"] == "Find the Country for this row, from {Name}, {Description}."
    assert [v for op in event.payload["operations"] for v in op["changes"].values()] == [
        "about Company 0 Company 0 makes", "about Company 1 Company 1 makes"]  # the fake: 5 words of the inputs


async def test_an_enrich_the_workers_do_not_finish_in_time_is_cancelled_and_says_so(
        ctx, events, engine, sheet, pipeline, monkeypatch):
    from core.settings import get_settings

    s = await sheet(4)
    pipeline.stop()
    monkeypatch.setenv("TABLECHAT_PREVIEW_TIMEOUT_S", "1")
    get_settings.cache_clear()
    try:
        out = await run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "column_id": "Out"})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        pipeline.start()
    assert out.is_error and "had not finished after 1 s" in out.text() and "`make run` starts them" in out.text()
    assert not [e for e in events if isinstance(e, ProposalEvent)]
    async with transaction(None, engine=engine) as conn:
        status = (await conn.execute(text("SELECT status FROM jobs WHERE id = :j"),
                                     {"j": out.content["job_id"]})).scalar_one()
    assert status == "cancelled"


async def test_a_turn_stopped_while_waiting_cancels_the_sample(ctx, events, engine, sheet, pipeline, fake):
    import asyncio

    s = await sheet(4)
    fake.configure(latency_s=2.0)
    task = asyncio.create_task(run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "column_id": "Out"}))
    while not [e for e in events if isinstance(e, JobEvent)]:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (started,) = [e for e in events if isinstance(e, JobEvent)]
    job = await wait_job(engine, started.job_id, timeout=5)
    assert job["status"] == "cancelled"


async def test_applying_a_new_ai_column_starts_its_fill(ctx, events, engine, sheet, pipeline, fake):
    s = await sheet(7, ai_column=False)
    out = await run_tool(ctx, "propose_schema", {
        "mode": "update", "table_id": str(s.table.id), "reasoning": "a summary per company",
        "operations": [{"action": "add", "column": {"name": "Summary", "type": "text", "ai": {
            "prompt": "Summarize {Description}", "depends_on": ["Description"]}}}]})
    assert not out.is_error, out.text()
    async with transaction(ctx.account_id, engine=engine) as conn:
        stored = await store.get(conn, out.content["proposal_id"], account_id=ctx.account_id,
                                 thread_id=ctx.thread_id)
        result = await apply(conn, stored, None, ctx.account_id)
    assert result.status == "applied" and len(result.jobs) == 1
    job = await wait_job(engine, result.jobs[0])
    assert (job["status"], job["done"], job["total"]) == ("completed", 7, 7)
    async with transaction(None, engine=engine) as conn:
        t = await tables.get_table(conn, s.table.id)
        summary = next(str(c.id) for c in t.columns if c.name == "Summary")
        values = (await conn.execute(text("SELECT data ->> :c FROM records WHERE table_id = :t"),
                                     {"c": summary, "t": t.id})).scalars().all()
    assert len(values) == 7 and all(v and v.startswith("about Company") for v in values)


@pytest.mark.parametrize(("rows", "shown"), [(60, True), (50, False)])
async def test_a_new_ai_column_over_50_cells_shows_its_estimated_cost(ctx, events, sheet, rows, shown):
    s = await sheet(rows, ai_column=False)
    out = await run_tool(ctx, "propose_schema", {
        "mode": "update", "table_id": str(s.table.id), "reasoning": "tags",
        "operations": [{"action": "add", "column": {"name": "Kind", "type": "text", "ai": {
            "prompt": "What kind of company is {Name}? {Description}", "depends_on": ["Name", "Description"]}}},
            {"action": "add", "column": {"name": "Plain", "type": "text"}}]})
    assert not out.is_error, out.text()
    (event,) = [e for e in events if isinstance(e, ProposalEvent)]
    estimates = jobs.fill_estimates(event.preview)
    if not shown:
        assert estimates == []
        return
    assert [(e["column"], e["cells"]) for e in estimates] == [("Kind", 60)]
    assert 0 < estimates[0]["usd"] < 1


async def test_enrich_with_a_new_column_proposes_it_with_its_sample(ctx, events, engine, sheet, pipeline, fake):
    s = await sheet(4, ai_column=False)
    before = await _cells(engine, s.table.id)
    out = await run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "new_column": {
        "name": "Pitch", "type": "text", "ai": {"prompt": "Pitch {Name}", "depends_on": ["Name"]}}, "sample": 2})
    assert not out.is_error, out.text()
    assert (out.content["sample"], out.content["rows_in_scope"], out.content["computed"]) == (2, 4, 2)
    (event,) = [e for e in events if isinstance(e, ProposalEvent)]
    assert event.kind == "schema_update"
    (op,) = event.payload["operations"]
    assert op["column"]["name"] == "Pitch" and op["column"]["ai"]["prompt"] == "Pitch {Name}"
    assert f"row {s.ids[0]}: 'about Company 0'" in event.payload["reasoning"]
    assert "the background workers then fill every row" in event.payload["reasoning"]
    assert await _cells(engine, s.table.id) == before
    (started,) = [e for e in events if isinstance(e, JobEvent)]
    async with transaction(None, engine=engine) as conn:
        t = await tables.get_table(conn, s.table.id)
        # how a reloaded chat titles the sample's progress, though its column does not exist
        assert await jobs.column_name(conn, await jobs.get_job(conn, started.job_id)) == "Pitch"
    assert [c.name for c in t.columns] == ["Name", "Description"]  # proposed, not added
    bad = await run_tool(ctx, "enrich_column", {"table_id": str(s.table.id), "new_column": {"name": "Name"}})
    assert bad.is_error and "needs ai" in bad.text()


async def test_the_offline_agent_enriches_through_the_offline_workers(ctx, events, engine, sheet, pipeline):
    from agent.loop import run_turn
    from agent.offline import OfflineModel
    from agent.sink import CollectingSink

    pipeline.restart(offline=True)  # `make run` without a key
    try:
        s = await sheet(7)
        before = await _cells(engine, s.table.id)
        ctx.active_table_id = s.table.id
        result = await run_turn(OfflineModel(), ctx, [], "enrich column Out", CollectingSink())
        after_enrich = await _cells(engine, s.table.id)
        fill = await run_tool(ctx, "fill_column", {"table_id": str(s.table.id), "column_id": "Out", "scope": "all"})
        filled = await wait_job(engine, fill.content["job_id"])
        async with transaction(None, engine=engine) as conn:
            models = set((await conn.execute(text("SELECT DISTINCT model FROM ai_runs WHERE job_id = :j"),
                                             {"j": filled["id"]})).scalars())
    finally:
        pipeline.restart()
    # a fill by the offline model is priced and audited as what it is: free
    assert (filled["status"], filled["done"], filled["cost_usd"], models) == ("completed", 7, 0.0, {"offline"})
    assert [c for c in result.history[-1]["content"] if c["type"] == "tool_result"][-1].get("is_error") is None
    assert "**Apply**" in result.text and "**Dismiss**" in result.text
    assert "ask me to “fill column Out” for the rest" in result.text
    (event,) = [e for e in events if isinstance(e, ProposalEvent)]
    desc, out_id = s.col("Description"), s.col("Out")
    column = {"name": "Out", "type": "text", "options": None}
    want = {rid: offline_value(column, {"Description": before[rid][0][desc]}) for rid in s.ids[:5]}
    assert {op["row_id"]: op["changes"][out_id] for op in event.payload["operations"]} == want
    first = event.payload["research_log"][0]
    assert first["source"] == "offline" and "sample of 5 of 7 rows" in first["note"] and "$0.0000" in first["note"]
    assert after_enrich == before


async def test_a_big_fill_offers_now_or_batch_and_starts_only_what_was_chosen(ctx, events, engine, sheet, pipeline,
                                                                              fake):
    s = await sheet(1200)
    args = {"table_id": str(s.table.id), "column_id": "Out", "scope": "all"}
    out = await run_tool(ctx, "fill_column", args)
    assert not out.is_error and out.content["choice_needed"] is True, out.text()
    assert out.content["estimated_batch_cost_usd"] == pytest.approx(out.content["estimated_cost_usd"] / 2, rel=1e-3)
    assert "1,200 cells" in out.content["estimate"] and "batch" in out.content["estimate"]
    assert "24 h" in out.content["estimate"] and "min" in out.content["estimate"]
    assert not [e for e in events if isinstance(e, JobEvent)]  # nothing started
    async with transaction(None, engine=engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM jobs WHERE table_id = :t"),
                                   {"t": s.table.id})).scalar_one() == 0

    out = await run_tool(ctx, "fill_column", {**args, "mode": "batch"})
    assert not out.is_error and out.content["cells_queued"] == 1200 and out.content["mode"] == "batch", out.text()
    done = await wait_job(engine, out.content["job_id"], timeout=120)
    assert (done["status"], done["done"], done["mode"]) == ("completed", 1200, "batch")
    assert fake.stats()["calls"] == 0 and fake.stats()["batches"]  # every cell through Message Batches

    bad = await run_tool(ctx, "fill_column", {**args, "mode": "later"})
    assert bad.is_error and "mode" in bad.text()
