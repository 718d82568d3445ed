"""Account, workspace, table and column routes."""

import uuid

from db import accounts
from db.engine import transaction


async def test_me_and_workspaces(client, user):
    r = await client.get("/me", headers=user.headers)
    assert r.status_code == 200
    me = r.json()
    assert me["id"] == str(user.id) and me["name"] == user.name
    assert [w["id"] for w in me["workspaces"]] == [str(user.workspace_id)]
    r = await client.get("/workspaces", headers=user.headers)
    assert r.status_code == 200
    assert [w["id"] for w in r.json()["items"]] == [str(user.workspace_id)]
    assert r.json()["items"][0]["name"].count("-") == 2


async def test_table_lifecycle(client, user):
    r = await client.post("/tables", json={"name": "Leads"}, headers=user.headers)
    assert r.status_code == 201
    created = r.json()
    assert created["name"] == "Leads" and created["description"] == "" and created["columns"] == []
    assert created["workspace_id"] == str(user.workspace_id)
    tid = created["id"]

    r = await client.get("/tables", headers=user.headers)
    assert r.status_code == 200
    assert [(t["id"], t["row_count"]) for t in r.json()["items"]] == [(tid, 0)]

    r = await client.patch(f"/tables/{tid}", json={"description": "warm leads"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["description"] == "warm leads" and r.json()["name"] == "Leads"
    r = await client.get(f"/tables/{tid}", headers=user.headers)
    assert r.status_code == 200 and r.json()["description"] == "warm leads"
    r = await client.patch(f"/tables/{tid}", json={"name": "  Hot   leads "}, headers=user.headers)
    assert r.status_code == 200 and r.json()["name"] == "Hot leads"
    for bad in ({"name": "   "}, {"name": None}, {"description": None}, {"colour": "red"}):
        r = await client.patch(f"/tables/{tid}", json=bad, headers=user.headers)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].startswith("body"), bad
    assert (await client.get(f"/tables/{tid}", headers=user.headers)).json()["name"] == "Hot leads"

    r = await client.delete(f"/tables/{tid}", headers=user.headers)
    assert r.status_code == 204 and r.content == b""
    r = await client.get(f"/tables/{tid}", headers=user.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.delete(f"/tables/{tid}", headers=user.headers)
    assert r.status_code == 404
    assert (await client.get("/tables", headers=user.headers)).json()["items"] == []


async def test_list_tables_by_workspace(client, engine, user):
    async with transaction(None, engine=engine) as conn:
        second = await accounts.create_workspace(conn, owner_id=user.id)
    for name, ws in (("A", user.workspace_id), ("B", second["id"])):
        r = await client.post("/tables", json={"name": name, "workspace_id": str(ws)}, headers=user.headers)
        assert r.status_code == 201 and r.json()["workspace_id"] == str(ws)
    r = await client.get("/tables", params={"workspace_id": str(second["id"])}, headers=user.headers)
    assert [t["name"] for t in r.json()["items"]] == ["B"]
    r = await client.get("/tables", headers=user.headers)
    assert sorted(t["name"] for t in r.json()["items"]) == ["A", "B"]


async def test_first_table_creates_the_default_workspace(client, make_user):
    newcomer = await make_user(workspace=False)
    assert (await client.get("/workspaces", headers=newcomer.headers)).json()["items"] == []
    r = await client.post("/tables", json={"name": "First"}, headers=newcomer.headers)
    assert r.status_code == 201
    spaces = (await client.get("/workspaces", headers=newcomer.headers)).json()["items"]
    assert [w["id"] for w in spaces] == [r.json()["workspace_id"]]
    r = await client.post("/tables", json={"name": "Second"}, headers=newcomer.headers)
    assert r.json()["workspace_id"] == spaces[0]["id"]
    assert len((await client.get("/workspaces", headers=newcomer.headers)).json()["items"]) == 1


async def test_foreign_workspace_is_forbidden(client, make_user):
    alice, bob = await make_user(), await make_user()
    r = await client.post("/tables", json={"name": "Sneaky", "workspace_id": str(alice.workspace_id)},
                          headers=bob.headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert (await client.get("/tables", headers=alice.headers)).json()["items"] == []
    r = await client.post("/tables", json={"name": "Nowhere", "workspace_id": str(uuid.uuid4())},
                          headers=bob.headers)
    assert r.status_code == 403


async def test_create_table_with_columns_and_bad_columns(client, user, table):
    assert [(c["name"], c["type"], c["position"]) for c in table["columns"]][:3] == [
        ("Title", "text", 0), ("Notes", "long_text", 1), ("Points", "number", 2)]
    status = next(c for c in table["columns"] if c["name"] == "Status")
    assert status["options"] == ["Open", "Closed"] and status["ai"] is None and status["required"] is False
    r = await client.post("/tables", json={"name": "X", "columns": [{"name": "S", "type": "select"}]},
                          headers=user.headers)
    assert r.status_code == 422 and '"S"' in r.json()["error"]["message"]
    r = await client.post("/tables", json={"name": "X", "columns": [{"name": "A"}, {"name": "a"}]},
                          headers=user.headers)
    assert r.status_code == 422 and "same name" in r.json()["error"]["message"]


async def test_columns_crud(client, user, table):
    tid = table["id"]
    r = await client.get(f"/tables/{tid}/columns", headers=user.headers)
    assert r.status_code == 200
    assert [c["name"] for c in r.json()["items"]] == [c["name"] for c in table["columns"]]

    r = await client.post(f"/tables/{tid}/columns", json={"name": "Owner", "type": "email", "position": 1},
                          headers=user.headers)
    assert r.status_code == 201
    owner = r.json()
    assert owner["name"] == "Owner" and owner["type"] == "email" and owner["position"] == 1
    names = [c["name"] for c in (await client.get(f"/tables/{tid}/columns", headers=user.headers)).json()["items"]]
    assert names[:3] == ["Title", "Owner", "Notes"]

    r = await client.post(f"/tables/{tid}/columns", json={"name": "owner", "type": "text"}, headers=user.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"

    r = await client.patch(f"/tables/{tid}/columns/{owner['id']}", json={"name": "Assignee", "required": False},
                           headers=user.headers)
    assert r.status_code == 200 and r.json()["name"] == "Assignee" and r.json()["id"] == owner["id"]
    # a column can also be addressed by its name
    r = await client.patch(f"/tables/{tid}/columns/assignee", json={"position": 0}, headers=user.headers)
    assert r.status_code == 200 and r.json()["position"] == 0

    r = await client.delete(f"/tables/{tid}/columns/{owner['id']}", headers=user.headers)
    assert r.status_code == 204
    r = await client.delete(f"/tables/{tid}/columns/{owner['id']}", headers=user.headers)
    assert r.status_code == 404
    r = await client.patch(f"/tables/{tid}/columns/{uuid.uuid4()}", json={"name": "Z"}, headers=user.headers)
    assert r.status_code == 404
    names = [c["name"] for c in (await client.get(f"/tables/{tid}/columns", headers=user.headers)).json()["items"]]
    assert "Assignee" not in names and names[0] == "Title"


async def test_ai_column_starts_pending(client, user, table, cols):
    tid = table["id"]
    r = await client.post(f"/tables/{tid}/records", json={"rows": [{"Title": "a"}, {"Title": "b"}]},
                          headers=user.headers)
    assert r.status_code == 201
    r = await client.post(
        f"/tables/{tid}/columns",
        json={"name": "Summary", "type": "text", "ai": {"prompt": "Summarize {Title}", "depends_on": ["Title"],
                                                         "auto_update": True}},
        headers=user.headers)
    assert r.status_code == 201
    col = r.json()
    assert col["ai"]["prompt"] == "Summarize {Title}" and col["ai"]["depends_on"] == ["Title"]
    cells = (await client.get(f"/tables/{tid}/columns/{col['id']}/cells", headers=user.headers)).json()["items"]
    assert [c["status"] for c in cells] == ["pending", "pending"]

    r = await client.delete(f"/tables/{tid}/columns/{cols['Title']}", headers=user.headers)
    assert r.status_code == 409 and "Summary" in r.json()["error"]["message"]
    r = await client.post(f"/tables/{tid}/columns",
                          json={"name": "Bad", "ai": {"prompt": "x", "depends_on": ["Nope"]}}, headers=user.headers)
    assert r.status_code == 422 and "Nope" in r.json()["error"]["message"]


async def test_retyping_a_column_converts_or_refuses(client, user, table, cols):
    tid = table["id"]
    await client.post(f"/tables/{tid}/records", json={"rows": [{"Title": "1", "Notes": "12"},
                                                               {"Title": "2", "Notes": "many"}]},
                      headers=user.headers)
    r = await client.patch(f"/tables/{tid}/columns/{cols['Notes']}", json={"type": "number"}, headers=user.headers)
    assert r.status_code == 422 and "many" in r.json()["error"]["message"]
    r = await client.patch(f"/tables/{tid}/columns/{cols['Title']}", json={"type": "number"}, headers=user.headers)
    assert r.status_code == 200 and r.json()["type"] == "number"
    values = [c["value"] for c in (await client.get(f"/tables/{tid}/columns/{cols['Title']}/cells",
                                                    headers=user.headers)).json()["items"]]
    assert values == [1, 2]


async def test_ai_columns_cannot_read_each_other_in_a_circle(client, user, table):
    tid = table["id"]

    async def add(name, prompt, deps):
        return await client.post(f"/tables/{tid}/columns", json={
            "name": name, "type": "text", "ai": {"prompt": prompt, "depends_on": deps}}, headers=user.headers)

    r = await add("Summary", "Summarise {Title}", ["Title"])
    assert r.status_code == 201, r.text
    summary = r.json()["id"]
    r = await add("Headline", "A headline for {Summary}", ["Summary"])
    assert r.status_code == 201, r.text
    # step two closes the circle: refused, naming it
    r = await client.patch(f"/tables/{tid}/columns/{summary}", json={
        "ai": {"prompt": "Summarise {Headline}", "depends_on": ["Headline"]}}, headers=user.headers)
    assert r.status_code == 422, r.text
    assert "Summary → Headline → Summary" in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["cycle"] == ["Summary", "Headline", "Summary"]
    r = await client.get(f"/tables/{tid}/columns", headers=user.headers)
    assert next(c for c in r.json()["items"] if c["id"] == summary)["ai"]["depends_on"] == ["Title"]
    # and in one step, at creation
    r = await client.post("/tables", json={"name": "Loop", "columns": [
        {"name": "A", "type": "text", "ai": {"prompt": "from {B}", "depends_on": []}},
        {"name": "B", "type": "text", "ai": {"prompt": "from {A}", "depends_on": []}}]}, headers=user.headers)
    assert r.status_code == 422 and "A → B → A" in r.json()["error"]["message"]
