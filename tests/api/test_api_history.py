"""History through the REST API: change sets of edits, a cell's versions, reverting (dry run, conflicts
kept or restored, a revert reverted, twice, another workspace's change)."""

from __future__ import annotations

import asyncio


async def _row(client, user, table, cols, title="first", points=1):
    r = await client.post(f"/tables/{table['id']}/records", json={"values": {"Title": title, "Points": points}},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _edit(client, user, table, rid, cid, value):
    cell = (await client.get(f"/tables/{table['id']}/records/{rid}", headers=user.headers)).json()["cells"][cid]
    r = await client.patch(f"/tables/{table['id']}/records/{rid}/cells/{cid}",
                           json={"value": value, "version": cell["version"]}, headers=user.headers)
    assert r.status_code == 200, r.text


async def _value(client, user, table, rid, cid):
    return (await client.get(f"/tables/{table['id']}/records/{rid}", headers=user.headers)).json()["cells"][cid]["value"]


async def _changes(client, user, table, **params):
    r = await client.get(f"/tables/{table['id']}/changes", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_every_edit_is_a_change_set_and_a_version_of_the_cell(client, user, table, cols):
    rid = await _row(client, user, table, cols)
    await _edit(client, user, table, rid, cols["Title"], "second")
    await _edit(client, user, table, rid, cols["Title"], "third")
    items = await _changes(client, user, table)
    assert [i["kind"] for i in items[:3]] == ["edit", "edit", "edit"]
    assert items[0]["cells"] == 1 and items[0]["actor"]["account_id"] == str(user.id)
    assert "Title" in items[0]["summary"]
    older = await _changes(client, user, table, before=items[0]["created_at"], limit=1)
    assert len(older) == 1 and older[0]["id"] != items[0]["id"]

    r = await client.get(f"/tables/{table['id']}/records/{rid}/cells/Title/history", headers=user.headers)
    assert r.status_code == 200, r.text
    versions = r.json()["items"]
    assert [v["value"] for v in versions] == ["third", "second", "first"]
    assert [v["source"]["kind"] for v in versions] == ["edit", "edit", "edit"]
    assert versions[0]["source"]["change_id"] == items[0]["id"]
    assert versions[-1]["source"]["row_created"] is True


async def test_revert_an_edit_with_a_dry_run_first(client, user, table, cols):
    rid = await _row(client, user, table, cols)
    await _edit(client, user, table, rid, cols["Title"], "changed")
    change = (await _changes(client, user, table))[0]
    dry = await client.post(f"/changes/{change['id']}/revert?dry_run=1", headers=user.headers)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["change_id"] is None and body["conflicts"] == [] and body["reverted"]["cells"] == 1
    assert body["preview"]["rows"][0]["changes"][cols["Title"]] == {"new": "first", "was": "changed"}
    assert await _value(client, user, table, rid, cols["Title"]) == "changed"  # a dry run changes nothing

    r = await client.post(f"/changes/{change['id']}/revert", headers=user.headers)
    assert r.status_code == 200, r.text
    assert await _value(client, user, table, rid, cols["Title"]) == "first"
    assert r.json()["change_id"]
    top = (await _changes(client, user, table))[0]
    assert top["kind"] == "revert" and top["reverts"] == change["id"] and top["id"] == r.json()["change_id"]

    again = await client.post(f"/changes/{change['id']}/revert", headers=user.headers)
    assert again.status_code == 409, again.text  # a change set is reverted once

    # a revert can be reverted: the edit comes back
    r2 = await client.post(f"/changes/{top['id']}/revert", headers=user.headers)
    assert r2.status_code == 200, r2.text
    assert await _value(client, user, table, rid, cols["Title"]) == "changed"


async def test_cells_changed_since_are_conflicts_kept_unless_restored(client, user, table, cols):
    rid = await _row(client, user, table, cols)
    r = await client.patch(f"/tables/{table['id']}/records/{rid}", json={"values": {"Title": "by X", "Points": 5}},
                           headers=user.headers)
    assert r.status_code == 200, r.text
    change = (await _changes(client, user, table))[0]
    await _edit(client, user, table, rid, cols["Points"], 9)  # written after X

    dry = (await client.post(f"/changes/{change['id']}/revert?dry_run=1", headers=user.headers)).json()
    assert dry["conflicts"] == [{"record_id": rid, "column_id": cols["Points"], "column": "Points", "current": 9,
                                 "restore": 1, "op": dry["conflicts"][0]["op"]}]
    r = await client.post(f"/changes/{change['id']}/revert", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["conflicts"][0]["column_id"] == cols["Points"]
    assert await _value(client, user, table, rid, cols["Title"]) == "first"  # reverted
    assert await _value(client, user, table, rid, cols["Points"]) == 9  # kept: nothing overwritten silently

    # keep-current or restore is the caller's choice
    await _edit(client, user, table, rid, cols["Title"], "by Y")
    y = (await _changes(client, user, table))[0]
    await _edit(client, user, table, rid, cols["Title"], "by Z")
    refused = await client.post(f"/changes/{y['id']}/revert", headers=user.headers)
    assert refused.status_code == 409, refused.text  # its only cell changed since: nothing to do unless restored
    r = await client.post(f"/changes/{y['id']}/revert",
                          json={"restore": [{"record_id": rid, "column_id": cols["Title"]}]}, headers=user.headers)
    assert r.status_code == 200, r.text
    assert await _value(client, user, table, rid, cols["Title"]) == "first"


async def test_revert_of_deleted_and_added_rows_and_bad_input(client, user, make_user, table, cols):
    rid = await _row(client, user, table, cols, "keep me", 3)
    await _edit(client, user, table, rid, cols["Points"], 4)
    assert (await client.delete(f"/tables/{table['id']}/records/{rid}", headers=user.headers)).status_code == 204
    deletion = (await _changes(client, user, table))[0]
    assert deletion["counts"]["rows_deleted"] == 1
    r = await client.post(f"/changes/{deletion['id']}/revert", headers=user.headers)
    assert r.status_code == 200, r.text
    back = (await client.get(f"/tables/{table['id']}/records/{rid}", headers=user.headers)).json()
    assert back["cells"][cols["Title"]]["value"] == "keep me" and back["cells"][cols["Points"]]["value"] == 4

    other = await make_user()
    assert (await client.post(f"/changes/{deletion['id']}/revert", headers=other.headers)).status_code == 404
    assert (await client.post("/changes/not-an-id/revert", headers=user.headers)).status_code == 404
    assert (await client.get(f"/tables/{table['id']}/changes", params={"limit": 0},
                             headers=user.headers)).status_code == 422

    new = await _row(client, user, table, cols, "new row")
    added = (await _changes(client, user, table))[0]
    results = await asyncio.gather(*[client.post(f"/changes/{added['id']}/revert", headers=user.headers)
                                     for _ in range(2)])
    assert sorted(r.status_code for r in results) == [200, 409]  # twice at once: applied once
    assert (await client.get(f"/tables/{table['id']}/records/{new}", headers=user.headers)).status_code == 404


async def test_a_change_too_big_for_a_proposal_is_reverted_in_batches(client, user, table, cols, monkeypatch):
    from proposals import revert, revert_batches

    monkeypatch.setattr(revert, "MAX_DATA_OPS", 5)  # more than 5 rows: batches (of 4 rows here)
    monkeypatch.setattr(revert_batches, "BATCH", 4)
    ids = []
    for n in range(9):
        ids.append(await _row(client, user, table, cols, f"row {n}", n))
    csv = "Title,Points\n" + "".join(f"row {n},{n + 100}\n" for n in range(9))
    r = await client.post(f"/tables/{table['id']}/import", data={"key_column": "Title"},
                          files={"file": ("points.csv", csv.encode(), "text/csv")}, headers=user.headers)
    assert r.status_code in (200, 201), r.text
    change = (await _changes(client, user, table))[0]
    assert change["kind"] == "import" and change["counts"]["rows_updated"] == 9
    await _edit(client, user, table, ids[0], cols["Points"], 7)  # written since: kept

    dry = await client.post(f"/changes/{change['id']}/revert?dry_run=1", headers=user.headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["batched"] and dry.json()["reverted"] == {"cells": 8, "rows": 9} and dry.json()["kept"] == 1
    assert await _value(client, user, table, ids[3], cols["Points"]) == 103

    r = await client.post(f"/changes/{change['id']}/revert", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["change_id"] and r.json()["conflicts"][0]["record_id"] == ids[0]
    assert [await _value(client, user, table, rid, cols["Points"]) for rid in ids] == [7, *range(1, 9)]
    assert (await client.post(f"/changes/{change['id']}/revert", headers=user.headers)).status_code == 409
    r = await client.get(f"/tables/{table['id']}/records/{ids[3]}/cells/Points/history", headers=user.headers)
    assert [(v["source"]["kind"], v["value"]) for v in r.json()["items"]] == [
        ("revert", 3), ("import", 103), ("edit", 3)]  # reverted, imported, the row added by hand
