"""Rows added outside proposals (REST records, bulk rows, file imports into a table) get their AI cells
queued in the same transaction: one fill job per AI column, written to the outbox so nothing waits on
Redis; cells given a value are pinned instead. The first tests run with no worker (the jobs stay
queued); the last ones start the fill pipeline and see the cells filled."""

import asyncio
import math

import pytest
from fakes.cell_llm import expected
from sqlalchemy import text
from workerkit import wait_job

from db.ai_cells import rows_per_message
from db.engine import transaction


@pytest.fixture
async def headers(token_headers):
    return await token_headers()


async def _leads(client, headers, *, rows: int = 2, more_ai: list[dict] = ()) -> dict:
    """A table Company, Description with `rows` rows, then an AI column Pitch (and `more_ai`); its first
    fill's cells are marked done, as if a worker had run it."""
    r = await client.post("/tables", headers=headers, json={"name": "Leads", "columns": [
        {"name": "Company", "type": "text"}, {"name": "Description", "type": "long_text"}]})
    table = r.json()
    if rows:
        r = await client.post(f"/tables/{table['id']}/records", headers=headers, json={
            "rows": [{"Company": f"C{n}", "Description": f"makes thing {n}"} for n in range(rows)]})
        assert r.status_code == 201 and r.json()["jobs"] == [], r.text  # no AI column yet: nothing queued
    for spec in [{"name": "Pitch", "type": "text", "ai": {"prompt": "One line pitch for {Description}"}},
                 *more_ai]:
        r = await client.post(f"/tables/{table['id']}/columns", headers=headers, json=spec)
        assert r.status_code == 201, r.text
    r = await client.get(f"/tables/{table['id']}", headers=headers)
    return r.json()


def _col(table: dict, name: str) -> str:
    return next(c["id"] for c in table["columns"] if c["name"] == name)


async def _job_row(engine, job_id: str) -> dict:
    async with transaction(None, engine=engine) as conn:
        row = (await conn.execute(text(
            "SELECT j.status, j.total, j.reason, j.scope, j.column_id::text AS column_id, "
            " (SELECT count(*) FROM outbox o WHERE o.payload ->> 'job' = j.id::text) AS messages "
            "FROM jobs j WHERE j.id = CAST(:j AS uuid)"), {"j": job_id})).mappings().one()
    return dict(row)


async def _meta(engine, record_id: int, column_id: str) -> dict:
    async with transaction(None, engine=engine) as conn:
        return (await conn.execute(text("SELECT meta -> :c FROM records WHERE id = :r"),
                                   {"c": column_id, "r": record_id})).scalar_one() or {}


# -- without a worker: the jobs are written and wait in the outbox ------------------------------------


async def test_a_record_created_through_the_api_queues_its_ai_cell(engine, client, headers):
    table = await _leads(client, headers)
    pitch = _col(table, "Pitch")
    r = await client.post(f"/tables/{table['id']}/records", headers=headers,
                          json={"values": {"Company": "Acme", "Description": "makes anvils"}})
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["cells"][pitch]["status"] == "pending" and not record["cells"][pitch]["pinned"]
    job_id = r.headers["X-Fill-Job"]
    job = await _job_row(engine, job_id)
    assert job == {"status": "queued", "total": 1, "reason": "new_rows", "scope": {"new_rows": 1},
                   "column_id": pitch, "messages": 1}
    assert (await _meta(engine, record["id"], pitch))["j"] == job_id  # the cell belongs to the job
    r = await client.get(f"/jobs/{job_id}", headers=headers)
    assert r.status_code == 200 and (r.json()["queued"], r.json()["done"]) == (1, 0)


async def test_a_value_given_for_the_ai_column_is_pinned_and_not_queued(engine, client, headers):
    table = await _leads(client, headers)
    pitch = _col(table, "Pitch")
    r = await client.post(f"/tables/{table['id']}/records", headers=headers,
                          json={"values": {"Company": "Acme", "Description": "makes anvils", "Pitch": "Hand-made"}})
    assert r.status_code == 201, r.text
    cell = r.json()["cells"][pitch]
    assert (cell["value"], cell["status"], cell["pinned"]) == ("Hand-made", "completed", True)
    assert "X-Fill-Job" not in r.headers  # its only AI cell was given: no job at all
    assert "j" not in await _meta(engine, r.json()["id"], pitch)

    r = await client.post(f"/tables/{table['id']}/records", headers=headers, json={"rows": [
        {"Company": "A", "Description": "one", "Pitch": "Given"}, {"Company": "B", "Description": "two"},
        {"Company": "C", "Description": "three", "Pitch": None}]})  # null is no value: it is queued
    assert r.status_code == 201, r.text
    body = r.json()
    (job_id,) = body["jobs"]
    assert r.headers["X-Fill-Job"] == job_id
    assert (await _job_row(engine, job_id))["total"] == 2
    metas = [await _meta(engine, rid, pitch) for rid in body["ids"]]
    assert metas[0] == {"p": True, "s": "completed"}
    assert [(m["s"], m["j"]) for m in metas[1:]] == [("pending", job_id)] * 2


async def test_one_job_per_ai_column_names_them_all(engine, client, headers):
    table = await _leads(client, headers, more_ai=[
        {"name": "Size", "type": "number", "ai": {"prompt": "How big is {Company}?"}}])
    r = await client.post(f"/tables/{table['id']}/records", headers=headers, json={
        "rows": [{"Company": f"New {n}", "Description": f"new thing {n}"} for n in range(5)]})
    body = r.json()
    assert len(body["jobs"]) == 2 and r.headers["X-Fill-Job"] == ", ".join(body["jobs"])
    jobs = [await _job_row(engine, j) for j in body["jobs"]]
    assert {j["column_id"] for j in jobs} == {_col(table, "Pitch"), _col(table, "Size")}
    assert [(j["total"], j["scope"]) for j in jobs] == [(5, {"new_rows": 5})] * 2


async def test_an_import_into_a_table_queues_the_new_rows_and_marks_updated_inputs(engine, client, headers):
    table = await _leads(client, headers, rows=0)
    pitch = _col(table, "Pitch")
    csv = b"Company,Description,Pitch\nAcme,makes anvils,\nBolt,makes bolts,Our own words\nCog,makes cogs,\n"
    r = await client.post(f"/tables/{table['id']}/import", headers=headers, files={"file": ("leads.csv", csv)})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["added"] == 3 and len(report["jobs"]) == 1 and r.headers["X-Fill-Job"] == report["jobs"][0]
    assert (await _job_row(engine, report["jobs"][0]))["total"] == 2
    page = (await client.get(f"/tables/{table['id']}/records", headers=headers)).json()["items"]
    cells = [rec["cells"][pitch] for rec in page]
    assert [(c["status"], c["pinned"]) for c in cells] == [("pending", False), ("completed", True),
                                                          ("pending", False)]
    assert cells[1]["value"] == "Our own words"

    # as if a worker had filled Acme's pitch: updating Acme's description by key makes it stale, and
    # the update's new row is queued in a job of its own
    acme = page[0]["id"]
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text(
            "UPDATE records SET data = data || jsonb_build_object(CAST(:c AS text), 'old pitch'), "
            "meta = jsonb_set(meta, ARRAY[:c], '{\"s\": \"completed\", \"v\": 1}') WHERE id = :r"),
            {"c": pitch, "r": acme})
    update = b"Company,Description\nAcme,makes anvils and hammers\nDyn,makes dynamos\n"
    r = await client.post(f"/tables/{table['id']}/import", headers=headers, data={"key_column": "Company"},
                          files={"file": ("update.csv", update)})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["added"], report["updated"], len(report["jobs"])) == (1, 1, 1)
    assert r.headers["X-Fill-Job"] == report["jobs"][0]
    page = (await client.get(f"/tables/{table['id']}/records", headers=headers)).json()["items"]
    assert page[0]["cells"][pitch]["status"] == "stale" and page[0]["cells"][pitch]["value"] == "old pitch"
    assert page[-1]["cells"][pitch]["status"] == "pending"
    assert (await _meta(engine, page[-1]["id"], pitch))["j"] == report["jobs"][0]


async def test_an_import_of_thousands_of_rows_is_one_job_per_column(engine, client, headers):
    table = await _leads(client, headers, rows=0)
    csv = "Company,Description\n" + "".join(f"C{n},makes item {n}\n" for n in range(3000))
    r = await client.post(f"/tables/{table['id']}/import", headers=headers, files={"file": ("big.csv", csv.encode())})
    assert r.status_code == 200, r.text
    (job_id,) = r.json()["jobs"]
    job = await _job_row(engine, job_id)
    assert (job["total"], job["scope"]) == (3000, {"new_rows": 3000})
    assert job["messages"] == math.ceil(3000 / rows_per_message())  # in small messages, as every fill's


# -- with the fill pipeline running -------------------------------------------------------------------


async def test_a_record_added_through_the_api_gets_filled(engine, client, headers, pipeline, fake):
    table = await _leads(client, headers, rows=3)
    pitch = _col(table, "Pitch")
    async with transaction(None, engine=engine) as conn:  # the column's own fill: let it finish first
        first = (await conn.execute(text("SELECT id::text FROM jobs WHERE column_id = CAST(:c AS uuid)"),
                                    {"c": pitch})).scalar_one()
    await wait_job(engine, first)
    r = await client.post(f"/tables/{table['id']}/records", headers=headers, json={"rows": [
        {"Company": "Acme", "Description": "makes anvils"}, {"Company": "Bolt", "Description": "makes bolts",
                                                              "Pitch": "Kept as written"}]})
    assert r.status_code == 201, r.text
    (job_id,) = r.json()["jobs"]
    job = await wait_job(engine, job_id)
    assert (job["status"], job["total"], job["done"], job["failed"]) == ("completed", 1, 1, 0)
    acme, bolt = r.json()["ids"]
    got = (await client.get(f"/tables/{table['id']}/records/{acme}", headers=headers)).json()["cells"][pitch]
    assert got["status"] == "completed" and got["value"] == expected(
        {"name": "Pitch", "type": "text", "options": None}, {"Description": "makes anvils"})
    kept = (await client.get(f"/tables/{table['id']}/records/{bolt}", headers=headers)).json()["cells"][pitch]
    assert (kept["value"], kept["pinned"]) == ("Kept as written", True)


async def test_chained_ai_columns_of_new_rows_end_computed_from_each_other(engine, client, headers, pipeline,
                                                                           fake):
    table = await _leads(client, headers, rows=0, more_ai=[
        {"name": "Tagline", "type": "text", "ai": {"prompt": "A tagline from {Pitch}", "auto_update": True}}])
    pitch, tagline = _col(table, "Pitch"), _col(table, "Tagline")
    r = await client.post(f"/tables/{table['id']}/records", headers=headers, json={
        "rows": [{"Company": f"C{n}", "Description": f"makes widget {n}"} for n in range(4)]})
    assert len(r.json()["jobs"]) == 2
    for job_id in r.json()["jobs"]:
        await wait_job(engine, job_id)
    ids = r.json()["ids"]
    spec = {"name": "Tagline", "type": "text", "options": None}
    for _ in range(100):  # a tagline computed before its pitch landed goes stale and is computed again
        page = (await client.get(f"/tables/{table['id']}/records", headers=headers)).json()["items"]
        cells = {rec["id"]: rec["cells"] for rec in page}
        if all(cells[i][tagline]["status"] == "completed" and cells[i][tagline]["value"] == expected(
                spec, {"Pitch": cells[i][pitch]["value"]}) for i in ids):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(cells)
    assert all(cells[i][pitch]["status"] == "completed" for i in ids)
