"""propose_schema / propose_data on real PostgreSQL: problems go back to the model one by one, good
proposals are stored (superseding the pending one), shown to the UI, and end the turn with a small result."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from db.engine import transaction
from tools.base import ProposalEvent, ToolContext
from tools.registry import run_tool

NEW_TABLE = {
    "mode": "create",
    "table_name": "Italian Restaurants in Chicago",
    "table_description": "A curated list",
    "reasoning": "Based on your request",
    "operations": [
        {"action": "add", "column": {"name": "Name", "type": "text", "required": True}},
        {
            "action": "add",
            "column": {
                "name": "Neighborhood",
                "type": "select",
                "options": ["River North", "West Loop"],
                "filterDisplay": "tab",
            },
        },
        {"action": "add", "column": {"name": "Rating", "type": "number"}},
    ],
    "sample_rows": [
        {"Name": "RPM Italian", "Neighborhood": "River North", "Rating": 4.5},
        {"Name": "Monteverde", "Neighborhood": "West Loop", "Rating": 4.7},
    ],
}


async def proposals_of(engine, ctx: ToolContext) -> list[dict]:
    async with transaction(None, engine=engine) as conn:
        rows = await conn.execute(
            text(
                "SELECT id, kind, status, table_id, payload FROM proposals "
                "WHERE thread_id = :th ORDER BY created_at"
            ),
            {"th": ctx.thread_id},
        )
        return [dict(r) for r in rows.mappings()]


async def test_create_proposal_is_stored_shown_and_ends_the_turn(ctx, events, engine):
    result = await run_tool(ctx, "propose_schema", NEW_TABLE)
    assert not result.is_error and result.ends_turn
    out = json.loads(result.text())
    assert out["buttons"] == "Create Table / Dismiss" and "3 columns" in out["summary"]
    (event,) = events
    assert isinstance(event, ProposalEvent) and event.kind == "schema_create" and event.table_id is None
    assert str(event.proposal_id) == out["proposal_id"]
    assert [c.name for c in event.preview.columns] == ["Name", "Neighborhood", "Rating"]
    (stored,) = await proposals_of(engine, ctx)
    assert stored["status"] == "pending" and stored["payload"]["table_name"] == NEW_TABLE["table_name"]


async def test_a_new_proposal_supersedes_the_pending_one(ctx, events, engine):
    first = json.loads((await run_tool(ctx, "propose_schema", NEW_TABLE)).text())["proposal_id"]
    second = json.loads((await run_tool(ctx, "propose_schema", NEW_TABLE | {"table_name": "Other"})).text())
    assert second["superseded"] == [first]
    assert events[-1].superseded == (uuid.UUID(first),)
    assert [(p["id"].hex, p["status"]) for p in await proposals_of(engine, ctx)] == [
        (uuid.UUID(first).hex, "superseded"),
        (uuid.UUID(second["proposal_id"]).hex, "pending"),
    ]


async def test_bad_create_names_each_problem_and_stores_nothing(ctx, events, engine):
    bad = NEW_TABLE | {
        "operations": [
            *NEW_TABLE["operations"],
            {"action": "add", "column": {"name": "Price", "type": "select"}},
            {"action": "add", "column": {"name": "Website", "type": "url", "options": ["a"]}},
        ],
        "sample_rows": [{"Name": "X", "Neighborhood": "Gold Coast", "Rating": "great", "Colour": "red"}],
    }
    result = await run_tool(ctx, "propose_schema", bad)
    text_ = result.text()
    assert result.is_error and not result.ends_turn
    assert 'column "Price" is select and needs a list of options' in text_
    assert 'column "Website" is url, which takes no options' in text_
    assert "Gold Coast" in text_ and "Neighborhood" in text_
    assert "great" in text_ and "Rating" in text_
    assert 'unknown column "Colour"' in text_
    assert events == [] and await proposals_of(engine, ctx) == []


async def test_shape_errors_come_from_the_input_model(ctx, events):
    result = await run_tool(
        ctx,
        "propose_schema",
        {
            "mode": "create",
            "table_name": "T",
            "operations": [
                {"action": "explode"},
                {"action": "add", "column": {"name": "A", "type": "string"}},
            ],
        },
    )
    text_ = result.text()
    assert result.is_error and "Invalid input for propose_schema" in text_
    assert "operations[0]" in text_ and "explode" in text_
    assert "operations[1].column.type" in text_ and "'string'" in text_
    assert events == []


async def test_update_defaults_to_the_active_table_and_checks_columns(ctx, events, make_bugs):
    t = await make_bugs(6)  # row 5 has no points
    ctx.active_table_id = t.id
    cols = {c.name: str(c.id) for c in t.columns}
    bad = await run_tool(
        ctx,
        "propose_schema",
        {
            "mode": "update",
            "operations": [
                {"action": "remove", "column_id": str(uuid.uuid4())},
                {"action": "add", "column": {"name": "Status", "type": "text"}},
                {"action": "modify", "column_id": cols["Points"], "changes": {"required": True}},
            ],
        },
    )
    text_ = bad.text()
    assert bad.is_error and "unknown column" in text_ and "Title, Status" in text_
    assert 'a column named "Status" already exists' in text_
    assert 'column "Points" cannot be required' in text_
    good = await run_tool(
        ctx,
        "propose_schema",
        {
            "mode": "update",
            "reasoning": "",
            "operations": [
                {
                    "action": "add",
                    "column": {"name": "Severity", "type": "select", "options": ["Low", "High"]},
                    "after_column_id": cols["Title"],
                },
                {"action": "remove", "column_id": cols["Notes"]},
            ],
        },
    )
    assert not good.is_error and good.ends_turn
    assert json.loads(good.text())["buttons"] == "Apply / Dismiss"
    (event,) = events
    assert event.kind == "schema_update" and event.table_id == t.id
    states = {c.name: c.state for c in event.preview.columns}
    assert states["Severity"] == "added" and states["Notes"] == "removed"


async def test_data_proposal_checks_values_against_the_columns(ctx, events, make_bugs, engine):
    t = await make_bugs(3)
    ctx.active_table_id = t.id
    async with transaction(None, engine=engine) as conn:
        ids = (
            (await conn.execute(text("SELECT id FROM records WHERE table_id = :t ORDER BY id"), {"t": t.id}))
            .scalars()
            .all()
        )
    bad = await run_tool(
        ctx,
        "propose_data",
        {
            "operations": [
                {"action": "add", "data": {"Title": "New", "Priority": "P9"}},
                {"action": "add", "data": {"Status": "Open"}},
                {"action": "update", "row_id": ids[0], "changes": {"Points": "lots"}},
                {"action": "update", "row_id": 999_999_999, "changes": {"Title": "x"}},
                {"action": "delete", "row_id": ids[1]},
                {"action": "add", "data": {"Title": "Y", "Colour": "red"}},
            ]
        },
    )
    text_ = bad.text()
    assert bad.is_error
    for expected in (
        "operations[0]",
        "P9",
        "operations[1]",
        '"Title" is required',
        "operations[2]",
        "lots",
        "row 999999999 does not exist",
        'Unknown column "Colour"',
    ):
        assert expected in text_, expected
    assert "operations[4]" not in text_
    assert events == []
    good = await run_tool(
        ctx,
        "propose_data",
        {
            "reasoning": "triage",
            "operations": [
                {"action": "add", "data": {"title": "New bug", "priority": "p1"}},
                {"action": "update", "row_id": ids[0], "changes": {"Status": "Resolved"}},
                {"action": "delete", "row_id": ids[2]},
            ],
            "research_log": ["looked at the tracker"],
        },
    )
    assert not good.is_error and good.ends_turn
    (event,) = events
    assert event.kind == "data" and event.table_id == t.id
    assert (
        event.preview.counts == {"add": 1, "update": 1, "delete": 1}
        or sum(event.preview.counts.values()) == 3
    )


async def test_proposals_need_a_table_of_this_workspace(ctx, make_bugs, engine, unique):
    none = await run_tool(ctx, "propose_data", {"operations": [{"action": "delete", "row_id": 1}]})
    assert none.is_error and "no table is active" in none.text()
    from db import accounts

    async with transaction(None, engine=engine) as conn:
        other = await accounts.create_account(conn, name=f"o{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=other)
    theirs = ToolContext(account_id=other, workspace_id=ws["id"], thread_id="x", engine=engine)
    t = await make_bugs(1)
    result = await run_tool(
        theirs, "propose_data", {"table_id": str(t.id), "operations": [{"action": "delete", "row_id": 1}]}
    )
    assert result.is_error and str(t.id) in result.text()


async def test_proposal_result_stays_small_for_a_big_table(ctx, make_bugs, engine):
    t = await make_bugs(5000)
    ctx.active_table_id = t.id
    async with transaction(None, engine=engine) as conn:
        ids = (
            (await conn.execute(text("SELECT id FROM records WHERE table_id = :t ORDER BY id"), {"t": t.id}))
            .scalars()
            .all()
        )
    result = await run_tool(
        ctx,
        "propose_data",
        {"operations": [{"action": "update", "row_id": i, "changes": {"Status": "Resolved"}} for i in ids]},
    )
    assert not result.is_error and len(result.text()) < 1000
    assert "5000" in json.loads(result.text())["summary"].replace(",", "")


async def test_emit_failure_is_reported_not_raised(ctx, engine):
    async def broken(_event):
        raise RuntimeError("socket closed")

    ctx.emit = broken
    result = await run_tool(ctx, "propose_schema", NEW_TABLE)
    assert result.is_error and "could not be shown" in result.text() and not result.ends_turn


async def test_a_lazily_made_workspace_is_asked_for_once(ctx, events):
    made = []

    async def workspace():
        made.append(1)
        return ctx.workspace_id

    lazy = ToolContext(
        account_id=ctx.account_id, workspace_id=workspace, thread_id="lazy", engine=ctx.engine, emit=events
    )
    assert not (await run_tool(lazy, "propose_schema", NEW_TABLE)).is_error
    assert not (await run_tool(lazy, "list_tables", {})).is_error
    assert made == [1] and events[-1].kind == "schema_create"


async def test_a_proposal_written_in_the_text_is_handled_like_the_tool_call(ctx, events, engine):
    """The seeds' SCHEMA_PROPOSAL: block, through the agent loop: cut from the text, checked, stored, shown."""
    from agent.loop import run_turn
    from agent.model import MessageDone, TextDelta
    from agent.sink import CollectingSink

    reply = (
        "I've designed the table. Click **Create Table** to build it or **Dismiss** to start over.\n\n"
        f"SCHEMA_PROPOSAL: {json.dumps(NEW_TABLE)}"
    )

    class Scripted:
        name, offline = "scripted", True

        async def stream(self, request):
            yield TextDelta(reply)
            yield MessageDone([{"type": "text", "text": reply}], "end_turn", {})

    sink = CollectingSink()
    turn = await run_turn(Scripted(), ctx, [], "make me a restaurant table", sink)
    assert "SCHEMA_PROPOSAL" not in sink.text and "{" not in sink.text and "Create Table" in sink.text
    assert turn.stop == "awaiting_user" and turn.proposal == "create"
    (event,) = events
    assert event.kind == "schema_create" and event.payload["table_name"] == NEW_TABLE["table_name"]
    assert [p["status"] for p in await proposals_of(engine, ctx)] == ["pending"]


async def test_every_problem_of_a_malformed_call_comes_back_in_the_first_answer(ctx, events, engine):
    result = await run_tool(ctx, "propose_schema", {
        "mode": "create",
        "table_name": "T",
        "operations": [
            {"action": "add", "column": {"name": "Title", "type": "texxt"}},  # bad type
            {"action": "add", "column": {"type": "number"}},  # no name
            {"action": "add", "column": {"name": "Price", "type": "number"}},
            {"action": "add", "column": {"name": "price", "type": "text"}},  # a duplicate
            {"action": "add", "column": {"name": "Title", "type": "text"}},  # a duplicate of the malformed one
            {"action": "add", "column": {"name": "Tier", "type": "select"}},  # no options
        ],
    })
    text_ = result.text()
    assert result.is_error and "Invalid input for propose_schema" in text_
    assert "operations[0].column.type" in text_ and "'texxt'" in text_
    assert "operations[1].column.name" in text_
    # the checks that need the whole proposal ran on the well-formed operations, numbered as sent
    assert 'operations[3]: two columns are named "price"' in text_
    assert 'operations[4]: two columns are named "Title"' in text_
    assert 'operations[5]: column "Tier" is select and needs a list of options' in text_
    assert events == [] and await proposals_of(engine, ctx) == []
    # fixing what was listed is enough: the next call is accepted
    fixed = await run_tool(ctx, "propose_schema", {"mode": "create", "table_name": "T", "operations": [
        {"action": "add", "column": {"name": "Title", "type": "text"}},
        {"action": "add", "column": {"name": "Count", "type": "number"}},
        {"action": "add", "column": {"name": "Price", "type": "number"}},
        {"action": "add", "column": {"name": "Tier", "type": "select", "options": ["a"]}}]})
    assert not fixed.is_error, fixed.text()


async def test_a_malformed_data_call_also_gets_the_table_checks(ctx, events, make_bugs):
    t = await make_bugs(3)
    ctx.active_table_id = t.id
    result = await run_tool(ctx, "propose_data", {"operations": [
        {"action": "update", "row_id": "x", "changes": {"Points": 1}},  # row_id is not a number
        {"action": "add", "data": {"Colour": "red"}},  # no such column
        {"action": "delete", "row_id": 999},  # no such row
    ]})
    text_ = result.text()
    assert result.is_error and "operations[0].row_id" in text_
    assert 'operations[1]: ' in text_ and "Colour" in text_
    assert "operations[2] (delete row 999): row 999 does not exist" in text_
    assert events == []
