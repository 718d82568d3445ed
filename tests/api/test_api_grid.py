"""The grid's reads: `sort` by column names (or JSON), `q`, `filter` with every op, the filtered total, and
422s that name the parameter and the problem."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from db.engine import transaction

ROWS = [
    {"Title": "banana", "Points": 3, "Done": True, "Due": "2026-03-01", "Status": "Open", "Tags": ["ui"],
     "Contact": "zed@example.com", "Notes": "Ripe and YELLOW"},
    {"Title": "Apple", "Points": 10, "Done": False, "Due": "2025-12-31", "Status": "Closed", "Tags": ["ui", "db"],
     "Link": "example.com/fruit"},
    {"Title": "cherry", "Points": 2.5, "Due": "2026-01-15", "Notes": "100% red"},
    {"Title": "apple", "Points": 3, "Done": False, "Status": "Open", "Tags": [], "Contact": "amy@example.com"},
    {"Title": "Date", "Done": True, "Due": "2026-03-01", "Extra": {"k": 1}},
]


async def _set_state(engine, record_id: int, column_id: str, state: dict) -> None:
    """A cell's state as a worker would leave it."""
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("UPDATE records SET meta = jsonb_set(meta, ARRAY[:c], CAST(:m AS jsonb)) "
                                "WHERE id = :r"), {"c": column_id, "r": record_id, "m": json.dumps(state)})


@pytest.fixture
async def rows(client, user, table):
    r = await client.post(f"/tables/{table['id']}/records", json={"rows": ROWS}, headers=user.headers)
    assert r.status_code == 201, r.text
    return r.json()["ids"]


async def _page(client, user, table, **params):
    r = await client.get(f"/tables/{table['id']}/records", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _titles(client, user, table, **params) -> list[str]:
    page = await _page(client, user, table, **params)
    title = next(c["id"] for c in table["columns"] if c["name"] == "Title")
    return [item["cells"][title]["value"] for item in page["items"]]


@pytest.mark.parametrize(("sort", "want"), [
    # numbers numerically (10 after 3), ties by row id, empty last
    ("Points", ["cherry", "banana", "apple", "Apple", "Date"]),
    ("-Points", ["Apple", "banana", "apple", "cherry", "Date"]),
    # text case-insensitively, ties by row id
    ("Title", ["Apple", "apple", "banana", "cherry", "Date"]),
    ("-Title", ["Date", "cherry", "banana", "Apple", "apple"]),
    # dates by date, empty last either way
    ("Due", ["Apple", "cherry", "banana", "Date", "apple"]),
    ("-Due", ["banana", "Date", "cherry", "Apple", "apple"]),
    # false before true, empty last
    ("Done", ["Apple", "apple", "banana", "Date", "cherry"]),
    ("-Done", ["banana", "Date", "Apple", "apple", "cherry"]),
    # several keys: the second orders what the first leaves tied
    ("-Points,-Title", ["Apple", "banana", "apple", "cherry", "Date"]),
    ("Due, +Title", ["Apple", "cherry", "banana", "Date", "apple"]),
    ("-Done,Points", ["banana", "Date", "apple", "Apple", "cherry"]),
    (" status ", ["Apple", "banana", "apple", "cherry", "Date"]),  # select: by its text, as text is
])
async def test_sort_by_each_type_with_nulls_last_and_ties_by_row_id(client, user, table, rows, sort, want):
    assert await _titles(client, user, table, sort=sort) == want


async def test_json_sort_is_still_accepted_and_ids_work_as_names(client, user, table, cols, rows):
    assert await _titles(client, user, table, sort=json.dumps([{"column": "Points", "direction": "desc"}])) \
        == ["Apple", "banana", "apple", "cherry", "Date"]
    assert await _titles(client, user, table, sort=f"-{cols['Points']}") \
        == ["Apple", "banana", "apple", "cherry", "Date"]
    # the order holds across pages
    first = await _titles(client, user, table, sort="Title", limit=2)
    second = await _titles(client, user, table, sort="Title", limit=2, offset=2)
    assert first + second == ["Apple", "apple", "banana", "cherry"]


def _f(column, op, value=None):
    return json.dumps([{"column": column, "op": op, "value": value}])


@pytest.mark.parametrize(("flt", "want"), [
    (_f("Points", "eq", 3), ["banana", "apple"]),
    (_f("Points", "ne", 3), ["Apple", "cherry", "Date"]),
    (_f("Points", "lt", 3), ["cherry"]),
    (_f("Points", "le", 3), ["banana", "cherry", "apple"]),
    (_f("Points", "lte", 3), ["banana", "cherry", "apple"]),
    (_f("Points", "gt", 3), ["Apple"]),
    (_f("Points", "ge", "3"), ["banana", "Apple", "apple"]),
    (_f("Points", "gte", 3), ["banana", "Apple", "apple"]),
    (_f("Points", "empty"), ["Date"]),
    (_f("Points", "not_empty"), ["banana", "Apple", "cherry", "apple"]),
    (_f("Due", "lt", "2026-03-01"), ["Apple", "cherry"]),
    (_f("Due", "ge", "2026-01-15"), ["banana", "cherry", "Date"]),
    (_f("Due", "eq", "2026-03-01"), ["banana", "Date"]),
    (_f("Title", "lt", "BANANA"), ["Apple", "apple"]),
    (_f("Title", "contains", "PP"), ["Apple", "apple"]),
    (_f("Title", "eq", "apple"), ["apple"]),
    (_f("Notes", "contains", "yellow"), ["banana"]),
    (_f("Notes", "contains", "0%"), ["cherry"]),  # % is a character, not a wildcard
    (_f("Notes", "contains", "_"), []),
    (_f("Done", "eq", True), ["banana", "Date"]),
    (_f("Done", "ne", True), ["Apple", "cherry", "apple"]),
    (_f("Done", "empty"), ["cherry"]),
    (_f("Status", "eq", "open"), ["banana", "apple"]),
    (_f("Status", "eq", None), ["cherry", "Date"]),
    (_f("Status", "ne", None), ["banana", "Apple", "apple"]),
    (_f("Tags", "eq", ["ui"]), ["banana", "Apple"]),
    (_f("Tags", "contains", "db"), ["Apple"]),
    (_f("Tags", "empty"), ["cherry", "apple", "Date"]),
    (_f("Link", "contains", "FRUIT"), ["Apple"]),
    (_f("Contact", "contains", "amy"), ["apple"]),
    (_f("Extra", "not_empty"), ["Date"]),
    (json.dumps([{"column": "Points", "op": "ge", "value": 3}, {"column": "Title", "op": "contains", "value": "a"}]),
     ["banana", "Apple", "apple"]),
])
async def test_every_filter_op(client, user, table, rows, flt, want):
    assert await _titles(client, user, table, filter=flt) == want


async def test_search_is_case_insensitive_over_text_like_columns_only(client, user, table, rows):
    assert await _titles(client, user, table, q="APPLE") == ["Apple", "apple"]
    assert await _titles(client, user, table, q="yellow") == ["banana"]  # long text
    assert await _titles(client, user, table, q="Example.com") == ["banana", "Apple", "apple"]  # email, url
    assert await _titles(client, user, table, q="closed") == ["Apple"]  # select
    assert await _titles(client, user, table, q="db") == ["Apple"]  # multi-select
    assert await _titles(client, user, table, q="2026") == []  # dates and numbers are not searched
    assert await _titles(client, user, table, q="10") == ["cherry"]  # "100% red", not Points 10
    assert await _titles(client, user, table, q="%") == ["cherry"]
    assert await _titles(client, user, table, q="  ") == ["banana", "Apple", "cherry", "apple", "Date"]
    page = await _page(client, user, table, q="e", filter=_f("Points", "ge", 3), sort="-Title")
    assert page["total"] == 3


async def test_total_counts_every_match_not_the_page(client, user, table, cols):
    r = await client.post(f"/tables/{table['id']}/records", headers=user.headers,
                          json={"rows": [{"Title": f"row {n}", "Points": n} for n in range(250)]})
    assert r.status_code == 201
    page = await _page(client, user, table, filter=_f("Points", "ge", 100), q="ROW", sort="-Points", limit=20)
    assert page["total"] == 150 and len(page["items"]) == 20
    assert [i["cells"][cols["Points"]]["value"] for i in page["items"]][:3] == [249, 248, 247]
    page = await _page(client, user, table, filter=_f("Points", "ge", 100), limit=20, offset=140)
    assert page["total"] == 150 and len(page["items"]) == 10
    page = await _page(client, user, table, filter=_f("Points", "ge", 100), limit=20, offset=400)
    assert page["total"] == 150 and page["items"] == []


def _problem(r, param: str, clause: int | None = 0) -> str:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    field = f"query.{param}" + ("" if clause is None else f".{clause}")
    assert [d["field"] for d in err["details"]] == [field], err
    return err["message"]


@pytest.mark.parametrize(("params", "param", "clause", "words"), [
    ({"sort": "Nope"}, "sort", 0, ['Unknown column "Nope"', '"Title"']),
    ({"sort": "Title,-Nope"}, "sort", 1, ['Unknown column "Nope"']),
    ({"sort": '[{"column": "Nope"}]'}, "sort", 0, ['Unknown column "Nope"']),
    ({"sort": "Title,,Points"}, "sort", 1, ["empty column name"]),
    ({"sort": "-"}, "sort", 0, ["empty column name"]),
    ({"sort": ",".join(["Title"] * 11)}, "sort", None, ["at most 10"]),
    ({"filter": _f("Nope", "eq", 1)}, "filter", 0, ['Unknown column "Nope"']),
    ({"filter": _f("Done", "gt", True)}, "filter", 0, ['"gt" does not apply to the boolean column "Done"']),
    ({"filter": _f("Points", "contains", "1")}, "filter", 0, ['"contains"', 'number column "Points"']),
    ({"filter": _f("Due", "contains", "2026")}, "filter", 0, ['"contains"', 'date column "Due"']),
    ({"filter": _f("Tags", "lt", "ui")}, "filter", 0, ['"lt"', 'multi_select column "Tags"']),
    ({"filter": _f("Title", "status", "error")}, "filter", 0, ['"status" applies to AI columns only']),
    ({"filter": _f("Points", "eq", "lots")}, "filter", 0, ['"Points"', "expected a number"]),
    ({"filter": _f("Due", "gt", "31/02/2026")}, "filter", 0, ['"Due"', "YYYY-MM-DD"]),
    ({"filter": _f("Status", "eq", "Pending")}, "filter", 0, ['"Status"']),
    ({"filter": _f("Points", "gt")}, "filter", 0, ['"gt" on "Points" needs a value']),
    ({"filter": _f("Title", "contains", ["a"])}, "filter", 0, ["takes text"]),
    ({"filter": json.dumps([{"column": "Title", "op": "empty"}, {"column": "Done", "op": "le", "value": 1}])},
     "filter", 1, ['"le"', '"Done"']),
    ({"filter": '[{"column": "Title", "op": "eq"'}, "filter", None, ["not valid JSON"]),
    ({"filter": _f("Title", "like", "a")}, "filter", "0.op", ["eq"]),
    ({"q": "a\x00b"}, "q", None, ["NUL"]),
    ({"q": "x" * 501}, "q", None, ["500"]),
])
async def test_bad_sort_filter_or_search_is_422_naming_the_parameter_and_problem(
        client, user, table, rows, params, param, clause, words):
    r = await client.get(f"/tables/{table['id']}/records", params=params, headers=user.headers)
    message = _problem(r, param, clause)
    for word in words:
        assert word in message, message


async def test_status_filter_on_an_ai_column(client, user, engine):
    h = user.headers
    r = await client.post("/tables", headers=h, json={"name": "Leads", "columns": [
        {"name": "Company", "type": "text"}, {"name": "Pitch", "type": "text", "ai": {"prompt": "Pitch {Company}"}}]})
    table = r.json()
    ids = (await client.post(f"/tables/{table['id']}/records", headers=h, json={
        "rows": [{"Company": f"C{n}"} for n in range(6)]})).json()["ids"]
    pitch = next(c["id"] for c in table["columns"] if c["name"] == "Pitch")
    for rid, state in zip(ids, [{"s": "completed", "v": 1}, {"s": "error", "e": "refused"}, {"s": "stale"},
                                {"s": "computing"}, {}, {"s": "pending"}]):
        await _set_state(engine, rid, pitch, state)
    r = await client.post(f"/tables/{table['id']}/records", headers=h,
                          json={"values": {"Company": "Given", "Pitch": "by hand"}})
    given = r.json()["id"]

    async def matching(value) -> list[int]:
        page = await _page(client, user, table, filter=json.dumps({"column": "Pitch", "op": "status", "value": value}))
        assert page["total"] == len(page["items"])
        return [i["id"] for i in page["items"]]

    assert await matching("error") == [ids[1]]
    assert await matching("stale") == [ids[2]]
    assert await matching("computing") == [ids[3]]
    assert await matching("idle") == [ids[4]]
    assert await matching("pending") == [ids[5]]
    assert await matching("pinned") == [given]
    assert await matching("completed") == [ids[0], given]
    assert await matching(["error", "stale"]) == [ids[1], ids[2]]
    for bad in ("broken", [], ["error", "nope"], None):
        r = await client.get(f"/tables/{table['id']}/records", headers=h,
                             params={"filter": json.dumps({"column": "Pitch", "op": "status", "value": bad})})
        assert "status must be one of" in _problem(r, "filter")
    # an AI column still takes its type's ops
    assert await _page(client, user, table, filter=_f("Pitch", "contains", "HAND"), sort="-Pitch") \
        and (await _page(client, user, table, filter=_f("Pitch", "contains", "HAND")))["total"] == 1


async def test_another_workspace_table_cannot_be_sorted_or_filtered(client, make_user, user, table, rows):
    stranger = await make_user()
    for params in ({"sort": "-Points"}, {"filter": _f("Points", "gt", 1)}, {"q": "apple"},
                   {"sort": "Nope"}, {"filter": _f("Nope", "eq", 1)}):
        r = await client.get(f"/tables/{table['id']}/records", params=params, headers=stranger.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (params, r.text)


async def test_the_app_cannot_build_indexes_on_the_rows(make_user, engine):
    """Sorting never builds an index in a request: an index on `records` is a write lock on every
    workspace's rows while it builds, and the app's role may not make one."""
    stranger = await make_user()
    async with transaction(stranger.id, engine=engine) as conn:
        with pytest.raises(Exception, match="must be owner"):
            await conn.execute(text("CREATE INDEX ix_mine ON records ((data -> 'x'))"))
