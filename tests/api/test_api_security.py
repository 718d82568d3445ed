"""Tokens, isolation between accounts through the API, and row-level security as the second wall."""

import pytest
from sqlalchemy import text

from db.engine import transaction


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer tc_not-a-real-token"}, {"Authorization": "Basic dXNlcjpwdw=="},
    {"Authorization": "Bearer "}, {"Authorization": "tc_no_scheme"}, {"Authorization": "Bearer " + "x" * 5000},
])
async def test_missing_or_bad_token_is_401(client, headers):
    for method, url in (("GET", "/me"), ("GET", "/tables"), ("POST", "/tables")):
        r = await client.request(method, url, json={"name": "x"} if method == "POST" else None, headers=headers)
        assert r.status_code == 401, (method, url, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"


async def test_token_of_a_deleted_account_stops_working(client, engine, make_user):
    ghost = await make_user()
    assert (await client.get("/me", headers=ghost.headers)).status_code == 200
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": ghost.id})
    assert (await client.get("/me", headers=ghost.headers)).status_code == 401


async def _alice_table(client, alice):
    t = (await client.post("/tables", json={"name": "Private", "columns": [{"name": "Secret"}]},
                           headers=alice.headers)).json()
    ids = (await client.post(f"/tables/{t['id']}/records", json={"rows": [{"Secret": "s1"}, {"Secret": "s2"}]},
                             headers=alice.headers)).json()["ids"]
    return t, t["columns"][0]["id"], ids


async def test_another_users_table_is_404_everywhere_and_stays_intact(client, make_user):
    alice, bob = await make_user(), await make_user()
    t, cid, ids = await _alice_table(client, alice)
    tid, rid = t["id"], ids[0]
    calls = [
        ("GET", f"/tables/{tid}", None), ("PATCH", f"/tables/{tid}", {"name": "Mine"}),
        ("DELETE", f"/tables/{tid}", None), ("GET", f"/tables/{tid}/columns", None),
        ("POST", f"/tables/{tid}/columns", {"name": "Injected"}),
        ("PATCH", f"/tables/{tid}/columns/{cid}", {"name": "Renamed"}),
        ("DELETE", f"/tables/{tid}/columns/{cid}", None),
        ("POST", f"/tables/{tid}/records", {"values": {"Secret": "x"}}),
        ("GET", f"/tables/{tid}/records", None), ("GET", f"/tables/{tid}/records/{rid}", None),
        ("PATCH", f"/tables/{tid}/records/{rid}", {"values": {"Secret": "x"}}),
        ("DELETE", f"/tables/{tid}/records/{rid}", None),
        ("PATCH", f"/tables/{tid}/records/{rid}/cells/{cid}", {"value": "x", "version": 0}),
        ("GET", f"/tables/{tid}/columns/{cid}/cells", None), ("GET", f"/tables/{tid}/updates", None),
    ]
    for method, url, payload in calls:
        r = await client.request(method, url, json=payload, headers=bob.headers)
        assert r.status_code == 404, (method, url, r.status_code)
        assert r.json()["error"]["code"] == "not_found"
    assert (await client.get("/tables", headers=bob.headers)).json()["items"] == []

    after = (await client.get(f"/tables/{tid}", headers=alice.headers)).json()
    assert after["name"] == "Private" and [c["name"] for c in after["columns"]] == ["Secret"]
    page = (await client.get(f"/tables/{tid}/records", headers=alice.headers)).json()
    assert page["total"] == 2 and [it["cells"][cid]["value"] for it in page["items"]] == ["s1", "s2"]
    assert all(it["cells"][cid]["version"] == 0 for it in page["items"])


@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "'; DROP TABLE records; --", "00000000-0000-0000-0000-00000000000g"])
async def test_malformed_table_id_is_404(client, user, bad):
    for url in (f"/tables/{bad}", f"/tables/{bad}/records", f"/tables/{bad}/updates",
                f"/tables/{bad}/records/1/cells/x"):
        r = await client.request("PATCH" if "cells" in url else "GET", url, json={"value": 1, "version": 0},
                                 headers=user.headers)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["code"] == "not_found"


async def test_row_level_security_hides_other_accounts_rows_from_raw_sql(client, engine, make_user):
    alice, bob = await make_user(), await make_user()
    t, cid, _ids = await _alice_table(client, alice)
    params = {"t": t["id"]}
    async with transaction(bob.id, engine=engine) as conn:
        for table in ("records", "changes"):
            n = (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE table_id = :t"), params)).scalar()
            assert n == 0, table
            assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 0, table
        assert (await conn.execute(text("SELECT count(*) FROM data_tables WHERE id = :t"), params)).scalar() == 0
        assert (await conn.execute(text("SELECT count(*) FROM columns WHERE table_id = :t"), params)).scalar() == 0
        res = await conn.execute(text("UPDATE records SET data = '{}' WHERE table_id = :t"), params)
        assert res.rowcount == 0
        res = await conn.execute(text("UPDATE changes SET data = '{}' WHERE table_id = :t"), params)
        assert res.rowcount == 0
        res = await conn.execute(text("UPDATE data_tables SET name = 'pwned' WHERE id = :t"), params)
        assert res.rowcount == 0
        for table, key in (("records", "table_id"), ("changes", "table_id"), ("data_tables", "id")):
            res = await conn.execute(text(f"DELETE FROM {table} WHERE {key} = :t"), params)
            assert res.rowcount == 0, table

    # what Bob's transaction could not see is all still there for Alice, unchanged
    async with transaction(alice.id, engine=engine) as conn:
        rows = (await conn.execute(text("SELECT data ->> :c FROM records WHERE table_id = :t ORDER BY id"),
                                   {**params, "c": cid})).scalars().all()
        assert rows == ["s1", "s2"]
        assert (await conn.execute(text("SELECT name FROM data_tables WHERE id = :t"), params)).scalar() == "Private"
        assert (await conn.execute(text("SELECT count(*) FROM changes WHERE table_id = :t AND data = '{}'"),
                                   params)).scalar() == 0


async def test_row_level_security_refuses_writes_into_a_foreign_workspace(engine, make_user):
    alice, bob = await make_user(), await make_user()
    async with transaction(bob.id, engine=engine) as conn:
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(text("INSERT INTO data_tables (workspace_id, name) VALUES (:w, 'planted')"),
                               {"w": alice.workspace_id})
    async with transaction(alice.id, engine=engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM data_tables"))).scalar() == 0


async def test_token_use_is_recorded_without_a_write_per_request(client, engine, user):
    async def last_used():
        async with transaction(None, engine=engine) as conn:
            return (await conn.execute(text("SELECT last_used_at FROM api_tokens WHERE account_id = :a"),
                                       {"a": user.id})).scalar()

    assert await last_used() is None
    assert (await client.get("/me", headers=user.headers)).status_code == 200
    first = await last_used()
    assert first is not None
    assert (await client.get("/tables", headers=user.headers)).status_code == 200
    assert await last_used() == first
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' "
                                "WHERE account_id = :a"), {"a": user.id})
    stale = await last_used()
    assert (await client.get("/tables", headers=user.headers)).status_code == 200
    assert await last_used() > stale
