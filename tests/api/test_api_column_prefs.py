"""Each person's layout of a table's grid (hidden columns, widths) is kept on the server, per account and
table: another member of the workspace has their own, a stranger gets 404, and unknown columns are refused."""

from __future__ import annotations

from sqlalchemy import text

from db.engine import transaction


async def test_prefs_are_kept_per_account_and_table(client, user, table, cols, make_user, engine):
    url = f"/tables/{table['id']}/column-prefs"
    r = await client.get(url, headers=user.headers)
    assert r.status_code == 200 and r.json() == {"hidden": [], "widths": {}}
    r = await client.put(url, json={"hidden": ["Notes", cols["Done"]], "widths": {"Title": 240}}, headers=user.headers)
    assert r.status_code == 200, r.text
    want = {"hidden": sorted([cols["Notes"], cols["Done"]]), "widths": {cols["Title"]: 240}}
    assert r.json() == want
    assert (await client.get(url, headers=user.headers)).json() == want

    # a viewer of the workspace keeps a layout of their own (it is not a write to the table)
    other = await make_user(workspace=False)
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("INSERT INTO memberships (workspace_id, account_id, role) VALUES (:w, :a, 'viewer')"),
                           {"w": user.workspace_id, "a": other.id})
    assert (await client.get(url, headers=other.headers)).json() == {"hidden": [], "widths": {}}
    await client.put(url, json={"hidden": ["Title"]}, headers=other.headers)
    assert (await client.get(url, headers=user.headers)).json() == want

    # a deleted column drops out of the layout
    await client.delete(f"/tables/{table['id']}/columns/{cols['Notes']}", headers=user.headers)
    assert (await client.get(url, headers=user.headers)).json()["hidden"] == [cols["Done"]]


async def test_bad_prefs_are_refused(client, user, table, make_user):
    url = f"/tables/{table['id']}/column-prefs"
    assert (await client.put(url, json={"hidden": ["Nope"]}, headers=user.headers)).status_code == 404
    assert (await client.put(url, json={"widths": {"Title": 5}}, headers=user.headers)).status_code == 422
    assert (await client.put(url, json={"order": []}, headers=user.headers)).status_code == 422
    stranger = await make_user()
    assert (await client.get(url, headers=stranger.headers)).status_code == 404
    assert (await client.put(url, json={}, headers=stranger.headers)).status_code == 404
