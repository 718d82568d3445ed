"""Records, cells, optimistic locking, value validation and the change feed."""

import asyncio
import json

import pytest

GOOD = {
    "Title": "Ship it", "Notes": "long " * 50, "Points": "3", "Done": "yes", "Due": "2026-03-01",
    "Status": "open", "Tags": ["ui", "DB"], "Link": "example.com/x", "Contact": "a@b.io", "Extra": {"k": [1, 2]},
}
STORED = {
    "Title": "Ship it", "Notes": "long " * 50, "Points": 3, "Done": True, "Due": "2026-03-01",
    "Status": "Open", "Tags": ["ui", "db"], "Link": "https://example.com/x", "Contact": "a@b.io",
    "Extra": {"k": [1, 2]},
}
BAD = {
    "Title": {"not": "text"}, "Notes": [1, 2], "Points": "lots", "Done": "maybe", "Due": "31/02/2026",
    "Status": "Pending", "Tags": ["ui", "mobile"], "Link": "not a url", "Contact": "nobody", "Extra": float("nan"),
}


def raw_json(payload, headers) -> dict:
    # NaN is not JSON, but Python clients send it as a bare `NaN`, which the server parses
    return {"content": json.dumps(payload), "headers": {**headers, "Content-Type": "application/json"}}


async def test_create_one_record_coerces_every_type(client, user, table, cols):
    r = await client.post(f"/tables/{table['id']}/records", json={"values": GOOD}, headers=user.headers)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert isinstance(rec["id"], int)
    assert {name: rec["cells"][cid]["value"] for name, cid in cols.items()} == STORED
    cell = rec["cells"][cols["Points"]]
    assert cell["version"] == 0 and cell["status"] == "idle" and cell["error"] is None

    r = await client.get(f"/tables/{table['id']}/records/{rec['id']}", headers=user.headers)
    assert r.status_code == 200 and r.json() == rec


@pytest.mark.parametrize("name", list(BAD))
async def test_bad_value_for_each_type_is_422_naming_the_column(client, user, table, cols, name):
    tid = table["id"]
    values = {"Title": "row", name: BAD[name]}
    r = await client.post(f"/tables/{tid}/records", **raw_json({"values": values}, user.headers))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid" and f'"{name}"' in err["message"]
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "ok"}}, headers=user.headers)
    rid = r.json()["id"]
    r = await client.patch(f"/tables/{tid}/records/{rid}/cells/{cols[name]}",
                           **raw_json({"value": BAD[name], "version": 0}, user.headers))
    assert r.status_code == 422 and f'"{name}"' in r.json()["error"]["message"]
    total = (await client.get(f"/tables/{tid}/records", headers=user.headers)).json()["total"]
    assert total == 1


async def test_required_column_and_unknown_column(client, user, table):
    tid = table["id"]
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Points": 1}}, headers=user.headers)
    assert r.status_code == 422 and '"Title" is required' in r.json()["error"]["message"]
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "x", "Colour": "red"}},
                          headers=user.headers)
    assert r.status_code == 422 and "Colour" in r.json()["error"]["message"]


async def test_bulk_create_in_one_call_and_limit(client, user, table, cols):
    tid = table["id"]
    rows = [{"Title": f"t{i}", cols["Points"]: i} for i in range(10_000)]
    r = await client.post(f"/tables/{tid}/records", json={"rows": rows}, headers=user.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["count"] == 10_000 and created["ids"] == sorted(created["ids"])
    page = (await client.get(f"/tables/{tid}/records", params={"limit": 2, "offset": 9_998},
                             headers=user.headers)).json()
    assert page["total"] == 10_000
    assert [it["cells"][cols["Title"]]["value"] for it in page["items"]] == ["t9998", "t9999"]

    r = await client.post(f"/tables/{tid}/records", json={"rows": rows + [{"Title": "one too many"}]},
                          headers=user.headers)
    assert r.status_code == 422
    assert any(p["field"].startswith("body") for p in r.json()["error"]["details"])
    r = await client.post(f"/tables/{tid}/records", json={"rows": [{"Title": "ok"}, {"Points": 2}]},
                          headers=user.headers)
    assert r.status_code == 422 and "Row 2" in r.json()["error"]["message"]
    assert (await client.get(f"/tables/{tid}/records", params={"limit": 1},
                             headers=user.headers)).json()["total"] == 10_000


async def test_list_with_filter_sort_and_paging(client, user, table, cols):
    tid = table["id"]
    rows = [{"Title": "a", "Status": "Open", "Points": 5}, {"Title": "b", "Status": "Closed", "Points": 1},
            {"Title": "c", "Status": "Open", "Points": 9}, {"Title": "d", "Points": 2}]
    await client.post(f"/tables/{tid}/records", json={"rows": rows}, headers=user.headers)

    def titles(page):
        return [it["cells"][cols["Title"]]["value"] for it in page["items"]]

    r = await client.get(f"/tables/{tid}/records", params={
        "filter": json.dumps([{"column": "Status", "op": "eq", "value": "Open"}]),
        "sort": json.dumps([{"column": "Points", "direction": "desc"}])}, headers=user.headers)
    assert r.status_code == 200 and titles(r.json()) == ["c", "a"] and r.json()["total"] == 2

    r = await client.get(f"/tables/{tid}/records", params={
        "filter": json.dumps({"column": "Points", "op": "gte", "value": 2}), "sort": '{"column": "Points"}',
        "limit": 2, "offset": 1}, headers=user.headers)
    assert titles(r.json()) == ["a", "c"] and r.json()["total"] == 3

    r = await client.get(f"/tables/{tid}/records", params={"filter": '[{"column":"Status","op":"empty"}]'},
                         headers=user.headers)
    assert titles(r.json()) == ["d"]
    r = await client.get(f"/tables/{tid}/records", params={"limit": 3}, headers=user.headers)
    assert titles(r.json()) == ["a", "b", "c"] and r.json()["total"] == 4

    for params, field in (({"filter": "[{"}, "query.filter"), ({"filter": '[{"column":"Status","op":"like"}]'},
                          "query.filter.0.op"), ({"sort": '[{"direction":"up"}]'}, "query.sort.0"),
                          ({"limit": 0}, "query.limit")):
        r = await client.get(f"/tables/{tid}/records", params=params, headers=user.headers)
        assert r.status_code == 422, params
        assert any(p["field"].startswith(field) for p in r.json()["error"]["details"]), r.json()
    r = await client.get(f"/tables/{tid}/records", params={"filter": '{"column":"Nope"}'}, headers=user.headers)
    assert r.status_code == 422 and "Nope" in r.json()["error"]["message"]
    r = await client.get(f"/tables/{tid}/records", params={"filter": '{"column":"Points","value":"x"}'},
                         headers=user.headers)
    assert r.status_code == 422 and '"Points"' in r.json()["error"]["message"]


async def test_update_and_delete_record(client, user, table, cols):
    tid = table["id"]
    rid = (await client.post(f"/tables/{tid}/records", json={"values": {"Title": "x", "Points": 1}},
                             headers=user.headers)).json()["id"]
    r = await client.patch(f"/tables/{tid}/records/{rid}", json={"values": {"Points": "2.5", "Status": "closed"}},
                           headers=user.headers)
    assert r.status_code == 200
    cells = r.json()["cells"]
    assert cells[cols["Points"]] | {} == {"value": 2.5, "version": 1, "status": "idle", "error": None,
                                          "pinned": False}
    assert cells[cols["Status"]]["value"] == "Closed" and cells[cols["Title"]]["version"] == 0
    r = await client.patch(f"/tables/{tid}/records/{rid}", json={"values": {"Title": None}}, headers=user.headers)
    assert r.status_code == 422 and '"Title"' in r.json()["error"]["message"]

    r = await client.delete(f"/tables/{tid}/records/{rid}", headers=user.headers)
    assert r.status_code == 204
    for method in ("get", "delete"):
        r = await client.request(method.upper(), f"/tables/{tid}/records/{rid}", headers=user.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.patch(f"/tables/{tid}/records/{rid}", json={"values": {"Points": 3}}, headers=user.headers)
    assert r.status_code == 404


async def test_cell_update_and_list(client, user, table, cols):
    tid = table["id"]
    ids = (await client.post(f"/tables/{tid}/records", json={"rows": [{"Title": "a"}, {"Title": "b"}]},
                             headers=user.headers)).json()["ids"]
    url = f"/tables/{tid}/records/{ids[1]}/cells/{cols['Points']}"
    r = await client.patch(url, json={"value": "7", "version": 0}, headers=user.headers)
    assert r.status_code == 200
    assert r.json() == {"value": 7, "version": 1, "status": "idle", "error": None, "pinned": False}
    r = await client.patch(url, json={"value": 8, "version": 1}, headers=user.headers)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await client.patch(f"/tables/{tid}/records/{ids[1]}/cells/points", json={"value": 9, "version": 2},
                           headers=user.headers)
    assert r.status_code == 200 and r.json()["value"] == 9

    r = await client.get(f"/tables/{tid}/columns/{cols['Points']}/cells", headers=user.headers)
    assert r.status_code == 200
    assert [(c["record_id"], c["value"], c["version"]) for c in r.json()["items"]] == [(ids[0], None, 0),
                                                                                      (ids[1], 9, 3)]
    r = await client.get(f"/tables/{tid}/columns/{cols['Points']}/cells", params={"limit": 1, "offset": 1},
                         headers=user.headers)
    assert [c["record_id"] for c in r.json()["items"]] == [ids[1]]

    for bad_url in (f"/tables/{tid}/records/{ids[1]}/cells/Nope", f"/tables/{tid}/records/999999999/cells/Points",
                    f"/tables/{tid}/records/abc/cells/Points", f"/tables/{tid}/records/-1/cells/Points",
                    f"/tables/{tid}/records/99999999999999999999999/cells/Points"):
        r = await client.patch(bad_url, json={"value": 1, "version": 0}, headers=user.headers)
        assert r.status_code == 404, bad_url
    r = await client.patch(url, json={"value": 1}, headers=user.headers)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.version"


async def test_concurrent_cell_updates_exactly_one_wins(client, user, table, cols):
    tid = table["id"]
    rid = (await client.post(f"/tables/{tid}/records", json={"values": {"Title": "race"}},
                             headers=user.headers)).json()["id"]
    url = f"/tables/{tid}/records/{rid}/cells/{cols['Title']}"
    responses = await asyncio.gather(*(client.patch(url, json={"value": v, "version": 0}, headers=user.headers)
                                       for v in ("left", "right")))
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 409).json()["error"]
    assert loser["code"] == "conflict"
    assert loser["details"]["current"]["value"] == winner["value"]
    assert loser["details"]["current"]["version"] == 1
    stored = (await client.get(f"/tables/{tid}/records/{rid}", headers=user.headers)).json()
    assert stored["cells"][cols["Title"]]["value"] == winner["value"]
    assert stored["cells"][cols["Title"]]["version"] == 1


async def test_change_feed_in_order_from_a_cursor(client, user, table, cols):
    tid = table["id"]
    r = await client.get(f"/tables/{tid}/updates", headers=user.headers)
    assert r.status_code == 200
    start = r.json()["cursor"]
    assert start > 0 and next(c["kind"] for c in r.json()["changes"]) == "table"
    assert r.json()["more"] is False

    ids = (await client.post(f"/tables/{tid}/records", json={"rows": [{"Title": "a"}, {"Title": "b"}]},
                             headers=user.headers)).json()["ids"]
    await client.patch(f"/tables/{tid}/records/{ids[0]}/cells/{cols['Title']}", json={"value": "A", "version": 0},
                       headers=user.headers)
    await client.delete(f"/tables/{tid}/records/{ids[1]}", headers=user.headers)

    feed = (await client.get(f"/tables/{tid}/updates", params={"cursor": start}, headers=user.headers)).json()
    got = [(c["kind"], c["op"], c["id"]) for c in feed["changes"]]
    assert got == [("record", "insert", str(ids[0])), ("record", "insert", str(ids[1])),
                   ("cell", "update", f"{ids[0]}:{cols['Title']}"), ("record", "delete", str(ids[1]))]
    seqs = [c["seq"] for c in feed["changes"]]
    assert seqs == sorted(seqs) and seqs[0] > start and feed["cursor"] == seqs[-1]
    assert feed["changes"][2]["data"]["value"] == "A" and feed["changes"][2]["data"]["version"] == 1
    # an inserted row comes with its cells as they are now; a row deleted since has none to give
    assert feed["changes"][0]["data"]["cells"][cols["Title"]]["value"] == "A"
    assert feed["changes"][1]["data"] is None

    r = await client.get(f"/tables/{tid}/updates", params={"cursor": feed["cursor"]}, headers=user.headers)
    assert r.json() == {"cursor": feed["cursor"], "changes": [], "more": False}
    page = (await client.get(f"/tables/{tid}/updates", params={"cursor": start, "limit": 3},
                             headers=user.headers)).json()
    assert page["more"] is True and page["cursor"] == seqs[2]
    rest = (await client.get(f"/tables/{tid}/updates", params={"cursor": page["cursor"]},
                             headers=user.headers)).json()
    assert [c["seq"] for c in rest["changes"]] == seqs[3:]

    await client.post(f"/tables/{tid}/columns", json={"name": "Later"}, headers=user.headers)
    last = (await client.get(f"/tables/{tid}/updates", params={"cursor": feed["cursor"]},
                             headers=user.headers)).json()
    assert [(c["kind"], c["op"]) for c in last["changes"]] == [("column", "insert")]
    r = await client.get(f"/tables/{tid}/updates", params={"cursor": -1}, headers=user.headers)
    assert r.status_code == 422


async def test_an_add_sent_again_under_its_idempotency_key_adds_nothing(client, user, make_user, table, cols):
    tid = table["id"]
    keyed = {**user.headers, "Idempotency-Key": "add-1f3c"}
    first = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "once"}}, headers=keyed)
    assert first.status_code == 201, first.text
    again = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "once"}}, headers=keyed)
    assert again.status_code == 200 and again.json() == first.json()
    # two at the same time: the second waits for the first and finds its row
    both = await asyncio.gather(*(client.post(f"/tables/{tid}/records", json={"values": {"Title": "racing"}},
                                              headers={**user.headers, "Idempotency-Key": "add-race"})
                                  for _ in range(2)))
    assert sorted(r.status_code for r in both) == [200, 201] and both[0].json()["id"] == both[1].json()["id"]
    # the bulk form too, the ids in order
    bulk = {**user.headers, "Idempotency-Key": "bulk-9"}
    rows = {"rows": [{"Title": "b1"}, {"Title": "b2"}]}
    made = (await client.post(f"/tables/{tid}/records", json=rows, headers=bulk)).json()
    assert (await client.post(f"/tables/{tid}/records", json=rows, headers=bulk)).json()["ids"] == made["ids"]
    page = (await client.get(f"/tables/{tid}/records", headers=user.headers)).json()
    assert sorted(it["cells"][cols["Title"]]["value"] for it in page["items"]) == ["b1", "b2", "once", "racing"]

    # a refused add used no key: the same key adds the row once it is right
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Points": 1}},
                          headers={**user.headers, "Idempotency-Key": "fix-me"})
    assert r.status_code == 422
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "fixed"}},
                          headers={**user.headers, "Idempotency-Key": "fix-me"})
    assert r.status_code == 201
    # a key is the caller's own: another account's add with it is an add of its own
    other = await make_user()
    shared = await client.post(f"/workspaces/{table['workspace_id']}/members",
                               json={"user": other.name, "role": "editor"}, headers=user.headers)
    assert shared.status_code == 201, shared.text
    theirs = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "theirs"}},
                               headers={**other.headers, "Idempotency-Key": "add-1f3c"})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # a row added under a key and deleted since is not added again
    gone = first.json()["id"]
    assert (await client.delete(f"/tables/{tid}/records/{gone}", headers=user.headers)).status_code == 204
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "once"}}, headers=keyed)
    assert r.status_code == 409 and r.json()["error"]["details"]["record_id"] == gone
    assert (await client.get(f"/tables/{tid}/records", headers=user.headers)).json()["total"] == 5
    r = await client.post(f"/tables/{tid}/records", json={"values": {"Title": "x"}},
                          headers={**user.headers, "Idempotency-Key": "k" * 201})
    assert r.status_code == 422
