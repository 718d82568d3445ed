"""`GET /tables/{id}/ai-status`: each AI column's cells counted by status over the whole table, not a page."""

import json

from sqlalchemy import text

from db.engine import transaction


async def _set_state(engine, record_id: int, column_id: str, state: dict) -> None:
    """A cell's state as a worker would leave it (the job's hold on it gone)."""
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE records SET meta = jsonb_set(meta, ARRAY[:c], CAST(:m AS jsonb)) "
                                "WHERE id = :r"), {"c": column_id, "r": record_id, "m": json.dumps(state)})


async def test_counts_cover_every_row_and_name_running_fills(client, user, engine):
    h = user.headers
    r = await client.post("/tables", headers=h, json={"name": "Leads", "columns": [
        {"name": "Company", "type": "text"}, {"name": "Description", "type": "long_text"}]})
    table = r.json()
    r = await client.get(f"/tables/{table['id']}/ai-status", headers=h)
    assert r.status_code == 200 and r.json()["columns"] == []  # no AI column yet

    r = await client.post(f"/tables/{table['id']}/records", headers=h, json={
        "rows": [{"Company": f"C{n}", "Description": f"makes thing {n}"} for n in range(150)]})
    ids = r.json()["ids"]
    r = await client.post(f"/tables/{table['id']}/columns", headers=h, json={
        "name": "Pitch", "type": "text", "ai": {"prompt": "One line pitch for {Description}"}})
    pitch, job = r.json()["id"], r.headers["X-Fill-Job"]
    await _set_state(engine, ids[0], pitch, {"s": "completed", "v": 1})
    await _set_state(engine, ids[1], pitch, {"s": "stale", "v": 1})
    await _set_state(engine, ids[140], pitch, {"s": "error", "e": "refused", "v": 1})  # far past the first page
    r = await client.post(f"/tables/{table['id']}/records", headers=h, json={
        "values": {"Company": "Given", "Description": "x", "Pitch": "Written by hand"}})
    assert r.status_code == 201

    page = (await client.get(f"/tables/{table['id']}/records?limit=50", headers=h)).json()
    assert not any(rec["cells"][pitch]["status"] == "error" for rec in page["items"])
    r = await client.get(f"/tables/{table['id']}/ai-status", headers=h)
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["cursor"] >= page["cursor"]
    assert status["columns"] == [{
        "column_id": pitch, "name": "Pitch", "idle": 0, "pending": 147, "computing": 0, "completed": 2,
        "error": 1, "stale": 1, "jobs": [job]}]


async def test_cells_of_rows_older_than_the_column_count_as_idle(client, user, engine):
    h = user.headers
    r = await client.post("/tables", headers=h, json={"name": "Plain", "columns": [{"name": "A", "type": "text"}]})
    table = r.json()
    await client.post(f"/tables/{table['id']}/records", headers=h, json={"rows": [{"A": "x"}, {"A": "y"}]})
    r = await client.post(f"/tables/{table['id']}/columns", headers=h, json={
        "name": "B", "type": "text", "ai": {"prompt": "About {A}"}})
    b = r.json()["id"]
    async with transaction(None, engine=engine) as conn:  # as before any fill touched them
        await conn.execute(text("UPDATE records SET meta = meta - CAST(:c AS text) WHERE table_id = :t"),
                           {"c": b, "t": table["id"]})
        await conn.execute(text("UPDATE jobs SET status = 'cancelled' WHERE table_id = :t"), {"t": table["id"]})
    (col,) = (await client.get(f"/tables/{table['id']}/ai-status", headers=h)).json()["columns"]
    assert (col["idle"], col["pending"], col["jobs"]) == (2, 0, [])


async def test_another_users_table_is_not_found(client, make_user, table):
    stranger = await make_user()
    r = await client.get(f"/tables/{table['id']}/ai-status", headers=stranger.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
