"""The offline model: requests in plain words → the tool calls and payloads Claude would make, checked by
the real proposals validator and run against real tables; its text guides the user to the buttons."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text

from agent import guidance
from agent.model import MessageDone, Model, ModelRequest, TextDelta, ToolUseStart
from agent.offline import OfflineModel, parse_intent
from core.markdown import md_text
from db.engine import transaction
from proposals.validate import parse, validate
from tools.base import ProposalEvent
from tools.registry import run_tool, tool_definitions

TOOLS = tool_definitions()


async def stream(messages: list[dict], tools: list[dict] = TOOLS) -> list:
    return [e async for e in OfflineModel().stream(ModelRequest("system", messages, tools))]


def user(text_: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text_}]}


def sentences(text_: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n", text_) if s.strip()]


def guides(text_: str, kind: str) -> bool:
    """SPEC §7: names the buttons and asks no permission."""
    return guidance.names_buttons(text_, kind) and not any(
        guidance.asks_permission(s) for s in sentences(text_)
    )


async def converse(ctx, text_: str, tools: list[dict] = TOOLS) -> dict:
    """One user message through the model and the real tools, as the loop does; what happened."""
    history = [user(text_)]
    calls, shown = [], []
    for _ in range(10):
        events = await stream(history, tools)
        done = events[-1]
        shown.append("".join(e.text for e in events if isinstance(e, TextDelta)))
        history.append({"role": "assistant", "content": done.content})
        uses = [b for b in done.content if b["type"] == "tool_use"]
        if not uses:
            break
        results, ends = [], False
        for use in uses:
            result = await run_tool(ctx, use["name"], use["input"])
            calls.append((use["name"], use["input"], result))
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": use["id"],
                    "content": result.text(),
                    **({"is_error": True} if result.is_error else {}),
                }
            )
            ends = ends or result.ends_turn
        history.append({"role": "user", "content": results})
        if ends:
            break
    return {"text": "\n\n".join(s for s in shown if s), "calls": calls, "names": [c[0] for c in calls]}


# -- without a database -----------------------------------------------------------------------------------


def test_it_is_a_model():
    model = OfflineModel()
    assert isinstance(model, Model) and model.name == "offline" and model.offline is True


async def test_create_streams_text_then_one_valid_proposal():
    events = await stream([user("create a table of Italian restaurants in Chicago")])
    deltas = [e for e in events if isinstance(e, TextDelta)]
    starts = [e for e in events if isinstance(e, ToolUseStart)]
    done = events[-1]
    assert isinstance(done, MessageDone) and done.stop_reason == "tool_use"
    assert len(deltas) > 5 and all(len(d.text) < 60 for d in deltas)  # small chunks, like a stream
    text_block, tool_block = done.content
    assert "".join(d.text for d in deltas) == text_block["text"]
    assert [s.name for s in starts] == ["propose_schema"] and starts[0].id == tool_block["id"]
    payload = tool_block["input"]
    proposal = parse(payload, "schema")
    assert validate(proposal, None) == []
    cols = {op["column"]["name"]: op["column"] for op in payload["operations"]}
    assert payload["table_name"] == "Italian Restaurants in Chicago"
    assert cols["Name"] == {"name": "Name", "type": "text", "required": True}
    assert cols["Neighborhood"]["type"] == "select" and "River North" in cols["Neighborhood"]["options"]
    assert cols["Neighborhood"]["filterDisplay"] == "tab"
    assert cols["Rating"]["type"] == "number" and cols["Website"]["type"] == "url"
    assert cols["Price Range"]["options"] == ["$", "$$", "$$$", "$$$$"]
    assert len(payload["sample_rows"]) >= 3
    assert {r["Neighborhood"] for r in payload["sample_rows"]} <= set(cols["Neighborhood"]["options"])
    assert guides(text_block["text"], "create") and "Italian Restaurants in Chicago" in text_block["text"]
    assert done.usage["input_tokens"] > 0 and done.usage["output_tokens"] > 0


@pytest.mark.parametrize(
    ("ask", "column", "ctype"),
    [
        ("create a table of books I want to read", "Author", "text"),
        ("make a table for my movie watchlist", "Watched", "boolean"),
        ("create a table of contacts", "Email", "email"),
        ("make me a table for tracking bugs", "Priority", "select"),
        ("create a tracker for tasks", "Due Date", "date"),
        ("create a table of products", "Price", "number"),
        ("build a table of employees", "Department", "select"),
        ("create a table of houseplants", "Name", "text"),
    ],
)
async def test_topics_get_fitting_columns_and_valid_samples(ask, column, ctype):
    done = (await stream([user(ask)]))[-1]
    payload = done.content[-1]["input"]
    assert validate(parse(payload, "schema"), None) == []
    cols = {op["column"]["name"]: op["column"]["type"] for op in payload["operations"]}
    assert cols[column] == ctype
    assert len(payload["sample_rows"]) >= 3 and len(cols) >= 5


async def test_same_request_same_answer():
    first = (await stream([user("create a table of books")]))[-1]
    again = (await stream([user("create a table of books")]))[-1]
    assert first.content == again.content


async def test_unknown_requests_get_the_list_of_what_it_understands():
    done = (await stream([user("what's the weather in Rome?")]))[-1]
    (block,) = done.content
    assert done.stop_reason == "end_turn" and "didn't understand" in block["text"]
    for example in ("create a table of", "add a column", "rename", "delete the rows where", "fill column"):
        assert example in block["text"]


async def test_accepted_notice_gets_a_short_follow_up_without_tools():
    done = (
        await stream([user('[User accepted and created "Italian Restaurants in Chicago" with 7 columns]')])
    )[-1]
    assert done.stop_reason == "end_turn" and len(done.content) == 1
    assert "Italian Restaurants in Chicago" in done.content[0]["text"] and len(done.content[0]["text"]) < 300


@pytest.mark.parametrize(
    ("ask", "kind", "expected"),
    [
        ("add a column Priority (select)", "add_column", {"name": "Priority", "type": "select"}),
        ("add a Severity column with options Low, High", "add_column", {"options": ["Low", "High"]}),
        ("add a number column called Cost after Title", "add_column", {"name": "Cost", "type": "number"}),
        ("remove column Notes", "remove_column", {"name": "Notes"}),
        ("rename Title to Summary", "rename", {"name": "Title", "new": "Summary"}),
        ("make Status required", "modify", {"changes": {"required": True}}),
        ("mark Title as optional", "modify", {"changes": {"required": False}}),
        ("change Points to text", "modify", {"changes": {"type": "text"}}),
        ("add 3 rows", "add_rows", {"count": 3}),
        ("delete the rows where Status is Resolved", "delete_rows", {}),
        ("set Status to Resolved where Priority is P0", "set", {"column": "Status", "value": "Resolved"}),
        ("fill column Summary", "fill", {"name": "Summary", "scope": "empty"}),
    ],
)
def test_requests_are_understood(ask, kind, expected):
    intent = parse_intent(ask)
    assert intent.kind == kind
    found = intent.args.get("column", intent.args) if kind == "add_column" else intent.args
    for key, value in expected.items():
        assert found[key] == value if key != "changes" else intent.args["changes"] == value


# -- against real tables ----------------------------------------------------------------------------------


@pytest.fixture
async def bugs(ctx, make_bugs):
    t = await make_bugs(12)
    ctx.active_table_id = t.id
    return t


async def row_ids(engine, table_id, where: str = "true") -> list[int]:
    async with transaction(None, engine=engine) as conn:
        rows = await conn.execute(
            text(f"SELECT id FROM records WHERE table_id = :t AND {where} ORDER BY id"), {"t": table_id}
        )
        return list(rows.scalars())


def proposal(out: dict) -> tuple[dict, object]:
    name, payload, result = out["calls"][-1]
    assert name.startswith("propose_") and not result.is_error, result.text()
    return payload, result


async def test_create_through_the_tools_shows_a_preview(ctx, events):
    out = await converse(ctx, "create a table of Italian restaurants in Chicago")
    assert out["names"] == ["propose_schema"]
    _, result = proposal(out)
    assert result.ends_turn
    (event,) = events
    assert isinstance(event, ProposalEvent) and event.kind == "schema_create"
    assert event.preview.table_name == "Italian Restaurants in Chicago"


async def test_add_column_looks_at_the_table_first(ctx, events, bugs):
    out = await converse(ctx, "add a column Severity (select) after Title")
    assert out["names"] == ["get_table", "propose_schema"]
    payload, _ = proposal(out)
    (op,) = payload["operations"]
    title = next(c for c in bugs.columns if c.name == "Title")
    assert payload["mode"] == "update" and payload["table_id"] == str(bugs.id)
    assert op == {
        "action": "add",
        "column": {"name": "Severity", "type": "select", "options": ["Critical", "Major", "Minor"]},
        "after_column_id": str(title.id),
    }
    assert guides(out["text"], "update") and events[-1].kind == "schema_update"


async def test_ai_column_names_its_inputs(ctx, bugs):
    out = await converse(ctx, "add an AI column Summary: Summarize {title} in 5 words")
    payload, _ = proposal(out)
    ai = payload["operations"][0]["column"]["ai"]
    assert ai["prompt"] == "Summarize {title} in 5 words" and ai["depends_on"] == ["Title"]


async def test_remove_rename_and_required_use_real_column_ids(ctx, bugs):
    ids = {c.name: str(c.id) for c in bugs.columns}
    payload, _ = proposal(await converse(ctx, "remove column notes"))
    assert payload["operations"] == [{"action": "remove", "column_id": ids["Notes"]}]
    payload, _ = proposal(await converse(ctx, "rename Title to Summary"))
    assert payload["operations"] == [
        {"action": "modify", "column_id": ids["Title"], "changes": {"name": "Summary"}}
    ]
    payload, _ = proposal(await converse(ctx, "make Status required"))
    assert payload["operations"] == [
        {"action": "modify", "column_id": ids["Status"], "changes": {"required": True}}
    ]


async def test_a_refused_proposal_is_explained_not_shown(ctx, events, bugs):
    out = await converse(ctx, "make Points required")  # rows 5 and 10 have no points
    assert out["names"] == ["get_table", "propose_schema"] and out["calls"][-1][2].is_error
    assert "couldn't make that change" in out["text"] and "cannot be required" in out["text"]
    assert events == []


async def test_unknown_column_lists_the_columns_without_proposing(ctx, bugs):
    out = await converse(ctx, "remove column Colour")
    assert out["names"] == ["get_table"]
    assert "no column named “Colour”" in out["text"] and "Title, Status, Priority" in out["text"]


async def test_add_rows_fit_the_column_types(ctx, events, bugs, engine):
    out = await converse(ctx, "add 3 rows")
    assert out["names"] == ["get_table", "propose_data"]
    payload, _ = proposal(out)
    rows = [op["data"] for op in payload["operations"]]
    assert len(rows) == 3 and all(op["action"] == "add" for op in payload["operations"])
    assert [r["Title"] for r in rows] == ["New Bug 13", "New Bug 14", "New Bug 15"]
    assert {r["Status"] for r in rows} <= {"Open", "In progress", "Resolved"}
    assert guides(out["text"], "data") and events[-1].preview.counts


async def test_add_a_row_with_given_values(ctx, bugs):
    payload, _ = proposal(await converse(ctx, "add a row with title = Crash on save, priority = P0"))
    (op,) = payload["operations"]
    assert op["data"]["Title"] == "Crash on save" and op["data"]["Priority"] == "P0"


async def test_delete_where_finds_the_rows_first(ctx, bugs, engine):
    out = await converse(ctx, "delete the rows where Status is Resolved")
    assert out["names"] == ["query_rows", "propose_data"]
    payload, _ = proposal(out)
    resolved = await row_ids(
        engine,
        bugs.id,
        "data ->> (SELECT id::text FROM columns WHERE table_id = "
        "records.table_id AND name = 'Status') = 'Resolved'",
    )
    assert len(resolved) == 4
    assert payload["operations"] == [{"action": "delete", "row_id": i} for i in resolved]
    assert "4 rows where Status is Resolved" in out["text"] and guides(out["text"], "data")


async def test_set_where_updates_only_rows_that_change(ctx, bugs, bug_row, engine):
    out = await converse(ctx, "set Status to Resolved where Priority is P0")
    payload, _ = proposal(out)
    ids = await row_ids(engine, bugs.id)
    expected = [
        ids[n - 1]
        for n in range(1, 13)
        if bug_row(n)["Priority"] == "P0" and bug_row(n)["Status"] != "Resolved"
    ]
    assert [op["row_id"] for op in payload["operations"]] == expected
    assert all(op["changes"] == {"Status": "Resolved"} for op in payload["operations"])


async def test_set_for_all_rows_pages_through_a_big_table(ctx, make_bugs):
    t = await make_bugs(450)
    ctx.active_table_id = t.id
    out = await converse(ctx, "set Status to Open for all rows")
    assert out["names"] == ["query_rows", "query_rows", "query_rows", "propose_data"]
    assert [c[1].get("offset") for c in out["calls"][:3]] == [0, 200, 400]
    payload, _ = proposal(out)
    assert len(payload["operations"]) == 300  # a third of the rows are Open already


async def test_bad_condition_column_is_explained(ctx, bugs):
    out = await converse(ctx, "delete the rows where Colour is red")
    # the tool's error names the user's column, so it reaches the chat as inert markdown (md_text)
    assert out["names"] == ["query_rows"] and 'Unknown column \\"Colour\\"' in out["text"]


async def test_no_active_table_is_explained(ctx):
    out = await converse(ctx, "add 3 rows")
    assert out["names"] == ["get_table"] and "no active table" in out["text"]


async def test_fill_without_the_fill_tool_says_so(ctx, bugs):
    without = [t for t in TOOLS if t["name"] not in ("fill_column", "enrich_column")]
    out = await converse(ctx, "fill column Notes", without)
    assert out["names"] == ["get_table"] and "not available" in out["text"]


async def test_fill_calls_the_fill_tool_when_offered(ctx, bugs):
    from db import tables
    from db.schemas import ColumnCreate

    async with transaction(ctx.account_id, engine=ctx.engine) as conn:
        col = await tables.create_column(
            conn,
            bugs.id,
            ColumnCreate(
                name="Summary", type="text", ai={"prompt": "Summarize {Title}", "depends_on": ["Title"]}
            ),
        )
    fill = {"name": "fill_column", "description": "fill", "input_schema": {"type": "object"}}
    history = [user("fill column Summary for failed rows")]
    events = await stream(history, [*TOOLS, fill])
    table = (await run_tool(ctx, "get_table", events[-1].content[-1]["input"])).text()
    history += [
        {"role": "assistant", "content": events[-1].content},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": events[-1].content[-1]["id"], "content": table}
            ],
        },
    ]
    done = (await stream(history, [*TOOLS, fill]))[-1]
    call = done.content[-1]
    assert call["name"] == "fill_column"
    assert call["input"] == {"table_id": str(bugs.id), "column_id": str(col.id), "scope": "failed"}


async def test_describe_and_list_tables_use_the_stats(ctx, bugs):
    out = await converse(ctx, "describe the table")
    assert "12 rows" in out["text"] and "**Priority** (select, 12 filled" in out["text"]
    out = await converse(ctx, "list my tables")
    assert out["names"] == ["list_tables"] and "**Bugs** — 12 rows (active)" in out["text"]


async def test_user_text_in_replies_is_inert_markdown():
    """Names the user (or a table) supplied reach the chat through md_text: no links, images or markup."""
    done = (await stream([user("create a table called [click](evil) with name, email")]))[-1]
    text, payload = done.content[0]["text"], done.content[-1]["input"]
    assert payload["table_name"] == "[click](evil)" and "[click](evil)" not in text
    assert md_text("[click](evil)") in text
    table = {"id": "t1", "name": "**Loud**", "row_count": 1,
             "columns": [{"id": "c1", "name": "![img](http://host/ping)", "type": "text", "stats": {}}]}
    history = [user("remove column Colour"),
               {"role": "assistant", "content": [{"type": "tool_use", "id": "u1", "name": "get_table", "input": {}}]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "u1", "content": json.dumps(table)}]}]
    text = (await stream(history))[-1].content[0]["text"]
    assert "![img]" not in text and "**Loud**" not in text
    assert md_text("![img](http://host/ping)") in text and md_text("**Loud**") in text


async def test_usage_follows_the_prompt_size():
    small = (await stream([user("add 3 rows")]))[-1].usage["input_tokens"]
    big_history = [
        user("x" * 40_000),
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        user("add 3 rows"),
    ]
    big = (await stream(big_history))[-1].usage["input_tokens"]
    assert big - small >= 9_000
    json.dumps(big_history)


async def test_through_the_agent_loop(ctx, events, bugs):
    from agent.loop import run_turn
    from agent.sink import CollectingSink

    history: list[dict] = []
    sink = CollectingSink()
    turn = await run_turn(OfflineModel(), ctx, history, "add a column Severity (select)", sink)
    assert turn.stop == "awaiting_user" and turn.proposal == "update" and turn.error is None
    assert [name for _, name, _ in sink.of("tool_start")] == ["get_table", "propose_schema"]
    assert guides(sink.text, "update") and "Severity" in sink.text
    assert events[-1].kind == "schema_update"
    turn = await run_turn(
        OfflineModel(),
        ctx,
        history,
        '[User accepted the schema proposal and applied changes to "Bugs".]',
        CollectingSink(),
    )
    assert turn.stop == "done" and "new columns" in turn.text


async def test_a_table_built_by_talking_offline(ctx, events, engine):
    """Create → apply → add rows → apply → delete where → apply: what the user ends up with."""
    from db import records, tables
    from proposals.apply import apply

    async def accept():
        async with transaction(ctx.account_id, engine=engine) as conn:
            return await apply(conn, events[-1].proposal_id, account_id=ctx.account_id)

    await converse(ctx, "create a table of Italian restaurants in Chicago")
    created = await accept()
    assert created.status == "applied" and created.sample_rows == 3
    ctx.active_table_id = created.table_id
    out = await converse(ctx, "add 2 rows with Neighborhood = West Loop")
    assert out["names"] == ["get_table", "propose_data"]
    assert (await accept()).applied == 2
    out = await converse(ctx, "delete the rows where neighborhood is west loop")
    assert "3 rows where neighborhood is west loop" in out["text"]
    assert (await accept()).applied == 3
    async with transaction(ctx.account_id, engine=engine) as conn:
        table = await tables.get_table(conn, created.table_id)
        page = await records.list_records(conn, table)
    name = next(c for c in table.columns if c.name == "Name")
    assert sorted(r.cells[str(name.id)].value for r in page.items) == ["Piccolo Sogno", "RPM Italian"]
