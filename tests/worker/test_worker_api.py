"""The REST routes of fills: start one, follow it, cancel it; only on the caller's own tables and jobs."""

from workerkit import wait_job


async def _table(client, headers, rows):
    r = await client.post("/tables", headers=headers, json={"name": "Leads", "columns": [
        {"name": "Company", "type": "text"}, {"name": "Description", "type": "long_text"}]})
    table = r.json()
    r = await client.post(f"/tables/{table['id']}/records", headers=headers,
                          json={"rows": [{"Company": f"C{n}", "Description": f"makes thing {n}"} for n in range(rows)]})
    assert r.status_code == 201, r.text
    r = await client.post(f"/tables/{table['id']}/columns", headers=headers, json={
        "name": "Pitch", "type": "text", "ai": {"prompt": "One line pitch for {Description}"}})
    assert r.status_code == 201, r.text
    assert r.headers["X-Fill-Job"]  # a new AI column starts filling at once
    return table["id"], r.json()["id"], r.headers["X-Fill-Job"]


async def test_start_follow_and_finish_a_fill(engine, token_headers, client, pipeline, fake):
    headers = await token_headers()
    table_id, column_id, first_job = await _table(client, headers, 25)
    await wait_job(engine, first_job)
    r = await client.get(f"/jobs/{first_job}", headers=headers)
    assert r.json()["status"] == "completed" and r.json()["done"] == 25
    r = await client.post(f"/tables/{table_id}/columns/Pitch/fill", headers=headers, json={"scope": "all"})
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["total"] == 25 and started["status"] == "queued"
    await wait_job(engine, started["job_id"])
    r = await client.get(f"/jobs/{started['job_id']}", headers=headers)
    job = r.json()
    assert r.status_code == 200 and job["status"] == "completed"
    assert (job["queued"], job["done"], job["failed"]) == (0, 25, 0) and job["cost_usd"] > 0
    assert job["column_id"] == column_id
    r = await client.post(f"/jobs/{started['job_id']}/cancel", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "completed"  # too late to cancel: unchanged
    r = await client.get(f"/tables/{table_id}/records?limit=100", headers=headers)
    assert {c["status"] for rec in r.json()["items"] for c in [rec["cells"][column_id]]} == {"completed"}


async def test_fill_errors_are_clear_and_jobs_are_private(engine, token_headers, client, pipeline, fake):
    owner, stranger = await token_headers(), await token_headers()
    table_id, _, _ = await _table(client, owner, 3)
    r = await client.post(f"/tables/{table_id}/columns/Company/fill", headers=owner, json={"scope": "all"})
    assert r.status_code == 422 and "not an AI column" in r.json()["error"]["message"]
    r = await client.post(f"/tables/{table_id}/columns/Pitch/fill", headers=owner, json={"scope": "most"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = await client.post(f"/tables/{table_id}/columns/Pitch/fill", headers=stranger, json={})
    assert r.status_code == 404
    r = await client.post(f"/tables/{table_id}/columns/Pitch/fill", headers=owner)  # no body: all
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    assert (await client.get(f"/jobs/{job_id}", headers=stranger)).status_code == 404
    assert (await client.post(f"/jobs/{job_id}/cancel", headers=stranger)).status_code == 404
    assert (await client.get("/jobs/not-a-job", headers=owner)).status_code == 404
    assert (await client.get(f"/jobs/{job_id}")).status_code == 401


async def test_a_fill_can_run_as_a_batch_through_the_api(engine, token_headers, client, pipeline, fake):
    headers = await token_headers()
    table_id, _, first_job = await _table(client, headers, 12)
    await wait_job(engine, first_job)
    r = await client.post(f"/tables/{table_id}/columns/Pitch/fill", headers=headers, json={"mode": "later"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = await client.post(f"/tables/{table_id}/columns/Pitch/fill", headers=headers,
                          json={"scope": "all", "mode": "batch"})
    assert r.status_code == 202, r.text
    await wait_job(engine, r.json()["job_id"])
    job = (await client.get(f"/jobs/{r.json()['job_id']}", headers=headers)).json()
    assert (job["mode"], job["status"], job["done"]) == ("batch", "completed", 12)
    assert fake.stats()["batches"]
