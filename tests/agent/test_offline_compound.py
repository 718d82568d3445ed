"""The offline model with several requests in one message: they become ONE proposal with several
operations, checked by the real validator, stored and applied against real tables; schema and data
requests never share a proposal; the reply still guides the user to the buttons."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from agent import guidance
from agent.loop import run_turn
from agent.model import ModelRequest, TextDelta
from agent.offline import OfflineModel, parse_compound, parse_intent, split_request
from agent.sink import CollectingSink
from db import records
from db import tables as db_tables
from db.engine import transaction
from proposals.apply import apply
from tools.base import ProposalEvent
from tools.registry import run_tool, tool_definitions

TOOLS = tool_definitions()
TRIAGE = ("add a row Name=Foo, Status=Open; set Status to Resolved where Name is Bar; "
          "delete the rows where Name is Baz")


def user(text_: str) -> dict:
    return {"role": "user", "content": [{"type": "text", "text": text_}]}


def guides(text_: str, kind: str) -> bool:
    """SPEC §7: names both buttons, asks no permission, and the app would not have to add anything."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", text_) if s.strip()]
    return (
        guidance.names_buttons(text_, kind)
        and not any(guidance.asks_permission(s) for s in sentences)
        and guidance.enforce(text_, kind) == text_.strip()
    )


async def converse(ctx, text_: str) -> dict:
    """One user message through the offline model and the real tools, as the loop runs them."""
    history = [user(text_)]
    turns, calls, shown = [], [], []
    for _ in range(10):
        events = [e async for e in OfflineModel().stream(ModelRequest("system", history, TOOLS))]
        done = events[-1]
        shown.append("".join(e.text for e in events if isinstance(e, TextDelta)))
        history.append({"role": "assistant", "content": done.content})
        uses = [b for b in done.content if b["type"] == "tool_use"]
        if not uses:
            break
        turns.append([u["name"] for u in uses])
        results, ends = [], False
        for use in uses:
            result = await run_tool(ctx, use["name"], use["input"])
            calls.append((use["name"], use["input"], result))
            results.append({"type": "tool_result", "tool_use_id": use["id"], "content": result.text(),
                            **({"is_error": True} if result.is_error else {})})
            ends = ends or result.ends_turn
        history.append({"role": "user", "content": results})
        if ends:
            break
    return {"text": "\n\n".join(s for s in shown if s), "calls": calls, "names": [c[0] for c in calls],
            "turns": turns}


def proposed(out: dict) -> dict:
    name, payload, result = out["calls"][-1]
    assert name.startswith("propose_") and not result.is_error, result.text()
    return payload


def proposals_of(events) -> list[ProposalEvent]:
    return [e for e in events if isinstance(e, ProposalEvent)]


# -- reading a message ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("add a column Priority (select) and remove column Notes",
         ["add a column Priority (select)", "remove column Notes"]),
        ("rename Title to Summary, make Status required", ["rename Title to Summary", "make Status required"]),
        (TRIAGE,
         ["add a row Name=Foo, Status=Open", "set Status to Resolved where Name is Bar",
          "delete the rows where Name is Baz"]),
        ("Add a column Priority. Then remove column Notes.", ["Add a column Priority", "remove column Notes."]),
        ("- add 2 rows\n- delete row 3\n\n", ["add 2 rows", "delete row 3"]),
        ("1. make Status required\n2) rename Title to Name", ["make Status required", "rename Title to Name"]),
        # "and" / "," that do not start a new request stay inside it
        ("add a row with Name = Salt and Pepper", ["add a row with Name = Salt and Pepper"]),
        ("add a Severity column with options Low, Medium and High",
         ["add a Severity column with options Low, Medium and High"]),
        ("delete the rows where Status is Done", ["delete the rows where Status is Done"]),
    ],
)
def test_a_message_splits_into_its_requests(message, parts):
    assert split_request(message) == parts


def test_each_part_is_read_by_the_single_request_parser():
    clauses = parse_compound(TRIAGE)
    assert [i.kind for _, i in clauses] == ["add_rows", "set", "delete_rows"]
    assert clauses[0][1].args["values"] == {"Name": "Foo", "Status": "Open"}
    assert clauses[1][1].args["cond"].describe() == "Name is Bar"


@pytest.mark.parametrize(
    "message",
    [
        "add a row with Name = Foo, Make = Toyota",  # "Make" is a column here, not a request
        "set Notes to Fix and make sure it works",
        "add 3 rows",
        '[User accepted the schema proposal and applied changes to "Bugs"; and set it up]',
    ],
)
def test_a_message_that_is_one_request_is_not_split(message):
    assert parse_compound(message) is None


def test_values_joined_by_and_stay_one_value():
    assert parse_intent("add a row with Name = Salt and Pepper, Rating = 4").args["values"] == {
        "Name": "Salt and Pepper", "Rating": 4}


# -- schema requests ---------------------------------------------------------------------------------------


@pytest.fixture
async def bugs(ctx, make_bugs):
    t = await make_bugs(12)
    ctx.active_table_id = t.id
    return t


async def _accept(ctx, events, selected=None):
    async with transaction(ctx.account_id, engine=ctx.engine) as conn:
        return await apply(conn, proposals_of(events)[-1].proposal_id, selected, account_id=ctx.account_id)


async def _columns(ctx, table_id) -> dict:
    async with transaction(ctx.account_id, engine=ctx.engine) as conn:
        return {c.name: c for c in (await db_tables.get_table(conn, table_id)).columns}


async def test_add_and_remove_a_column_is_one_proposal_that_applies_both(ctx, events, bugs):
    ids = {c.name: str(c.id) for c in bugs.columns}
    out = await converse(ctx, "add a column Severity (select) and remove column Notes")
    assert out["turns"] == [["get_table"], ["propose_schema"]]
    payload = proposed(out)
    assert payload["operations"] == [
        {"action": "add", "column": {"name": "Severity", "type": "select", "options": ["Critical", "Major", "Minor"]}},
        {"action": "remove", "column_id": ids["Notes"]},
    ]
    (event,) = proposals_of(events)
    preview = event.preview
    assert event.kind == "schema_update" and preview.summary == "1 new column, 1 removed"
    states = {c.name: c.state for c in preview.columns}
    assert states["Severity"] == "added" and states["Notes"] == "removed" and states["Title"] == "unchanged"
    assert guides(out["text"], "update")
    assert "Severity" in out["text"] and "removing the column “Notes” (12 filled cells would be lost)" in out["text"]

    result = await _accept(ctx, events)
    assert result.status == "applied" and [r.ok for r in result.results] == [True, True]
    columns = await _columns(ctx, bugs.id)
    assert "Notes" not in columns and columns["Severity"].options == ["Critical", "Major", "Minor"]


async def test_changes_to_one_column_join_and_a_later_request_sees_the_rename(ctx, events, bugs):
    ids = {c.name: str(c.id) for c in bugs.columns}
    out = await converse(ctx, "rename Status to Stage, make Stage required and rename Title to Headline")
    payload = proposed(out)
    assert payload["operations"] == [
        {"action": "modify", "column_id": ids["Status"], "changes": {"name": "Stage", "required": True}},
        {"action": "modify", "column_id": ids["Title"], "changes": {"name": "Headline"}},
    ]
    assert guides(out["text"], "update")
    subtitles = {c.id: c.subtitle for c in proposals_of(events)[-1].preview.columns}
    assert subtitles[ids["Status"]] == "→ renamed: Stage · → required"
    await _accept(ctx, events)
    columns = await _columns(ctx, bugs.id)
    assert columns["Stage"].required and str(columns["Stage"].id) == ids["Status"]
    assert "Headline" in columns and "Title" not in columns


async def test_a_column_added_then_changed_in_the_same_message_is_added_as_changed(ctx, events, bugs):
    out = await converse(ctx, "add a column Effort (number); rename Effort to Estimate; change Estimate to text")
    assert proposed(out)["operations"] == [{"action": "add", "column": {"name": "Estimate", "type": "text"}}]
    await _accept(ctx, events)
    assert (await _columns(ctx, bugs.id))["Estimate"].type == "text"


async def test_a_part_that_names_no_column_is_left_out_and_said(ctx, events, bugs):
    out = await converse(ctx, "add a column Severity (select) and remove column Colour")
    assert [op["action"] for op in proposed(out)["operations"]] == ["add"]
    assert "Left out: “Bugs” has no column named “Colour”" in out["text"] and guides(out["text"], "update")


async def test_when_no_part_can_be_proposed_nothing_is_shown(ctx, events, bugs):
    out = await converse(ctx, "remove column Colour and remove column Size")
    assert out["names"] == ["get_table"] and proposals_of(events) == []
    assert "no column named “Colour”" in out["text"] and "no column named “Size”" in out["text"]


async def test_a_conflict_the_validator_finds_is_explained_not_shown(ctx, events, bugs):
    out = await converse(ctx, "add a column Owner and add a column Owner (number)")
    # the second part sees the first one's column, so only one add is proposed and the clash is said
    assert [op["column"]["name"] for op in proposed(out)["operations"]] == ["Owner"]
    assert "already has a column named “Owner”" in out["text"]
    out = await converse(ctx, "add a column Effort (number), make Effort required")
    assert out["calls"][-1][2].is_error and "cannot be required" in out["text"]
    assert len(proposals_of(events)) == 1


# -- data requests -----------------------------------------------------------------------------------------


async def _rows(ctx, table_id) -> dict[int, dict]:
    async with transaction(ctx.account_id, engine=ctx.engine) as conn:
        table = await db_tables.get_table(conn, table_id)
        page = await records.list_records(conn, table, limit=200)
    names = {str(c.id): c.name for c in table.columns}
    return {r.id: {names[k]: c.value for k, c in r.cells.items() if c.value is not None} for r in page.items}


async def test_add_update_and_delete_in_one_message_are_one_data_proposal(ctx, events, bugs, bug_row):
    before = await _rows(ctx, bugs.id)
    by_title = {r["Title"]: rid for rid, r in before.items()}
    out = await converse(ctx, "add a row Title=Crash on save, Status=Open; set Status to Resolved where Title is "
                              "Bug 1; delete the rows where Title is Bug 3")
    # the table and both sets of rows are looked up in one turn, then one proposal
    assert out["turns"] == [["get_table", "query_rows", "query_rows"], ["propose_data"]]
    payload = proposed(out)
    assert payload["operations"] == [
        {"action": "add", "data": {"Title": "Crash on save", "Status": "Open"}},
        {"action": "update", "row_id": by_title["Bug 1"], "changes": {"Status": "Resolved"}},
        {"action": "delete", "row_id": by_title["Bug 3"]},
    ]
    (event,) = proposals_of(events)
    assert event.kind == "data" and event.preview.counts == {"added": 1, "updated": 1, "deleted": 1}
    assert guides(out["text"], "data")
    for part in ("1 new row (Title = “Crash on save”, Status = “Open”)",
                 "setting Status to “Resolved” in 1 row where Title is Bug 1",
                 "deleting 1 row where Title is Bug 3"):
        assert part in out["text"]

    result = await _accept(ctx, events, selected=[0, 2])  # the update unchecked
    assert result.status == "applied" and [r.ok for r in result.results] == [True, True]
    after = await _rows(ctx, bugs.id)
    assert by_title["Bug 3"] not in after
    assert after[by_title["Bug 1"]] == before[by_title["Bug 1"]] and bug_row(1)["Status"] != "Resolved"
    (new,) = [r for rid, r in after.items() if rid not in before]
    assert new == {"Title": "Crash on save", "Status": "Open"}


async def test_a_deletion_wins_over_changes_to_the_same_rows(ctx, events, make_bugs, bug_row):
    t = await make_bugs(450)
    ctx.active_table_id = t.id
    out = await converse(ctx, "set Status to Open for all rows\ndelete the rows where Priority is P0")
    assert out["turns"] == [["get_table", "query_rows", "query_rows"], ["query_rows"], ["query_rows"],
                            ["propose_data"]]
    ops = proposed(out)["operations"]
    async with transaction(None, engine=ctx.engine) as conn:
        ids = list((await conn.execute(text("SELECT id FROM records WHERE table_id = :t ORDER BY id"),
                                       {"t": t.id})).scalars())
    rows = {rid: bug_row(n) for n, rid in enumerate(ids, start=1)}
    deletes = sorted(op["row_id"] for op in ops if op["action"] == "delete")
    updates = sorted(op["row_id"] for op in ops if op["action"] == "update")
    assert deletes == [rid for rid, r in rows.items() if r["Priority"] == "P0"]
    assert updates == [rid for rid, r in rows.items() if r["Priority"] != "P0" and r["Status"] != "Open"]
    assert len({op["row_id"] for op in ops}) == len(ops) == 112 + 225
    assert "75 rows are deleted, so the changes asked for there are not proposed" in out["text"]
    assert guides(out["text"], "data")


async def test_a_part_matching_no_rows_is_said_and_the_rest_proposed(ctx, events, bugs):
    out = await converse(ctx, "add 2 rows and delete the rows where Title is Nothing like this")
    assert [op["action"] for op in proposed(out)["operations"]] == ["add", "add"]
    assert "No rows match “Title is Nothing like this”" in out["text"] and guides(out["text"], "data")


async def test_two_additions_number_their_example_rows_on(ctx, bugs):
    out = await converse(ctx, "add 2 rows, add 1 row")
    titles = [op["data"]["Title"] for op in proposed(out)["operations"]]
    assert titles == ["New Bug 13", "New Bug 14", "New Bug 15"]


# -- kinds that must not share a proposal ------------------------------------------------------------------


async def test_schema_first_then_data_proposes_the_schema_part_and_says_why(ctx, events, bugs):
    out = await converse(ctx, "add a column Severity (select) and delete the rows where Status is Resolved")
    assert out["names"] == ["get_table", "propose_schema"]  # the rows are not even looked up
    assert [e.kind for e in proposals_of(events)] == ["schema_update"]
    assert "must be separate proposals" in out["text"]
    assert "“delete the rows where Status is Resolved” again once you have applied or dismissed it" in out["text"]
    assert guides(out["text"], "update")


async def test_data_first_then_schema_proposes_the_data_part(ctx, events, bugs):
    out = await converse(ctx, "delete the rows where Status is Resolved; rename Title to Headline")
    assert [e.kind for e in proposals_of(events)] == ["data"]
    assert {op["action"] for op in proposed(out)["operations"]} == {"delete"}
    assert "holds only the row changes" in out["text"] and "“rename Title to Headline”" in out["text"]
    assert guides(out["text"], "data")


async def test_a_new_table_with_more_requests_does_the_first_and_names_the_rest(ctx, events):
    out = await converse(ctx, "create a table of books and add 3 rows")
    assert out["names"] == ["propose_schema"]
    assert proposed(out)["table_name"] == "Books"
    assert "send “add 3 rows” once this is done" in out["text"] and guides(out["text"], "create")


async def test_an_unreadable_part_is_named_and_nothing_changes(ctx, events, bugs):
    out = await converse(ctx, "frobnicate the table; remove column Notes")
    assert out["names"] == [] and proposals_of(events) == []
    assert out["text"].startswith("I couldn't understand “frobnicate the table”, so I haven't changed anything.")


async def test_through_the_agent_loop(ctx, events, bugs):
    history: list[dict] = []
    sink = CollectingSink()
    turn = await run_turn(OfflineModel(), ctx, history,
                          "add a row Title=Flaky test; set Priority to P0 where Title is Bug 2", sink)
    assert turn.stop == "awaiting_user" and turn.proposal == "data" and turn.error is None
    assert [name for _, name, _ in sink.of("tool_start")] == ["get_table", "query_rows", "propose_data"]
    assert guides(turn.text, "data") and "1 new row (Title = “Flaky test”)" in turn.text
    (event,) = proposals_of(events)
    assert event.preview.counts == {"added": 1, "updated": 1, "deleted": 0}
