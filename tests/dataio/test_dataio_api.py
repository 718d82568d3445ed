"""The import and export routes of the REST API."""

import csv
import io

import pytest
from openpyxl import load_workbook
from samples_dataio import bad_files

GOOD = b"Name,Points,Done\nAda,3,yes\nBob,4.5,no\n"


async def _table_count(client, owner) -> int:
    r = await client.get("/tables", headers=owner.headers)
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


async def test_import_creates_a_table_and_export_gives_it_back(client, owner):
    r = await client.post("/tables/import", files={"file": ("scores_2024.csv", GOOD, "text/csv")},
                          headers=owner.headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "Scores 2024" and body["row_count"] == 2
    assert [(c["name"], c["type"]) for c in body["columns"]] == [("Name", "text"), ("Points", "number"),
                                                                 ("Done", "boolean")]
    page = (await client.get(f"/tables/{body['id']}/records", headers=owner.headers)).json()
    assert page["total"] == 2
    points = body["columns"][1]["id"]
    assert [item["cells"][points]["value"] for item in page["items"]] == [3, 4.5]

    r = await client.get(f"/tables/{body['id']}/export", headers=owner.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"Scores 2024.csv\"; filename*=UTF-8''Scores%202024.csv")
    assert list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")))) == [
        ["Name", "Points", "Done"], ["Ada", "3", "true"], ["Bob", "4.5", "false"]]

    r = await client.get(f"/tables/{body['id']}/export?format=xlsx", headers=owner.headers)
    assert r.status_code == 200 and r.headers["content-disposition"].startswith('attachment; filename="Scores 2024.xlsx"')
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["Name", "Points", "Done"], ["Ada", 3, True], ["Bob", 4.5, False]]


async def test_import_with_a_name_into_a_workspace(client, owner):
    r = await client.post("/tables/import", files={"file": ("x.csv", GOOD)},
                          data={"name": "  Team scores ", "description": "from the sheet",
                                "workspace_id": str(owner.workspace_id)}, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["description"]) == ("Team scores", "from the sheet")


@pytest.mark.parametrize("name", list(bad_files()))
async def test_bad_files_get_a_clear_message_and_no_table(client, owner, name):
    data, expected = bad_files()[name]
    before = await _table_count(client, owner)
    r = await client.post("/tables/import", files={"file": (name, data)}, headers=owner.headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "bad_file" and expected in error["message"] and name in error["message"]
    assert await _table_count(client, owner) == before


async def test_import_into_a_table_adds_then_updates_by_key(client, owner):
    r = await client.post("/tables/import", files={"file": ("t.csv", GOOD)}, headers=owner.headers)
    table = r.json()
    r = await client.post(f"/tables/{table['id']}/import", files={"file": ("more.csv", b"Name,Points\nCy,7\n")},
                          headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"added": 1, "updated": 0, "unchanged": 0, "row_count": 1, "notes": [], "jobs": []}
    r = await client.post(f"/tables/{table['id']}/import", data={"key_column": "Name"},
                          files={"file": ("upd.csv", b"Name,Points\nAda,30\nBob,4.5\nDee,1\n")}, headers=owner.headers)
    assert r.json() == {"added": 1, "updated": 1, "unchanged": 1, "row_count": 3, "notes": [], "jobs": []}
    page = (await client.get(f"/tables/{table['id']}/records", headers=owner.headers)).json()
    points = table["columns"][1]["id"]
    assert [i["cells"][points]["value"] for i in page["items"]] == [30, 4.5, 7, 1]

    r = await client.post(f"/tables/{table['id']}/import", files={"file": ("bad.csv", b"Name,Points\nEve,many\n")},
                          headers=owner.headers)
    assert r.status_code == 422 and "Points" in r.json()["error"]["message"]
    assert (await client.get(f"/tables/{table['id']}/records", headers=owner.headers)).json()["total"] == 4


async def test_other_peoples_tables_and_missing_tokens(client, owner, engine, unique):
    from db import accounts
    from db.engine import transaction

    r = await client.post("/tables/import", files={"file": ("t.csv", GOOD)}, headers=owner.headers)
    table_id = r.json()["id"]
    async with transaction(None, engine=engine) as conn:
        other = await accounts.create_account(conn, name=f"other{unique}", password="secret-pw")
        token = await accounts.create_token(conn, account_id=other)
    stranger = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"/tables/{table_id}/export", headers=stranger)).status_code == 404
    r = await client.post(f"/tables/{table_id}/import", files={"file": ("t.csv", GOOD)}, headers=stranger)
    assert r.status_code == 404
    r = await client.post("/tables/import", files={"file": ("t.csv", GOOD)},
                          data={"workspace_id": str(owner.workspace_id)}, headers=stranger)
    assert r.status_code == 403
    assert (await client.get(f"/tables/{table_id}/export")).status_code == 401
    r = await client.get(f"/tables/{table_id}/export?format=pdf", headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = await client.post("/tables/import", headers=owner.headers)
    assert r.status_code == 422 and "file" in r.json()["error"]["message"]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16", "utf-8-sig"])
async def test_encodings_are_detected_and_read_correctly(client, owner, encoding):
    data = "Name,City\nJosé,Zürich\nZoë,Besançon\n".encode(encoding)
    r = await client.post("/tables/import", files={"file": ("people.csv", data)}, headers=owner.headers)
    assert r.status_code == 201, r.text
    table = r.json()
    assert [c["name"] for c in table["columns"]] == ["Name", "City"]
    page = (await client.get(f"/tables/{table['id']}/records", headers=owner.headers)).json()
    city = table["columns"][1]["id"]
    assert [i["cells"][city]["value"] for i in page["items"]] == ["Zürich", "Besançon"]
