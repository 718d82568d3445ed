"""The tool-use loop with a scripted model: streaming, tools, stop reasons, retries, a history that stays valid."""

from __future__ import annotations

import asyncio
import json

import pytest
from fakes.agent_kit import ScriptedModel, Sleeps, Tools, assert_valid_history, text, tool_use, turn

from agent.loop import RetryPolicy, TurnResult, repair, run_turn
from agent.model import ModelError, TextDelta
from agent.sink import CollectingSink
from tools.base import ToolResult

TOOLS = [{"name": "list_tables", "description": "d", "input_schema": {"type": "object"}}]


async def ask(model, history, message="hi", tools=None, sink=None, **kwargs) -> tuple[TurnResult, CollectingSink]:
    sink = sink or CollectingSink()
    kwargs.setdefault("retry", RetryPolicy(sleep=Sleeps()))
    result = await run_turn(model, None, history, message, sink, tool_runner=tools or Tools(), tools=TOOLS,
                            **kwargs)
    return result, sink


async def test_text_streams_to_the_sink_and_the_history_keeps_the_turn():
    model = ScriptedModel(turn(text("Hello! I can build tables for you.")))
    history: list[dict] = []
    result, sink = await ask(model, history, "hi")
    assert len(sink.of("text")) > 1  # streamed in pieces, not at the end
    assert sink.text == result.text == "Hello! I can build tables for you."
    assert result.stop == "done" and result.model_calls == 1
    assert history == [{"role": "user", "content": [text("hi")]},
                       {"role": "assistant", "content": [text("Hello! I can build tables for you.")]}]
    assert model.requests[0].tools == TOOLS and "tablechat" in model.requests[0].system


async def test_text_and_tool_use_in_one_turn_then_the_answer():
    call = tool_use("list_tables", {})
    model = ScriptedModel(turn(text("Let me look."), call), turn(text("You have no tables yet.")))
    tools = Tools(list_tables=lambda _: {"tables": []})
    result, sink = await ask(model, [], "what tables do I have?", tools)
    assert tools.calls == [("list_tables", {})]
    assert sink.of("tool_start") == [(call["id"], "list_tables", {})]
    assert sink.of("tool_end")[0][2].content == {"tables": []}
    assert sink.text == "Let me look.\n\nYou have no tables yet."
    second = model.requests[1].messages
    assert second[-1] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call["id"], "content": '{"tables":[]}'}]}
    assert_valid_history(result.history)
    assert result.tool_calls == 1 and result.usage == {"input_tokens": 20, "output_tokens": 10}


async def test_two_tool_calls_are_answered_in_one_user_turn_and_a_failure_is_an_error_result():
    a, b = tool_use("get_table", {"table_id": "t1"}, "toolu_a"), tool_use("query_rows", {"table_id": "t1"}, "toolu_b")

    def broken(_):
        raise RuntimeError("database went away")

    model = ScriptedModel(turn(a, b), turn(text("Done.")))
    result, _ = await ask(model, [], "look", Tools(query_rows=broken))
    answer = model.requests[1].messages[-1]
    assert answer["role"] == "user"
    assert [r["tool_use_id"] for r in answer["content"]] == ["toolu_a", "toolu_b"]
    assert "is_error" not in answer["content"][0]
    assert answer["content"][1]["is_error"] is True
    assert "database went away" in answer["content"][1]["content"]
    assert_valid_history(result.history)


async def test_a_proposal_ends_the_turn_and_the_text_names_the_buttons_without_asking():
    propose = tool_use("propose_schema", {"mode": "create", "table_name": "Books"})
    model = ScriptedModel(turn(text("I've designed a Books table. Would you like me to proceed?"), propose))
    tools = Tools(propose_schema=lambda _: ToolResult({"proposal_id": "p1"}, ends_turn=True))
    result, sink = await ask(model, [], "a table of books", tools)
    assert len(model.requests) == 1  # no further call: the user decides on the buttons
    assert result.stop == "awaiting_user" and result.proposal == "create"
    assert "**Create Table**" in sink.text and "**Dismiss**" in sink.text
    assert "?" not in sink.text and "Would you like" not in sink.text
    assert sink.text.startswith("I've designed a Books table.")
    assert_valid_history(result.history)
    assert result.history[-1]["content"][0]["tool_use_id"] == propose["id"]


async def test_the_next_message_after_a_proposal_continues_the_same_history():
    propose = tool_use("propose_data", {"operations": []})
    model = ScriptedModel(turn(text("Click **Apply** or **Dismiss**."), propose), turn(text("Added.")))
    tools = Tools(propose_data=lambda _: ToolResult("proposal p2 is shown", ends_turn=True))
    history: list[dict] = []
    await ask(model, history, "add rows", tools)
    result, sink = await ask(model, history, "[User accepted the data proposal and applied all changes.]", tools)
    last_user = model.requests[1].messages[-1]
    assert [b["type"] for b in last_user["content"]] == ["tool_result", "text"]
    assert sink.text == "Added." and result.proposal is None
    assert_valid_history(history)


async def test_a_resumed_thread_goes_on_from_its_stored_history():
    call = tool_use("get_table", {"table_id": "t1"}, "toolu_look")
    model = ScriptedModel(turn(text("Looking."), call), turn(text("It has 3 rows.")), turn(text("Still 3.")))
    tools = Tools(get_table=lambda _: {"rows": 3})
    history: list[dict] = []
    await ask(model, history, "how big is t1?", tools)
    stored = json.dumps(history)  # what the app keeps with the thread
    resumed = json.loads(stored)
    result, sink = await ask(model, resumed, "and now?", tools)
    sent = model.requests[2].messages
    assert sent[:-1] == json.loads(stored) and sent[-1] == {"role": "user", "content": [text("and now?")]}
    assert {"type": "tool_result", "tool_use_id": "toolu_look", "content": '{"rows":3}'} in sent[2]["content"]
    assert sink.text == "Still 3."
    assert_valid_history(result.history)


async def test_the_loop_stops_after_max_turns_with_a_plain_notice():
    model = ScriptedModel(*[turn(tool_use("list_tables", {}, f"toolu_{i}")) for i in range(3)])
    result, sink = await ask(model, [], "loop forever", max_turns=3)
    assert result.stop == "max_turns" and len(model.requests) == 3
    assert "stopped after 3 steps" in sink.of("notice")[0]
    assert_valid_history(result.history)


async def test_max_tokens_inside_a_tool_call_drops_it_and_asks_for_a_smaller_one():
    cut = tool_use("propose_data", {"operations": [{"action": "add"}]}, "toolu_cut")
    small = tool_use("propose_data", {"operations": []}, "toolu_small")
    model = ScriptedModel(turn(text("Adding 500 rows."), cut, stop="max_tokens"),
                          turn(small), turn(text("Proposed 10 rows.")))
    tools = Tools()
    result, _sink = await ask(model, [], "add 500 rows", tools)
    assert tools.calls == [("propose_data", {"operations": []})]  # the cut call never ran
    retry_note = model.requests[1].messages[-1]["content"][-1]
    assert retry_note["type"] == "text" and "cut off" in retry_note["text"] and "smaller" in retry_note["text"]
    assert not any(b.get("id") == "toolu_cut" for m in result.history for b in m["content"] if isinstance(b, dict))
    assert result.stop == "done"
    assert_valid_history(result.history)


async def test_max_tokens_inside_a_tool_call_twice_tells_the_user():
    model = ScriptedModel(turn(tool_use("propose_data", {}, "toolu_1"), stop="max_tokens"),
                          turn(tool_use("propose_data", {}, "toolu_2"), stop="max_tokens"))
    tools = Tools()
    result, sink = await ask(model, [], "add 5000 rows", tools)
    assert tools.calls == [] and result.stop == "max_tokens"
    assert "too long" in sink.of("notice")[0] and "fewer rows" in sink.of("notice")[0]
    assert_valid_history(result.history)


async def test_pause_turn_continues_the_same_assistant_message():
    model = ScriptedModel(turn(text("Searching…"), stop="pause_turn"), turn(text("Found it.")))
    result, sink = await ask(model, [], "find it")
    assert model.requests[1].messages[-1] == {"role": "assistant", "content": [text("Searching…")]}
    assert result.history[-1] == {"role": "assistant", "content": [text("Searching…"), text("Found it.")]}
    assert sink.text == "Searching…\n\nFound it."


async def test_a_refusal_is_told_plainly_and_left_out_of_the_history():
    history = [{"role": "user", "content": [text("hello")]}, {"role": "assistant", "content": [text("Hi!")]}]
    before = [dict(m) for m in history]
    model = ScriptedModel(turn(text("I can"), stop="refusal"))
    result, sink = await ask(model, history, "something harmful")
    assert result.stop == "refusal" and history == before
    assert sink.text == "" and "declined" in sink.of("error")[0]


async def test_an_overloaded_model_is_retried_with_backoff_and_partial_text_is_taken_back():
    overloaded = ModelError("Overloaded", retryable=True, status=200, kind="overloaded_error")
    model = ScriptedModel([TextDelta("Half a sentence. And a"), overloaded],
                          ModelError("rate", retryable=True, retry_after=3, status=429, kind="rate_limit_error"),
                          turn(text("Whole answer.")))
    sleeps = Sleeps()
    result, sink = await ask(model, [], "hi", retry=RetryPolicy(sleep=sleeps, initial_delay=1))
    assert sink.text == result.text == "Whole answer."
    assert ("text", "Half a sentence.") in sink.events
    assert ("replace", "") in sink.events  # the half answer was taken back before the retry
    assert 1 <= sleeps.delays[0] <= 2 and sleeps.delays[1] == 3  # backoff with jitter, then retry-after
    assert len([s for s in sink.of("status") if s]) == 2 and sink.status is None  # said, then taken away
    assert_valid_history(result.history)


async def test_when_retries_run_out_the_user_is_told_and_the_history_can_go_on():
    overloaded = ModelError("Overloaded", retryable=True, status=529, kind="overloaded_error")
    model = ScriptedModel(*[overloaded] * 4, turn(text("Back again.")))
    history: list[dict] = []
    sleeps = Sleeps()
    result, sink = await ask(model, history, "first", retry=RetryPolicy(sleep=sleeps))
    assert result.stop == "error" and len(model.requests) == 4 and len(sleeps.delays) == 3
    assert sink.of("error") == ["Claude is overloaded right now; please try again in a minute."]
    assert sleeps.delays == sorted(sleeps.delays)  # exponential
    result, sink = await ask(model, history, "second")
    assert history[0] == {"role": "user", "content": [text("first"), text("second")]}
    assert sink.text == "Back again."
    assert_valid_history(history)


async def test_errors_that_cannot_succeed_are_not_retried():
    model = ScriptedModel(ModelError("invalid x-api-key", retryable=False, status=401, kind="authentication_error"))
    sleeps = Sleeps()
    _result, sink = await ask(model, [], "hi", retry=RetryPolicy(sleep=sleeps))
    assert sleeps.delays == [] and len(model.requests) == 1
    assert "API key was rejected" in sink.of("error")[0]


async def test_a_retry_after_longer_than_the_limit_is_not_waited_for():
    model = ScriptedModel(ModelError("rate", retryable=True, retry_after=90, status=429, kind="rate_limit_error"))
    sleeps = Sleeps()
    _result, sink = await ask(model, [], "hi", retry=RetryPolicy(sleep=sleeps, max_delay=20))
    assert sleeps.delays == [] and sink.of("error") == [
        "Claude's rate limit was reached; please try again in 2 minutes."]


async def test_a_schema_proposal_written_in_the_text_is_cut_out_and_run_as_the_tool():
    block = '{"mode": "create", "table_name": "Books", "operations": [{"action": "add", "column": {"name": "T {x}", "type": "text"}}]}'
    reply = f"I've designed a Books table.\n\nSCHEMA_PROPOSAL: {block}\n\nClick **Create Table** or **Dismiss**."
    model = ScriptedModel(turn(text(reply)))
    tools = Tools(propose_schema=lambda _: ToolResult("shown", ends_turn=True))
    result, sink = await ask(model, [], "books", tools)
    assert tools.calls == [("propose_schema", {"mode": "create", "table_name": "Books", "operations": [
        {"action": "add", "column": {"name": "T {x}", "type": "text"}}]})]
    assert "SCHEMA_PROPOSAL" not in sink.text and "{" not in sink.text
    assert sink.text == "I've designed a Books table.\n\nClick **Create Table** or **Dismiss**."
    assert "SCHEMA_PROPOSAL" not in "".join(sink.of("text"))  # never streamed, not only replaced later
    assert result.stop == "awaiting_user" and result.proposal == "create"
    assert_valid_history(result.history)


async def test_a_broken_data_proposal_block_goes_back_to_the_model_as_an_error():
    model = ScriptedModel(turn(text('Rows: DATA_PROPOSAL: {"operations": [1, 2,]}')),
                          turn(text("Sorry, fixed below.")))
    tools = Tools()
    _result, sink = await ask(model, [], "rows", tools)
    assert tools.calls == []
    answer = model.requests[1].messages[-1]["content"][0]
    assert answer["is_error"] is True and "not valid JSON" in answer["content"]
    assert "propose_data" in answer["content"]
    # "Rows:" led to a preview that never came: the user reads only the repaired reply, the model keeps it
    assert sink.text == "Sorry, fixed below."
    assert model.requests[1].messages[-2] == {"role": "assistant", "content": [
        text("Rows:"), {**model.requests[1].messages[-2]["content"][1]}]}


async def test_a_cancelled_turn_still_answers_every_tool_use():
    started = asyncio.Event()

    async def slow(ctx, name, raw_input):
        started.set()
        await asyncio.sleep(30)

    model = ScriptedModel(turn(tool_use("get_table", {}, "toolu_x"), tool_use("query_rows", {}, "toolu_y")))
    history: list[dict] = []
    task = asyncio.create_task(run_turn(model, None, history, "look", CollectingSink(), tool_runner=slow, tools=TOOLS))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_valid_history(history)
    assert all(r["is_error"] for r in history[-1]["content"])


def test_repair_answers_tool_calls_left_by_a_crash():
    history = [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": [tool_use("list_tables", {}, "toolu_z")]}]
    repair(history)
    assert history[-1]["content"][0]["tool_use_id"] == "toolu_z" and history[-1]["content"][0]["is_error"]
