"""The read-only tools on real PostgreSQL: what the model sees of a table, bounded whatever its size."""

from __future__ import annotations

import json
import uuid

from tools.base import ToolContext
from tools.registry import run_tool, tool_definitions


async def call(ctx, name, args):
    result = await run_tool(ctx, name, args)
    return result, (json.loads(result.text()) if not result.is_error else result.text())


def test_definitions_come_from_the_models():
    defs = {d["name"]: d for d in tool_definitions()}
    assert {"list_tables", "get_table", "query_rows"} <= set(defs)
    q = defs["query_rows"]["input_schema"]
    assert q["properties"]["limit"]["maximum"] == 200
    assert defs["get_table"]["input_schema"]["properties"]["sample_rows"]["maximum"] == 50
    assert all(d["description"] and "\n\n" not in d["description"][:20] for d in defs.values())
    json.dumps(list(defs.values()))  # the Messages API takes them as JSON


async def test_list_tables_marks_the_active_one(ctx, make_bugs):
    a = await make_bugs(3, "Alpha")
    await make_bugs(0, "Beta")
    ctx.active_table_id = a.id
    _, out = await call(ctx, "list_tables", {})
    by_name = {t["name"]: t for t in out["tables"]}
    assert by_name["Alpha"] == {
        "id": str(a.id),
        "name": "Alpha",
        "description": "Bug tracker",
        "rows": 3,
        "active": True,
    }
    assert by_name["Beta"]["rows"] == 0 and "active" not in by_name["Beta"]


async def test_list_tables_sees_only_this_workspace(ctx, make_bugs, engine, unique):
    await make_bugs(1, "Mine")
    from db import accounts
    from db.engine import transaction

    async with transaction(None, engine=engine) as conn:
        other = await accounts.create_account(conn, name=f"other{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=other)
    theirs = ToolContext(account_id=other, workspace_id=ws["id"], engine=engine)
    _, out = await call(theirs, "list_tables", {})
    assert out["tables"] == [] and "propose_schema" in out["note"]


async def test_get_table_schema_samples_and_stats(ctx, make_bugs, bug_row):
    t = await make_bugs(30)
    ctx.active_table_id = t.id
    result, out = await call(ctx, "get_table", {"sample_rows": 2})
    assert not result.is_error and out["id"] == str(t.id) and out["row_count"] == 30
    cols = {c["name"]: c for c in out["columns"]}
    assert cols["Title"]["required"] is True and cols["Priority"]["options"] == ["P0", "P1", "P2", "P3"]
    assert cols["Title"]["id"] == str(t.columns[0].id)
    assert cols["Title"]["stats"] == {"filled": 30, "distinct": 30}
    # rows 5, 10, ... 30 have no points; points are n % 13
    points = [n % 13 for n in range(1, 31) if n % 5]
    assert cols["Points"]["stats"] == {
        "filled": 24,
        "distinct": len(set(points)),
        "min": min(points),
        "max": max(points),
    }
    assert cols["Status"]["stats"]["top"] == {"Open": 10, "In progress": 10, "Resolved": 10}
    assert cols["Tags"]["stats"]["top"] == {"ui": 10, "api": 10, "db": 10}
    assert cols["Tags"]["stats"]["filled"] == 20
    dues = sorted(bug_row(n)["Due"] for n in range(1, 31))
    assert (cols["Due"]["stats"]["min"], cols["Due"]["stats"]["max"]) == (dues[0], dues[-1])
    assert [r["Title"] for r in out["sample_rows"]] == ["Bug 1", "Bug 2"]
    first = out["sample_rows"][0]
    assert isinstance(first["row_id"], int) and first["Points"] == 1 and first["Tags"] == ["api", "db"]
    assert len(first["Notes"]) == 200 and first["Notes"].endswith("…")


async def test_get_table_errors_name_the_problem(ctx, make_bugs):
    result = await run_tool(ctx, "get_table", {})
    assert result.is_error and "no table is active" in result.text()
    result = await run_tool(ctx, "get_table", {"table_id": str(uuid.uuid4())})
    assert result.is_error and "list_tables" in result.text()
    result = await run_tool(ctx, "get_table", {"table_id": "nope", "sample_rows": 80, "colour": 1})
    text = result.text()
    assert result.is_error and "3 problem(s)" in text
    assert "table_id" in text and "sample_rows: Input should be less than or equal to 50 (got 80)" in text
    assert "colour: Extra inputs are not permitted" in text


async def test_unknown_tool_is_an_error_not_an_exception(ctx):
    result = await run_tool(ctx, "drop_everything", {})
    assert result.is_error and "list_tables" in result.text()


async def test_query_rows_filters_sorts_pages(ctx, make_bugs):
    t = await make_bugs(40)
    ctx.active_table_id = t.id
    _, out = await call(
        ctx,
        "query_rows",
        {
            "filter": [{"column": "status", "value": "open"}, {"column": "Points", "op": "gte", "value": 5}],
            "sort": [{"column": "Points", "direction": "desc"}],
            "limit": 3,
        },
    )
    expected = sorted(
        (n for n in range(1, 41) if n % 3 == 0 and n % 5 and n % 13 >= 5), key=lambda n: (-(n % 13), n)
    )
    assert out["total"] == len(expected) and out["next_offset"] == 3
    assert [r["Title"] for r in out["rows"]] == [f"Bug {n}" for n in expected[:3]]
    _, page2 = await call(
        ctx,
        "query_rows",
        {
            "table_id": str(t.id),
            "filter": [{"column": "Status", "value": "Open"}, {"column": "Points", "op": "gte", "value": 5}],
            "sort": [{"column": "Points", "direction": "desc"}],
            "limit": 3,
            "offset": 3,
        },
    )
    assert [r["Title"] for r in page2["rows"]] == [f"Bug {n}" for n in expected[3:6]]


async def test_query_rows_errors_name_each_problem(ctx, make_bugs):
    t = await make_bugs(2)
    ctx.active_table_id = t.id
    result = await run_tool(ctx, "query_rows", {"filter": [{"column": "Colour", "value": "red"}]})
    assert result.is_error and 'Unknown column "Colour"' in result.text() and "Title" in result.text()
    result = await run_tool(ctx, "query_rows", {"limit": 500, "filter": [{"column": "Status", "op": "like"}]})
    text = result.text()
    assert "limit: Input should be less than or equal to 200 (got 500)" in text
    assert "filter[0].op" in text
    result = await run_tool(
        ctx, "query_rows", {"filter": [{"column": "Points", "op": "gt", "value": "many"}]}
    )
    assert result.is_error and "Points" in result.text() and "number" in result.text()


async def test_results_do_not_grow_with_the_table(ctx, make_bugs):
    small, big = await make_bugs(10, "Small"), await make_bugs(5000, "Big")
    sizes = {}
    for t in (small, big):
        sizes[t.name] = [
            len((await run_tool(ctx, "get_table", {"table_id": str(t.id), "sample_rows": 5})).text()),
            len((await run_tool(ctx, "query_rows", {"table_id": str(t.id), "limit": 10})).text()),
        ]
    get_small, query_small = sizes["Small"]
    get_big, query_big = sizes["Big"]
    assert get_big <= get_small * 1.1, sizes
    assert query_big <= query_small * 1.1, sizes
    widest = json.loads((await run_tool(ctx, "query_rows", {"table_id": str(big.id), "limit": 200})).text())
    notes = [r["Notes"] for r in widest["rows"]]
    assert len(notes) == 200 and max(len(n) for n in notes) == 200  # 5,000-character notes, shortened


async def test_big_tables_get_exact_counts_and_sampled_details(ctx, make_bugs, engine):
    from db.engine import transaction
    from tools.tables import column_stats

    t = await make_bugs(1000)
    async with transaction(ctx.account_id, engine=engine) as conn:
        total, looked_at, stats = await column_stats(conn, t, sample=100)
        _, everything, exact = await column_stats(conn, t)
    assert total == everything == 1000 and 90 <= looked_at <= 110
    by_name = {c.name: str(c.id) for c in t.columns}
    points, status = by_name["Points"], by_name["Status"]
    assert stats[points]["filled"] == exact[points]["filled"] == 800  # exact either way
    assert stats[by_name["Title"]]["distinct"] == looked_at and exact[by_name["Title"]]["distinct"] == 1000
    assert sum(stats[status]["top"].values()) == looked_at and sum(exact[status]["top"].values()) == 1000
    assert exact[points]["min"] <= stats[points]["min"] <= stats[points]["max"] <= exact[points]["max"]
