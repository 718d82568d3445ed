"""The grid's writes: a pasted block of cells as one change (all of it, or a 409 listing every cell that
changed meanwhile, with nothing written), and deleting several selected rows at once."""

from __future__ import annotations


async def _rows(client, user, table, n: int) -> list[int]:
    r = await client.post(f"/tables/{table['id']}/records",
                          json={"rows": [{"Title": f"t{i}", "Points": i} for i in range(n)]}, headers=user.headers)
    assert r.status_code == 201, r.text
    return r.json()["ids"]


async def _cell(client, user, table, rid: int, col: str) -> dict:
    r = await client.get(f"/tables/{table['id']}/records/{rid}", headers=user.headers)
    return r.json()["cells"][col]


async def test_a_block_of_cells_is_written_as_one_change(client, user, table, cols):
    a, b = await _rows(client, user, table, 2)
    block = [{"record_id": a, "column": "Title", "value": "pasted a", "version": 0},
             {"record_id": a, "column": cols["Points"], "value": "7", "version": 0},
             {"record_id": b, "column": "Title", "value": "pasted b", "version": 0}]
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": block}, headers=user.headers)
    assert r.status_code == 200, r.text
    written = r.json()["cells"]
    assert [(c["record_id"], c["value"], c["version"]) for c in written] == [(a, "pasted a", 1), (a, 7, 1),
                                                                              (b, "pasted b", 1)]
    assert (await _cell(client, user, table, b, cols["Title"]))["value"] == "pasted b"


async def test_a_block_with_one_stale_cell_writes_nothing_and_names_every_conflict(client, user, table, cols):
    a, b = await _rows(client, user, table, 2)
    r = await client.patch(f"/tables/{table['id']}/records/{b}/cells/{cols['Title']}",
                           json={"value": "changed elsewhere", "version": 0}, headers=user.headers)
    assert r.status_code == 200
    block = [{"record_id": a, "column": "Title", "value": "mine a", "version": 0},
             {"record_id": b, "column": "Title", "value": "mine b", "version": 0},
             {"record_id": 10**12, "column": "Title", "value": "nowhere", "version": 0}]
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": block}, headers=user.headers)
    assert r.status_code == 409, r.text
    cells = r.json()["error"]["details"]["cells"]
    assert [(c["index"], c["problem"]) for c in cells] == [(1, "conflict"), (2, "not_found")]
    assert cells[0]["current"]["value"] == "changed elsewhere" and cells[0]["current"]["version"] == 1
    # nothing of the block was written, the first cell included
    assert (await _cell(client, user, table, a, cols["Title"]))["value"] == "t0"


async def test_a_block_refuses_bad_values_and_the_same_cell_twice(client, user, table, cols):
    (a,) = await _rows(client, user, table, 1)
    block = [{"record_id": a, "column": "Points", "value": "lots", "version": 0},
             {"record_id": a, "column": "Title", "value": None, "version": 0},
             {"record_id": a, "column": "Notes", "value": "x", "version": 0},
             {"record_id": a, "column": "Notes", "value": "y", "version": 0}]
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": block}, headers=user.headers)
    assert r.status_code == 409, r.text
    assert [(c["index"], c["problem"]) for c in r.json()["error"]["details"]["cells"]] == [
        (0, "invalid"), (1, "invalid"), (3, "invalid")]
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": []}, headers=user.headers)
    assert r.status_code == 422
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": [
        {"record_id": a, "column": "Nope", "value": 1, "version": 0}]}, headers=user.headers)
    assert r.status_code == 404


async def test_selected_rows_are_deleted_in_one_call(client, user, table, make_user):
    ids = await _rows(client, user, table, 4)
    r = await client.post(f"/tables/{table['id']}/records/delete", json={"ids": [ids[0], ids[2], ids[2]]},
                          headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] == 2
    change_id = r.json()["change_id"]
    page = (await client.get(f"/tables/{table['id']}/records", headers=user.headers)).json()
    assert [i["id"] for i in page["items"]] == [ids[1], ids[3]]
    # the deletion is one change set: reverting it brings both rows back under their ids (the grid's Undo)
    r = await client.post(f"/changes/{change_id}/revert", json={}, headers=user.headers)
    assert r.status_code == 200, r.text
    page = (await client.get(f"/tables/{table['id']}/records", headers=user.headers)).json()
    assert [i["id"] for i in page["items"]] == ids
    r = await client.post(f"/tables/{table['id']}/records/delete", json={"ids": [ids[0], ids[2]]}, headers=user.headers)
    assert r.status_code == 200 and r.json()["deleted"] == 2
    r = await client.post(f"/tables/{table['id']}/records/delete", json={"ids": [ids[0]]}, headers=user.headers)
    assert r.status_code == 404
    other = await make_user()
    r = await client.post(f"/tables/{table['id']}/records/delete", json={"ids": [ids[1]]}, headers=other.headers)
    assert r.status_code == 404
    assert (await client.get(f"/tables/{table['id']}/records", headers=user.headers)).json()["total"] == 2


async def test_a_block_with_a_nul_character_or_a_huge_row_id_is_refused_not_a_server_error(client, user, table):
    (a,) = await _rows(client, user, table, 1)
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": [
        {"record_id": a, "column": "Title", "value": "a\u0000b", "version": 0}]}, headers=user.headers)
    assert r.status_code in (409, 422), r.text
    r = await client.patch(f"/tables/{table['id']}/cells", json={"cells": [
        {"record_id": 2**63, "column": "Title", "value": "x", "version": 0}]}, headers=user.headers)
    assert r.status_code == 422
    r = await client.post(f"/tables/{table['id']}/records/delete", json={"ids": [2**63]}, headers=user.headers)
    assert r.status_code == 422
