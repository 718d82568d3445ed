"""The role matrix: owner, editor, viewer and an outsider against every API route. A role that may not do
something gets a 403 (a member) or a 404 (an outsider, who learns nothing), and nothing changes: the
workspace's change feed, jobs, edits, tables, members and name are the same before and after."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from db import workspaces
from db.engine import transaction

ROLES = ("owner", "editor", "viewer", "outsider")


@dataclass
class Route:
    method: str
    path: str
    kind: str  # read | write | admin | personal (the caller's own view of a table: every member may)
    json: dict | None = None
    files: bool = False
    listing: bool = False  # answers everyone, but must not show the workspace to an outsider


ROUTES = [
    Route("GET", "/me", "read", listing=True),
    Route("GET", "/workspaces", "read", listing=True),
    Route("GET", "/tables", "read", listing=True),
    Route("GET", "/tables?workspace={w}", "read", listing=True),
    Route("GET", "/tables/{t}", "read"),
    Route("GET", "/tables/{t}/columns", "read"),
    Route("GET", "/tables/{t}/records", "read"),
    Route("GET", "/tables/{t}/records/{r}", "read"),
    Route("GET", "/tables/{t}/columns/{c}/cells", "read"),
    Route("GET", "/tables/{t}/updates", "read"),
    Route("GET", "/tables/{t}/ai-status", "read"),
    Route("GET", "/tables/{t}/export", "read"),
    Route("GET", "/jobs/{j}", "read"),
    Route("GET", "/workspaces/{w}/members", "read"),
    Route("GET", "/tables/{t}/changes", "read"),
    Route("GET", "/tables/{t}/records/{r}/cells/{c}/history", "read"),
    Route("GET", "/tables/{t}/spend", "read"),
    Route("GET", "/usage", "read", listing=True),
    Route("GET", "/tables/{t}/column-prefs", "read"),
    Route("POST", "/changes/{cs}/revert?dry_run=1", "read"),
    Route("PUT", "/tables/{t}/column-prefs", "personal", json={"hidden": ["{c2}"], "widths": {"{c}": 240}}),
    Route("POST", "/changes/{cs}/revert", "write"),
    Route("PATCH", "/tables/{t}/cells", "write", json={"cells": [{"record_id": "{r2}", "column": "{c2}", "value": "pasted", "version": 0}]}),
    Route("POST", "/tables/{t}/records/delete", "write", json={"ids": ["{r3}"]}),
    Route("POST", "/tables", "write", json={"name": "Another", "workspace_id": "{w}"}),
    Route("PATCH", "/tables/{t}", "write", json={"description": "changed"}),
    Route("POST", "/tables/{t}/columns", "write", json={"name": "Year", "type": "number"}),
    Route("PATCH", "/tables/{t}/columns/{c3}", "write", json={"name": "Remarks"}),
    Route("POST", "/tables/{t}/records", "write", json={"values": {"Title": "Emma"}}),
    Route("PATCH", "/tables/{t}/records/{r}", "write", json={"values": {"{c}": "Persuasion"}}),
    Route("PATCH", "/tables/{t}/records/{r}/cells/{c2}", "write", json={"value": "Sanditon", "version": 0}),
    Route("POST", "/tables/{t}/columns/{ai}/fill", "write", json={"scope": "all"}),
    Route("POST", "/jobs/{j}/cancel", "write"),
    Route("POST", "/tables/import", "write", files=True),
    Route("POST", "/tables/{t}/import", "write", files=True),
    Route("DELETE", "/tables/{t}/records/{r2}", "write"),
    Route("DELETE", "/tables/{t}/columns/{c3}", "write"),
    Route("PATCH", "/workspaces/{w}", "admin", json={"name": "renamed-{u}"}),
    Route("POST", "/workspaces/{w}/members", "admin", json={"user": "{extra}", "role": "viewer"}),
    Route("DELETE", "/workspaces/{w}/members/{extra}", "admin"),
    Route("DELETE", "/tables/{t}", "write"),
]


def expected(role: str, route: Route) -> set[int]:
    if route.kind in ("read", "personal") or route.listing:
        return {404} if role == "outsider" and not route.listing else {200}
    allowed = role == "owner" or (role == "editor" and route.kind == "write")
    if allowed:
        return {200, 201, 202, 204}
    if role == "outsider":
        # naming a workspace that is not yours in a body is refused as before (403); a path is a 404
        return {403} if route.path in ("/tables", "/tables/import") else {404}
    return {403}


async def _snapshot(engine, workspace_id) -> tuple:
    """Everything a write could change in the workspace."""
    async with transaction(None, engine=engine) as conn:
        row = await conn.execute(text(
            "SELECT (SELECT name FROM workspaces WHERE id = :w), "
            "  (SELECT coalesce(max(seq), 0) FROM changes WHERE workspace_id = :w), "
            "  (SELECT count(*) FROM jobs WHERE workspace_id = :w), "
            "  (SELECT count(*) FROM jobs WHERE workspace_id = :w AND status = 'cancelled'), "
            "  (SELECT count(*) FROM cell_edits WHERE workspace_id = :w), "
            "  (SELECT count(*) FROM data_tables WHERE workspace_id = :w), "
            "  (SELECT string_agg(account_id::text || role, ',' ORDER BY account_id) FROM memberships "
            "   WHERE workspace_id = :w)"), {"w": workspace_id})
        return tuple(row.one())


@pytest.fixture
async def team(make_user, engine):
    """An owner's workspace shared with an editor and a viewer; an outsider; a person to share with."""
    owner, editor, viewer, outsider, extra = [await make_user() for _ in range(5)]
    async with transaction(owner.id, engine=engine) as conn:
        await workspaces.share(conn, owner.workspace_id, account_id=editor.id, by=owner.id, role="editor")
        await workspaces.share(conn, owner.workspace_id, account_id=viewer.id, by=owner.id, role="viewer")
    return {"owner": owner, "editor": editor, "viewer": viewer, "outsider": outsider, "extra": extra}


async def _fresh_table(client, owner, unique) -> dict[str, str]:
    name = f"Books{unique}{uuid.uuid4().hex[:6]}"
    r = await client.post("/tables", headers=owner.headers, json={
        "name": name, "workspace_id": str(owner.workspace_id),
        "columns": [{"name": "Title", "type": "text"}, {"name": "Notes", "type": "text"},
                    {"name": "Extra", "type": "text"},
                    {"name": "Summary", "type": "text", "ai": {"prompt": "Summarise {Title}"}}]})
    assert r.status_code == 201, r.text
    table = r.json()
    cols = {c["name"]: c["id"] for c in table["columns"]}
    r = await client.post(f"/tables/{table['id']}/records", headers=owner.headers,
                          json={"rows": [{"Title": "Secret-Dune"}, {"Title": "Secret-Emma"}, {"Title": "Secret-Kim"}]})
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    # one change set to revert: an edit of a cell no other route writes
    r = await client.patch(f"/tables/{table['id']}/records/{ids[1]}/cells/{cols['Extra']}", headers=owner.headers,
                           json={"value": "to revert", "version": 0})
    assert r.status_code == 200, r.text
    r = await client.get(f"/tables/{table['id']}/changes?limit=1", headers=owner.headers)
    assert r.status_code == 200 and r.json()["items"][0]["kind"] == "edit", r.text
    change_id = r.json()["items"][0]["id"]
    r = await client.post(f"/tables/{table['id']}/columns/{cols['Summary']}/fill", headers=owner.headers,
                          json={"scope": "all"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    return {"t": table["id"], "name": name, "c": cols["Title"], "c2": cols["Notes"], "c3": cols["Extra"], "ai": cols["Summary"],
            "r": str(ids[0]), "r2": str(ids[1]), "r3": str(ids[2]), "cs": change_id, "j": job_id}


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


async def test_role_matrix_every_route(client, engine, team, unique):
    owner = team["owner"]
    counts = {"calls": 0, "refused": 0, "leaks": 0, "writes_where_forbidden": 0}
    failures = []
    for role in ROLES:
        caller = team[role]
        ids = await _fresh_table(client, owner, unique)
        values = {**ids, "w": str(owner.workspace_id), "u": f"{role}{unique}", "extra": team["extra"].name}
        async with transaction(None, engine=engine) as conn:
            ws_name = await workspaces.workspace_name(conn, owner.workspace_id)
        secrets = [ids["name"], "Secret-Dune", ws_name, owner.name]
        for route in ROUTES:
            path = _fill(route.path, values)
            kwargs = {}
            if route.json is not None:
                body = _fill(str(route.json), values)
                kwargs["json"] = eval(body)
            if route.files:
                kwargs["files"] = {"file": ("more.csv", b"Title\nSecret-Persuasion\n", "text/csv")}
                if path == "/tables/import":
                    kwargs["data"] = {"workspace_id": str(owner.workspace_id)}
            before = await _snapshot(engine, owner.workspace_id)
            r = await client.request(route.method, path, headers=caller.headers, **kwargs)
            after = await _snapshot(engine, owner.workspace_id)
            counts["calls"] += 1
            want = expected(role, route)
            if r.status_code not in want:
                failures.append(f"{role} {route.method} {path}: {r.status_code} not in {want}: {r.text[:200]}")
            forbidden = want <= {403, 404}
            if forbidden:
                counts["refused"] += 1
                if after != before:
                    counts["writes_where_forbidden"] += 1
                    failures.append(f"{role} {route.method} {path} changed {before} → {after}")
            if role == "outsider" and any(s in r.text for s in secrets):
                counts["leaks"] += 1
                failures.append(f"outsider {route.method} {path} leaked: {r.text[:200]}")
    print(f"\nrole matrix: {counts}")
    assert not failures, "\n".join(failures)
    assert counts == {"calls": 4 * len(ROUTES), "refused": counts["refused"], "leaks": 0, "writes_where_forbidden": 0}
    assert counts["refused"] >= 40


async def test_viewer_refusals_name_the_reason(client, team, unique):
    owner, viewer = team["owner"], team["viewer"]
    ids = await _fresh_table(client, owner, unique)
    r = await client.patch(f"/tables/{ids['t']}/records/{ids['r']}/cells/{ids['c']}", headers=viewer.headers,
                           json={"value": "x", "version": 0})
    assert r.status_code == 403
    assert "only view" in r.json()["error"]["message"]


async def test_workspaces_list_roles_and_tables(client, team, unique):
    owner, viewer = team["owner"], team["viewer"]
    await _fresh_table(client, owner, unique)
    items = (await client.get("/workspaces", headers=viewer.headers)).json()["items"]
    shared = next(w for w in items if w["id"] == str(owner.workspace_id))
    assert shared["role"] == "viewer" and shared["tables"] == 1
    own = next(w for w in items if w["id"] == str(viewer.workspace_id))
    assert own["role"] == "owner"


async def test_create_and_rename_workspaces(client, user):
    r = await client.post("/workspaces", headers=user.headers, json={})
    assert r.status_code == 201 and r.json()["role"] == "owner" and len(r.json()["name"].split("-")) == 3
    made = r.json()
    # the newest workspace is the most recent: a table made without naming one goes there
    r = await client.post("/tables", headers=user.headers, json={"name": "Where"})
    assert r.json()["workspace_id"] == made["id"]
    r = await client.patch(f"/workspaces/{made['id']}", headers=user.headers, json={"name": f"Reading {made['name']}"})
    assert r.status_code == 200 and r.json()["name"] == f"Reading {made['name']}"
    r = await client.post("/workspaces", headers=user.headers, json={"name": f"Reading {made['name']}"})
    assert r.status_code == 409
    r = await client.patch(f"/workspaces/{made['id']}", headers=user.headers, json={"name": "  "})
    assert r.status_code == 422


async def test_bad_sharing_is_refused_and_changes_nothing(client, engine, team):
    owner, editor = team["owner"], team["editor"]
    w = owner.workspace_id
    before = await _snapshot(engine, w)
    cases = [
        (await client.post(f"/workspaces/{w}/members", headers=owner.headers,
                           json={"user": "nobody-at-all", "role": "viewer"}), 404, "no user"),
        (await client.post(f"/workspaces/{w}/members", headers=owner.headers,
                           json={"user": owner.name, "role": "viewer"}), 422, "yourself"),
        (await client.post(f"/workspaces/{w}/members", headers=owner.headers,
                           json={"user": editor.name, "role": "admin"}), 422, ""),
        (await client.delete(f"/workspaces/{w}/members/{owner.name}", headers=owner.headers), 409, "one owner"),
        (await client.delete(f"/workspaces/{w}/members/{team['extra'].name}", headers=owner.headers), 404, "not a member"),
    ]
    for r, status, words in cases:
        assert r.status_code == status, r.text
        assert words in r.json()["error"]["message"].lower()
    assert await _snapshot(engine, w) == before


async def test_members_change_roles_and_leave(client, team):
    owner, editor = team["owner"], team["editor"]
    w = owner.workspace_id
    r = await client.post(f"/workspaces/{w}/members", headers=owner.headers, json={"user": editor.name, "role": "owner"})
    assert r.status_code == 200 and r.json()["role"] == "owner"
    # with a second owner the first may go
    assert (await client.delete(f"/workspaces/{w}/members/{owner.name}", headers=editor.headers)).status_code == 204
    members = (await client.get(f"/workspaces/{w}/members", headers=editor.headers)).json()["items"]
    assert {m["user"] for m in members} == {editor.name, team["viewer"].name}
    assert (await client.get(f"/tables?workspace={w}", headers=owner.headers)).json()["items"] == []


async def test_only_an_owner_deletes_a_workspace_with_its_tables(client, engine, team, unique):
    owner, w = team["owner"], team["owner"].workspace_id
    await _fresh_table(client, owner, unique)
    before = await _snapshot(engine, w)
    for role, status in (("editor", 403), ("viewer", 403), ("outsider", 404)):
        r = await client.delete(f"/workspaces/{w}", headers=team[role].headers)
        assert r.status_code == status, (role, r.text)
    assert await _snapshot(engine, w) == before
    assert (await client.delete(f"/workspaces/{w}", headers=owner.headers)).status_code == 204
    items = (await client.get("/workspaces", headers=team["viewer"].headers)).json()["items"]
    assert str(w) not in {i["id"] for i in items}
    async with transaction(None, engine=engine) as conn:
        left = (await conn.execute(text("SELECT count(*) FROM data_tables WHERE workspace_id = :w"), {"w": w})).scalar()
    assert left == 0


def test_the_matrix_names_every_route_of_the_api():
    """A new route joins the matrix (or says here why it cannot): nobody forgets a role check."""
    import re

    from api.app import create_api

    # an event stream never ends, so it cannot be one call of the matrix: tests/api/test_api_events.py
    # holds an outsider's 404 and a member's stream
    elsewhere = {("GET", "/tables/{}/events")}
    shape = lambda path: re.sub(r"\{[^}]+\}", "{}", path.split("?")[0])
    routes = {(m, shape(r.path)) for r in create_api().routes if getattr(r, "methods", None)
              for m in r.methods if m != "HEAD" and not r.path.startswith(("/openapi", "/docs", "/redoc"))}
    named = {(r.method, shape(r.path)) for r in ROUTES}
    assert routes - named - elsewhere == set(), "routes missing from the role matrix"
