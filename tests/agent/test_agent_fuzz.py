"""Fuzzed propose_schema / propose_data inputs (hypothesis) against a real table: through `run_tool` and
through the agent loop with a scripted model. Nothing raises; an invalid payload comes back to the model as
an is_error tool result naming the problem and is never shown; every proposal that is shown renders."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import pytest
from fakes.agent_kit import ScriptedModel, assert_valid_history, text, tool_use, turn
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from agent.loop import run_turn
from agent.sink import CollectingSink
from db import accounts, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from proposals.payloads import MAX_DATA_OPS, MAX_SCHEMA_OPS, TEXT_MAX
from proposals.preview import PAGE_SIZE, Preview
from tools.base import ProposalEvent, ToolContext, ToolResult
from tools.registry import run_tool

FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

STATUS = ["Open", "In progress", "Resolved"]
TAGS = ["ui", "api", "db"]
COLUMNS = [
    ColumnCreate(name="Title", type="text", required=True),
    ColumnCreate(name="Status", type="select", options=STATUS),
    ColumnCreate(name="Points", type="number"),
    ColumnCreate(name="Tags", type="multi_select", options=TAGS),
    ColumnCreate(name="Due", type="date"),
    ColumnCreate(name="Notes", type="long_text"),
]
ROWS = [{"Title": f"Bug {n}", "Status": STATUS[n % 3], "Points": n, "Tags": [TAGS[n % 3]], "Due": f"2026-01-1{n}"}
        for n in range(1, 7)]

# what Proposal.jsx reads from its props (app.py passes the preview as it is, plus the user's choices)
PREVIEW_KEYS = {"kind", "proposal_id", "status", "table_name", "table_description", "renamed_from", "reasoning",
                "summary", "columns", "rows", "counts", "total_ops", "total_rows", "page", "pages",
                "has_sample_rows", "research_log", "results"}
COLUMN_KEYS = {"key", "name", "type", "required", "ai_prompt", "state", "subtitle", "moved", "op", "ops"}
ROW_KEYS = {"id", "state", "op", "cells", "changes"}


class Shown(list):
    """What the tools emitted for the UI."""

    async def __call__(self, event: object) -> None:
        self.append(event)


@pytest.fixture(scope="module")
async def setup(engine):
    """An account, a workspace and a bug table with six rows; a tool context in it that collects events."""
    async with transaction(None, engine=engine) as conn:
        account = await accounts.create_account(conn, name=f"fuzz{uuid.uuid4().hex[:8]}", password="pw-fuzz1")
        workspace = (await accounts.create_workspace(conn, owner_id=account))["id"]
    async with transaction(account, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=workspace, name="Bugs", description="", columns=COLUMNS)
        row_ids = await records.create_records(conn, table, ROWS)
    shown = Shown()
    ctx = ToolContext(account_id=account, workspace_id=workspace, thread_id=f"fuzz-{workspace}",
                      active_table_id=table.id, engine=engine, emit=shown)
    return {"ctx": ctx, "shown": shown, "table": table, "rows": row_ids,
            "columns": {c.name: str(c.id) for c in table.columns}}


# -- payloads ---------------------------------------------------------------------------------------------

CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")  # NUL: a defect
WORDS = st.text(CHARS, min_size=1, max_size=40)
NAME = WORDS.filter(lambda s: s.strip())
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)


def value_for(column: str) -> st.SearchStrategy:
    """Values that fit a column of the table."""
    return {
        "Title": NAME,
        "Status": st.sampled_from(STATUS),
        "Points": st.integers(-(10**6), 10**6) | st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
        "Tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
        "Due": st.dates().map(lambda d: d.isoformat()),
        "Notes": st.text(CHARS, max_size=300),
    }[column]


def row_values(required: bool) -> st.SearchStrategy:
    """A new row's values (with its required Title), or some of a row's values to change."""
    optional = ["Status", "Points", "Tags", "Due", "Notes"]
    keys = st.lists(st.sampled_from(optional), unique=True, min_size=0 if required else 1)
    return keys.flatmap(lambda ks: st.fixed_dictionaries(
        {**({"Title": value_for("Title")} if required else {}), **{k: value_for(k) for k in ks}}))


@st.composite
def data_payloads(draw, rows: list[int]) -> dict:
    """A propose_data input that is valid for the table (one operation per existing row)."""
    targets = draw(st.lists(st.sampled_from(rows), unique=True, max_size=len(rows)))
    ops: list[dict] = [{"action": "add", "data": d} for d in draw(st.lists(row_values(True), max_size=4))]
    for rid in targets:
        if draw(st.booleans()):
            ops.append({"action": "delete", "row_id": rid})
        else:
            ops.append({"action": "update", "row_id": rid, "changes": draw(row_values(False))})
    if not ops:
        ops.append({"action": "delete", "row_id": draw(st.sampled_from(rows))})
    payload: dict[str, Any] = {"reasoning": draw(st.text(CHARS, max_size=200)), "operations": draw(st.permutations(ops))}
    if draw(st.booleans()):
        payload["research_log"] = draw(st.lists(
            st.text(CHARS, max_size=50) | st.fixed_dictionaries({}, optional={"query": st.text(CHARS, max_size=30),
                                                                      "source": st.text(CHARS, max_size=30),
                                                                      "note": st.text(CHARS, max_size=30)}),
            max_size=3))
    return payload


NEW_NAME = st.from_regex(r"\A[A-Z][a-z]{2,12}( [a-z]{1,8})?\Z").map(lambda s: f"New {s}")
NEW_COLUMN = st.one_of(
    st.fixed_dictionaries({"name": NEW_NAME, "type": st.sampled_from(["text", "long_text", "number", "boolean",
                                                                      "date", "url", "email", "json"])}),
    st.fixed_dictionaries({"name": NEW_NAME, "type": st.sampled_from(["select", "multi_select"]),
                           "options": st.lists(NAME, min_size=1, max_size=5)},
                          optional={"filterDisplay": st.just("tab")}),
)


@st.composite
def schema_payloads(draw, columns: dict[str, str]) -> dict:
    """A propose_schema input that is valid: a new table, or changes to the bug table's columns."""
    adds = draw(st.lists(NEW_COLUMN, min_size=0, max_size=4, unique_by=lambda c: c["name"].casefold()))
    if draw(st.booleans()):
        adds = adds or [draw(NEW_COLUMN)]
        return {"mode": "create", "table_name": draw(NAME), "table_description": draw(st.text(CHARS, max_size=100)),
                "reasoning": draw(st.text(CHARS, max_size=100)),
                "operations": [{"action": "add", "column": c} for c in adds],
                "sample_rows": [{adds[0]["name"]: None}] if draw(st.booleans()) else []}
    ops: list[dict] = [{"action": "add", "column": c} for c in adds]
    taken = {c["name"].casefold() for c in adds}
    chosen = draw(st.lists(st.sampled_from(sorted(columns)), unique=True, max_size=4))
    actions = {name: draw(st.sampled_from(["modify", "remove", "reorder"])) for name in chosen}
    kept = sorted(columns[n] for n in columns if actions.get(n) != "remove")
    for name, action in actions.items():
        if action == "remove":
            ops.append({"action": "remove", "column_id": columns[name]})
        elif action == "reorder":  # by id or by name, after a column that stays (or to the front)
            after = [c for c in kept if c != columns[name]]
            ops.append({"action": "reorder", "column_id": draw(st.sampled_from([columns[name], name])),
                        "after_column_id": draw(st.none() | st.sampled_from(after))})
        else:
            new = draw(NEW_NAME.filter(lambda n: n.casefold() not in taken))
            taken.add(new.casefold())
            ops.append({"action": "modify", "column_id": columns[name], "changes": {"name": new}})
    if not ops:
        ops.append({"action": "add", "column": draw(NEW_COLUMN)})
    return {"mode": "update", "reasoning": draw(st.text(CHARS, max_size=100)), "operations": draw(st.permutations(ops))}


def _broken_data(payload: dict, defect: str, rows: list[int]) -> tuple[Any, str]:
    """The payload with one known defect, and a word the error must name."""
    ops = payload["operations"]
    add = {"action": "add", "data": {"Title": "Bug x"}}
    if defect == "unknown column":
        return {**payload, "operations": [*ops, {"action": "add", "data": {"Title": "x", "Colour": "red"}}]}, "Colour"
    if defect == "option not in list":
        return {**payload, "operations": [*ops, {"action": "add", "data": {"Title": "x", "Status": "Maybe"}}]}, "Maybe"
    if defect == "bad number":
        return {**payload, "operations": [*ops, {"action": "add", "data": {"Title": "x", "Points": "lots"}}]}, "Points"
    if defect == "nested junk":
        return {**payload, "operations": [*ops, {"action": "add", "data": {"Title": {"a": [1, {"b": []}]}}}]}, "Title"
    if defect == "missing required":
        return {**payload, "operations": [*ops, {"action": "add", "data": {"Status": "Open"}}]}, "Title"
    if defect == "unknown row":
        return {**payload, "operations": [*ops, {"action": "delete", "row_id": 987654321}]}, "987654321"
    if defect == "row twice":
        return {**payload, "operations": [{"action": "delete", "row_id": rows[0]},
                                          {"action": "update", "row_id": rows[0], "changes": {"Points": 1}}]}, \
            "one operation per row"
    if defect == "row_id not a number":
        return {**payload, "operations": [*ops, {"action": "delete", "row_id": "first"}]}, "row_id"
    if defect == "missing row_id":
        return {**payload, "operations": [*ops, {"action": "update", "changes": {"Points": 1}}]}, "row_id"
    if defect == "unknown action":
        return {**payload, "operations": [*ops, {"action": "upsert", "data": {"Title": "x"}}]}, "action"
    if defect == "huge reasoning":
        return {**payload, "reasoning": "x" * (TEXT_MAX + 1)}, "reasoning"
    if defect == "huge value list":
        return {**payload, "operations": [*ops, {"action": "add", "data": {f"c{i}": i for i in range(501)}}]}, "data"
    if defect == "no operations":
        return {k: v for k, v in payload.items() if k != "operations"}, "operations"
    if defect == "empty operations":
        return {**payload, "operations": []}, "operations"
    if defect == "operations not a list":
        return {**payload, "operations": {"0": add}}, "operations"
    if defect == "extra field":
        return {**payload, "colour": "red"}, "colour"
    if defect == "unknown table":
        return {**payload, "table_id": str(uuid.uuid4())}, "table_id"
    if defect == "NUL in a value":  # PostgreSQL cannot store it in JSON
        return {**payload, "operations": [*ops, {"action": "add", "data": {"Title": "a\x00b"}}]}, "NUL"
    raise AssertionError(defect)


DATA_DEFECTS = ["unknown column", "option not in list", "bad number", "nested junk", "missing required",
                "unknown row", "row twice", "row_id not a number", "missing row_id", "unknown action",
                "huge reasoning", "huge value list", "no operations", "empty operations",
                "operations not a list", "extra field", "unknown table", "NUL in a value"]


def _broken_schema(payload: dict, defect: str, columns: dict[str, str]) -> tuple[Any, str]:
    ops = payload["operations"]
    if defect == "unknown column":
        return {**payload, "mode": "update", "operations": [{"action": "remove", "column_id": "Colour"}]}, "Colour"
    if defect == "select without options":
        return {**payload, "operations": [*ops, {"action": "add", "column": {"name": "Mood", "type": "select"}}]}, \
            "Mood"
    if defect == "options on a number":
        return {**payload, "operations": [*ops, {"action": "add", "column": {"name": "Size", "type": "number",
                                                                             "options": ["S"]}}]}, "Size"
    if defect == "unknown type":
        return {**payload, "operations": [*ops, {"action": "add", "column": {"name": "Hue", "type": "colour"}}]}, \
            "type"
    if defect == "huge name":
        return {**payload, "operations": [*ops, {"action": "add", "column": {"name": "N" * 201}}]}, "name"
    if defect == "blank name":
        return {**payload, "operations": [*ops, {"action": "add", "column": {"name": "   "}}]}, "name"
    if defect == "no mode":
        return {k: v for k, v in payload.items() if k != "mode"}, "mode"
    if defect == "create without a name":
        return {"mode": "create", "operations": [{"action": "add", "column": {"name": "A"}}]}, "table_name"
    if defect == "create with a removal":
        return {"mode": "create", "table_name": "T", "operations": [
            {"action": "add", "column": {"name": "A"}}, {"action": "remove", "column_id": "A"}]}, "add"
    if defect == "empty changes":
        return {"mode": "update", "operations": [
            {"action": "modify", "column_id": columns["Notes"], "changes": {}}]}, "changes"
    if defect == "null name":
        return {"mode": "update", "operations": [
            {"action": "modify", "column_id": columns["Notes"], "changes": {"name": None}}]}, "name"
    if defect == "name taken":
        return {"mode": "update", "operations": [{"action": "add", "column": {"name": "status"}}]}, "status"
    if defect == "required on empty cells":
        return {"mode": "update", "operations": [
            {"action": "modify", "column_id": columns["Notes"], "changes": {"required": True}}]}, "Notes"
    if defect == "too many operations":
        return {"mode": "update", "operations": [{"action": "add", "column": {"name": f"C{i}"}}
                                                 for i in range(MAX_SCHEMA_OPS + 1)]}, "operations"
    if defect == "sample row with an unknown column":
        return {"mode": "create", "table_name": "T", "operations": [{"action": "add", "column": {"name": "A"}}],
                "sample_rows": [{"B": 1}]}, "B"
    if defect == "after an unknown column":
        return {"mode": "update", "operations": [
            {"action": "add", "column": {"name": "Z"}, "after_column_id": "Nowhere"}]}, "Nowhere"
    if defect == "operations not a list":
        return {**payload, "operations": "add a column"}, "operations"
    if defect == "NUL in a name":
        return {**payload, "operations": [*ops, {"action": "add", "column": {"name": "Mo\x00od"}}]}, "NUL"
    raise AssertionError(defect)


SCHEMA_DEFECTS = ["unknown column", "select without options", "options on a number", "unknown type", "huge name",
                  "blank name", "no mode", "create without a name", "create with a removal", "empty changes",
                  "null name", "name taken", "required on empty cells", "too many operations",
                  "sample row with an unknown column", "after an unknown column", "operations not a list",
                  "NUL in a name"]


@st.composite
def cases(draw, setup: dict) -> tuple[str, Any, str | None]:
    """(tool, input, None when the input is valid, else a word its error must name)."""
    tool = draw(st.sampled_from(["propose_data", "propose_schema"]))
    if tool == "propose_data":
        payload = draw(data_payloads(setup["rows"]))
        kind = draw(st.sampled_from(["valid", "defect", "junk"]))
        if kind == "defect":
            return (tool, *_broken_data(payload, draw(st.sampled_from(DATA_DEFECTS)), setup["rows"]))
    else:
        payload = draw(schema_payloads(setup["columns"]))
        kind = draw(st.sampled_from(["valid", "defect", "junk"]))
        if kind == "defect":
            return (tool, *_broken_schema(payload, draw(st.sampled_from(SCHEMA_DEFECTS)), setup["columns"]))
    if kind == "junk":  # anything at all: a valid payload by chance is fine, so nothing is expected of it
        return tool, draw(JUNK | st.dictionaries(st.sampled_from(["mode", "operations", "table_id", "reasoning",
                                                                    "research_log", "sample_rows", "x"]),
                                                   JUNK, max_size=5)), "?"
    return tool, payload, None


# -- checks -----------------------------------------------------------------------------------------------


def assert_renders(event: ProposalEvent, tool_input: dict) -> None:
    """The preview passes the preview model and carries every key Proposal.jsx reads, consistently."""
    props = event.preview.model_dump(mode="json")
    json.dumps(props, allow_nan=False)  # it goes to the browser as JSON
    Preview.model_validate(props)
    assert PREVIEW_KEYS <= props.keys(), PREVIEW_KEYS - props.keys()
    assert props["kind"] == event.kind and props["proposal_id"] == str(event.proposal_id)
    assert props["status"] == "pending" and props["results"] == []
    total = props["total_ops"]
    assert total == len(tool_input["operations"]) == len(event.payload["operations"])
    keys = [c["key"] for c in props["columns"]]
    assert len(keys) == len(set(keys)) and props["summary"]
    for c in props["columns"]:
        assert COLUMN_KEYS <= c.keys() and c["name"].strip()
        assert all(0 <= op < total for op in c["ops"] + ([c["op"]] if c["op"] is not None else []))
    ops_shown = []
    for r in props["rows"]:
        assert ROW_KEYS <= r.keys()
        assert set(r["cells"]) <= set(keys) and all(isinstance(v, str) for v in r["cells"].values())
        assert set(r["changes"]) <= set(keys)
        assert all(isinstance(ch["new"], str) and isinstance(ch["was"], str) for ch in r["changes"].values())
        if r["op"] is not None:
            ops_shown.append(r["op"])
    if event.kind == "data":
        assert len(ops_shown) == len(set(ops_shown)) == min(total, PAGE_SIZE)
        assert sum(props["counts"].values()) == total
    elif event.kind == "schema_create":
        assert len(props["columns"]) == total
    else:
        added = [c for c in props["columns"] if c["state"] == "added"]
        assert len(added) == sum(op["action"] == "add" for op in tool_input["operations"])


def assert_names_problem(result: ToolResult, needle: str | None) -> None:
    said = result.text()
    assert result.is_error and not result.ends_turn
    assert said.startswith("Error: ") and len(said) > 20, said
    if needle and needle != "?":
        assert needle.casefold() in said.casefold(), (needle, said)


# -- run_tool ---------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
async def test_run_tool_never_raises_refuses_with_reasons_and_shows_only_what_renders(setup, data):
    tool, tool_input, needle = data.draw(cases(setup))
    shown = setup["shown"]
    before = len(shown)
    result = await run_tool(setup["ctx"], tool, tool_input)
    assert isinstance(result, ToolResult)
    tally(f"{tool}: {'refused' if result.is_error else 'shown'}")  # the mix, in --hypothesis-show-statistics
    emitted = shown[before:]
    if result.is_error:
        assert needle is not None, f"a valid input was refused: {result.text()}"
        assert_names_problem(result, needle)
        assert emitted == []
    else:
        assert needle in (None, "?"), f"an input with a defect ({needle}) was shown"
        (event,) = emitted
        assert isinstance(event, ProposalEvent) and result.ends_turn
        assert_renders(event, tool_input)


async def test_ten_thousand_and_one_operations_are_refused_by_count(setup):
    ops = [{"action": "add", "data": {"Title": f"Row {i}"}} for i in range(MAX_DATA_OPS + 1)]
    before = len(setup["shown"])
    result = await run_tool(setup["ctx"], "propose_data", {"operations": ops})
    assert_names_problem(result, "operations")
    assert "10000" in result.text().replace(",", "")
    assert len(setup["shown"]) == before
    ok = await run_tool(setup["ctx"], "propose_data", {"operations": ops[:MAX_DATA_OPS]})
    assert not ok.is_error, ok.text()
    assert_renders(setup["shown"][-1], {"operations": ops[:MAX_DATA_OPS]})
    assert setup["shown"][-1].preview.pages == math.ceil(MAX_DATA_OPS / PAGE_SIZE)


# -- the loop ---------------------------------------------------------------------------------------------


def _as_text_block(tool: str, tool_input: Any, cut: bool) -> str:
    marker = "SCHEMA_PROPOSAL" if tool == "propose_schema" else "DATA_PROPOSAL"
    block = json.dumps(tool_input)
    return f"Here is the proposal.\n\n{marker}: {block[: len(block) // 2] if cut else block}"


async def _through_the_loop(setup: dict, tool: str, tool_input: Any, how: str) -> tuple:
    if how == "tool_use":
        first = turn(text("I've proposed it: click **Apply** or **Dismiss**."),
                     tool_use(tool, tool_input, id="toolu_fuzz_1"))
    else:
        first = turn(text(_as_text_block(tool, tool_input, cut=how == "cut text block")))
    model = ScriptedModel(first, turn(text("That did not work; nothing was changed.")))
    sink, history = CollectingSink(), []
    before = len(setup["shown"])
    result = await run_turn(model, setup["ctx"], history, "change the bugs", sink, tools=[])
    return model, sink, history, result, setup["shown"][before:]


@FUZZ
@given(data=st.data())
async def test_the_loop_never_raises_and_hands_every_problem_back_to_the_model(setup, data):
    tool, tool_input, needle = data.draw(cases(setup))
    how = data.draw(st.sampled_from(["tool_use", "text block", "cut text block"]
                                    if isinstance(tool_input, dict) else ["tool_use"]))
    if how == "cut text block":
        needle = "incomplete"
    model, sink, history, result, emitted = await _through_the_loop(setup, tool, tool_input, how)
    assert result.error is None
    assert_valid_history(history)
    (ended,) = sink.of("tool_end")
    tool_result = ended[2]
    if tool_result.is_error:
        assert needle is not None, f"a valid input was refused: {tool_result.text()}"
        assert_names_problem(tool_result, needle)
        assert emitted == [] and result.proposal is None and result.stop == "done"
        # the model is asked again, with the problem as an is_error tool_result
        assert len(model.requests) == 2
        (answer,) = [b for b in model.requests[1].messages[-1]["content"] if b["type"] == "tool_result"]
        assert answer["is_error"] is True and answer["content"] == tool_result.text()
        assert "PROPOSAL" not in sink.text and "{" not in sink.text  # no payload reaches the reply
    else:
        assert needle in (None, "?"), f"an input with a defect ({needle}) was shown"
        (event,) = emitted
        assert result.stop == "awaiting_user" and len(model.requests) == 1
        assert result.proposal == {"schema_create": "create", "schema_update": "update"}.get(event.kind, "data")
        assert_renders(event, tool_input)


async def test_ten_thousand_and_one_operations_through_the_loop(setup):
    ops = [{"action": "delete", "row_id": setup["rows"][0]}] * (MAX_DATA_OPS + 1)
    model, sink, history, result, emitted = await _through_the_loop(
        setup, "propose_data", {"operations": ops}, "tool_use")
    assert emitted == [] and result.stop == "done" and result.error is None and len(model.requests) == 2
    assert_valid_history(history)
    (ended,) = sink.of("tool_end")
    assert_names_problem(ended[2], "operations")
    assert sink.text.endswith("That did not work; nothing was changed.")
