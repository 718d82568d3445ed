"""What the user is shown while a turn runs is only what is true when it ends: text before a proposal that
failed goes, permission questions the end of the turn would cut never appear, retry notices pass."""

from __future__ import annotations

from fakes.agent_kit import ScriptedModel, Sleeps, Tools, assert_valid_history, text, tool_use, turn

from agent.loop import RetryPolicy, run_turn
from agent.model import ModelError
from agent.sink import CollectingSink
from tools.base import ToolResult

TOOLS = [{"name": "propose_schema", "description": "d", "input_schema": {"type": "object"}}]


async def ask(model, tools, message="hi", retry=None):
    sink = CollectingSink()
    result = await run_turn(model, None, [], message, sink, tool_runner=tools, tools=TOOLS,
                            retry=retry or RetryPolicy(sleep=Sleeps()))
    return result, sink


def everything_shown(sink: CollectingSink) -> list[str]:
    """Every state of the reply the user saw, one per event."""
    states, now = [], ""
    for kind, payload in sink.events:
        if kind == "text":
            now += payload
        elif kind == "replace":
            now = payload
        else:
            continue
        states.append(now)
    return states


def refusing_first_proposal():
    attempts = []

    def propose(tool_input):
        attempts.append(tool_input)
        if len(attempts) == 1:
            return ToolResult("Error: operations.0.column.type: Input should be 'text' or 'number'", is_error=True)
        return ToolResult({"proposal_id": "p1"}, ends_turn=True)

    return Tools(propose_schema=propose)


async def test_text_before_a_proposal_that_failed_is_taken_back_and_the_repair_reads_as_one_reply():
    first = "I've designed a Books table with 4 columns. You can see it in the preview above."
    second = "I've designed a Books table with 4 columns. Click **Create Table** or **Dismiss**."
    model = ScriptedModel(
        turn(text(first), tool_use("propose_schema", {"mode": "create", "table_name": "Books", "x": 1}, "toolu_1")),
        turn(text(second), tool_use("propose_schema", {"mode": "create", "table_name": "Books"}, "toolu_2")))
    result, sink = await ask(model, refusing_first_proposal(), "a table of books")
    assert result.stop == "awaiting_user" and result.proposal == "create"
    assert sink.text == result.text == second  # said once, not twice
    assert first in everything_shown(sink)  # it streamed, and was then taken back with the failure
    kinds = [k for k, _ in sink.events]
    second_start = kinds.index("tool_start", kinds.index("tool_end"))
    assert kinds.index("tool_end") < sink.events.index(("replace", "")) < second_start  # gone with the failure
    # the model still sees what it wrote, and the error, so it can repair the call
    assert model.requests[1].messages[1]["content"][0] == text(first)
    assert model.requests[1].messages[2]["content"][0]["is_error"] is True
    assert_valid_history(result.history)


async def test_text_before_a_tool_that_failed_without_proposing_stays():
    model = ScriptedModel(turn(text("Let me look."), tool_use("list_tables", {}, "toolu_l")),
                          turn(text("That did not work.")))
    _result, sink = await ask(model, Tools(list_tables=lambda _: ToolResult("Error: no", is_error=True)))
    assert sink.text == "Let me look.\n\nThat did not work."


async def test_a_permission_question_is_never_shown_when_the_turn_ends_with_a_proposal():
    model = ScriptedModel(turn(
        text("I've designed a Books table with a title and an author. Would you like me to proceed? "
             "It has no sample rows."),
        tool_use("propose_schema", {"mode": "create", "table_name": "Books"})))
    tools = Tools(propose_schema=lambda _: ToolResult({"proposal_id": "p1"}, ends_turn=True))
    result, sink = await ask(model, tools, "a table of books")
    assert result.proposal == "create"
    assert not any("Would you like" in shown for shown in everything_shown(sink))
    assert any("It has no sample rows." in shown for shown in everything_shown(sink)[:-1])  # streamed on
    assert "**Create Table**" in sink.text and "?" not in sink.text


async def test_a_permission_question_is_shown_at_the_end_when_no_proposal_was_made():
    reply = "There are 3 tables. Shall I look into the biggest one?"
    model = ScriptedModel(turn(text(reply)))
    result, sink = await ask(model, Tools())
    assert sink.text == result.text == reply
    states = everything_shown(sink)
    assert states[0] == "There are 3 tables." and states[-1] == reply
    assert [s for s in states if "Shall I" in s] == [reply]  # it appears once, whole, at the end


async def test_busy_notices_go_away_once_the_call_succeeds():
    busy = ModelError("Overloaded", retryable=True, status=529, kind="overloaded_error")
    model = ScriptedModel(busy, busy, turn(text("Here you are.")))
    result, sink = await ask(model, Tools())
    assert result.stop == "done" and sink.text == "Here you are."
    said = [s for s in sink.of("status") if s]
    assert len(said) == 2 and all("Claude is busy; trying again" in s for s in said)
    assert sink.status is None and sink.of("status")[-1] is None  # nothing left on screen
    assert sink.of("notice") == []  # notices stay in the chat: a retry is not one


async def test_when_retries_run_out_the_status_goes_and_the_error_stays():
    busy = ModelError("Overloaded", retryable=True, status=529, kind="overloaded_error")
    model = ScriptedModel(*[busy] * 4)
    result, sink = await ask(model, Tools())
    assert result.stop == "error" and sink.status is None
    assert sink.of("error") == ["Claude is overloaded right now; please try again in a minute."]
    kinds = [k for k, _ in sink.events]
    assert kinds.index("error") > len(kinds) - 1 - kinds[::-1].index("status")  # cleared before the error
