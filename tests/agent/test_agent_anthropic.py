"""The loop with the real Anthropic SDK against the local fake server speaking SSE."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes.agent_kit import Sleeps, Tools, assert_valid_history
from fakes.anthropic_server import HttpError, Reply, StreamError, Text, ToolUse
from pydantic import BaseModel, ValidationError

from agent.anthropic_model import AnthropicModel
from agent.loop import RetryPolicy, run_turn
from agent.model import MessageDone, ModelError, ModelRequest, TextDelta, ToolUseStart
from agent.sink import CollectingSink
from tools.base import ToolResult

TOOLS = [
    {"name": "list_tables", "description": "List the tables.", "input_schema": {"type": "object"}},
    {"name": "get_table", "description": "One table.", "input_schema": {
        "type": "object", "properties": {"table_id": {"type": "string"}}}},
    {"name": "propose_data", "description": "Propose rows.", "input_schema": {"type": "object"}},
]


@pytest.fixture
def claude(fake_anthropic, sdk_client) -> AnthropicModel:
    return AnthropicModel(sdk_client, "claude-test")


async def ask(model, history, message, tools=None, sleeps=None, **kwargs):
    sink = CollectingSink()
    result = await run_turn(model, None, history, message, sink, tool_runner=tools or Tools(),
                            tools=TOOLS, retry=RetryPolicy(sleep=sleeps or Sleeps()), **kwargs)
    return result, sink


async def test_text_and_tool_use_in_one_turn(fake_anthropic, claude):
    fake_anthropic.script(
        Reply([Text("Let me check your tables."), ToolUse("list_tables", {})]),
        Reply("You have one table, Books."),
    )
    tools = Tools(list_tables=lambda _: {"tables": [{"name": "Books"}]})
    result, sink = await ask(claude, [], "what do I have?", tools)
    assert sink.text == "Let me check your tables.\n\nYou have one table, Books."
    # arrived in pieces over SSE, shown a whole sentence at a time (a sentence may yet ask permission)
    assert sink.of("text") == ["Let me check your tables.", "\n\n", "You have one table, Books."]
    kinds = [k for k, _ in sink.events]
    assert kinds.index("text") < kinds.index("tool_start")  # the first sentence was shown before the tool ran
    assert tools.calls == [("list_tables", {})]
    first, second = fake_anthropic.calls
    assert first.stream and first.body["model"] == "claude-test"
    assert first.headers["authorization"] == "Bearer test"
    tool_id = result.history[1]["content"][1]["id"]
    assert second.messages[-1]["content"][0] == {
        "type": "tool_result", "tool_use_id": tool_id, "content": '{"tables":[{"name":"Books"}]}',
        "cache_control": {"type": "ephemeral"}}
    assert result.stop == "done" and result.model_calls == 2
    assert_valid_history(result.history)


async def test_prompt_caching_on_system_prompt_and_tool_definitions(fake_anthropic, claude):
    fake_anthropic.script(Reply([ToolUse("list_tables", {})]), Reply("None yet."))
    result, _ = await ask(claude, [], "tables?")
    body = fake_anthropic.calls[0].body
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "tablechat" in body["system"][0]["text"]
    assert [("cache_control" in t) for t in body["tools"]] == [False, False, True]
    assert body["tools"][0] == TOOLS[0]  # the definitions the loop was given are not changed
    assert "cache_control" not in TOOLS[-1]
    # the second call of the turn reads the first one's prefix from the cache
    second = fake_anthropic.calls[1]
    assert result.usage["cache_read_input_tokens"] > 0
    assert result.usage["cache_creation_input_tokens"] > 0
    assert "cache_control" not in second.messages[0]["content"][0]  # only the newest block is a breakpoint


async def test_two_tool_calls_in_one_turn_answered_in_one_user_turn(fake_anthropic, claude):
    fake_anthropic.script(
        Reply([ToolUse("get_table", {"table_id": "a"}), ToolUse("get_table", {"table_id": "b"})]),
        Reply("Both tables are empty."),
    )
    tools = Tools(get_table=lambda args: {"id": args["table_id"], "rows": 0})
    _result, sink = await ask(claude, [], "compare a and b", tools)
    assert [c[1] for c in tools.calls] == [{"table_id": "a"}, {"table_id": "b"}]
    sent = fake_anthropic.calls[1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    ids = [b["id"] for b in sent[1]["content"]]
    assert [b["tool_use_id"] for b in sent[2]["content"]] == ids and len(ids) == 2
    assert [s[1] for s in sink.of("tool_start")] == ["get_table", "get_table"]
    assert sink.text == "Both tables are empty."


class Operation(BaseModel):
    action: str
    data: dict


class DataProposal(BaseModel):
    operations: list[Operation]


def validating_propose(args: dict) -> ToolResult:
    try:
        DataProposal.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return ToolResult(f"Error: invalid propose_data input: {problems}", is_error=True)
    return ToolResult({"proposal_id": "p1", "operations": len(args["operations"])}, ends_turn=True)


async def test_an_invalid_payload_then_a_corrected_one(fake_anthropic, claude):
    fake_anthropic.script(
        Reply([Text("Adding a row."), ToolUse("propose_data", {"operations": [{"action": "add"}]})]),
        Reply([ToolUse("propose_data", {"operations": [{"action": "add", "data": {"Name": "Dune"}}]})]),
    )
    tools = Tools(propose_data=validating_propose)
    result, sink = await ask(claude, [], "add Dune", tools)
    error = fake_anthropic.calls[1].messages[-1]["content"][0]
    assert error["is_error"] is True and "operations.0.data: Field required" in error["content"]
    assert len(fake_anthropic.calls) == 2 and result.stop == "awaiting_user" and result.proposal == "data"
    assert [r[2].is_error for r in sink.of("tool_end")] == [True, False]
    assert "**Apply**" in sink.text and "**Dismiss**" in sink.text  # guidance added: the model named neither
    # the first call's text led to a preview that failed: the model keeps it, the user reads one reply
    assert "Adding a row." not in sink.text and sink.text.startswith("I've proposed changes to the table's rows.")
    assert result.history[1]["content"][0] == {"type": "text", "text": "Adding a row."}
    assert_valid_history(result.history)


async def test_a_529_then_success(fake_anthropic, claude):
    fake_anthropic.script(HttpError(529, retry_after=2), Reply("Here you are."))
    sleeps = Sleeps()
    result, sink = await ask(claude, [], "hi", sleeps=sleeps)
    assert sleeps.delays == [2]  # the server's retry-after, honoured
    assert sink.text == "Here you are." and result.stop == "done"
    assert "trying again" in sink.of("status")[0] and sink.status is None and sink.of("notice") == []
    assert len(fake_anthropic.calls) == 2


async def test_an_error_event_inside_the_stream_is_retried_and_the_partial_text_taken_back(fake_anthropic, claude):
    fake_anthropic.script(StreamError("I am halfway. Through a sen"), Reply("A complete answer."))
    result, sink = await ask(claude, [], "hi")
    assert "halfway" in "".join(sink.of("text"))  # it was streamed before the error arrived…
    assert sink.text == result.text == "A complete answer."  # …and is gone from the reply
    assert result.history[-1] == {"role": "assistant", "content": [{"type": "text", "text": "A complete answer."}]}


async def test_an_error_event_maps_to_a_retryable_model_error(fake_anthropic, claude):
    fake_anthropic.script(StreamError("Hel", type="overloaded_error"))
    events = []
    request = ModelRequest("system", [{"role": "user", "content": "hi"}], [])
    try:
        async for event in claude.stream(request):
            events.append(event)
    except ModelError as exc:
        error = exc
    assert events == [TextDelta("Hel")]
    assert error.retryable and error.status == 200 and error.kind == "overloaded_error"


async def test_a_garbled_tool_input_is_retried(fake_anthropic, claude):
    fake_anthropic.script(Reply([ToolUse("get_table", {}, raw='{"table_id": nope}')]), Reply("Fine now."))
    tools = Tools()
    result, sink = await ask(claude, [], "hi", tools)
    assert tools.calls == [] and sink.text == "Fine now." and len(fake_anthropic.calls) == 2
    assert_valid_history(result.history)


async def test_overload_that_never_ends_is_told_plainly(fake_anthropic, claude):
    fake_anthropic.script(*[HttpError(529)] * 4)
    history: list[dict] = []
    result, sink = await ask(claude, history, "hi")
    assert sink.of("error") == ["Claude is overloaded right now; please try again in a minute."]
    assert result.stop == "error" and len(fake_anthropic.calls) == 4
    assert history == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


async def test_a_spend_limit_and_a_bad_request_are_not_retried(fake_anthropic, claude):
    fake_anthropic.script(HttpError(429, error_code="enforced_spend_limit_reached", retry_after=1))
    _, sink = await ask(claude, [], "hi")
    assert "spending limit" in sink.of("error")[0] and len(fake_anthropic.calls) == 1
    fake_anthropic.script(HttpError(400, message="prompt is too long: 210000 tokens > 200000 maximum"))
    _, sink = await ask(claude, [], "hi")
    assert "too long" in sink.of("error")[0] and len(fake_anthropic.calls) == 2


async def test_max_tokens_in_the_middle_of_a_tool_call(fake_anthropic, claude):
    rows = [{"action": "add", "data": {"Name": f"Book {i}"}} for i in range(200)]
    small = [{"action": "add", "data": {"Name": f"Book {i}"}} for i in range(20)]
    fake_anthropic.script(
        Reply([Text("Adding 200 books."), ToolUse("propose_data", {"operations": rows})], cut_input_at=300),
        Reply([Text("Here are the first 20."), ToolUse("propose_data", {"operations": small})]),
    )
    tools = Tools(propose_data=validating_propose)
    result, _sink = await ask(claude, [], "add 200 books", tools)
    assert tools.calls == [("propose_data", {"operations": small})]  # the cut call never ran
    note = fake_anthropic.calls[1].messages[-1]
    assert note["role"] == "user" and "cut off at the output limit" in note["content"][-1]["text"]
    assert fake_anthropic.calls[1].messages[-2]["content"] == [{"type": "text", "text": "Adding 200 books."}]
    assert result.stop == "awaiting_user"
    assert_valid_history(result.history)


async def test_the_model_maps_stream_events(fake_anthropic, claude):
    fake_anthropic.script(Reply([Text("Hi there"), ToolUse("get_table", {"table_id": "t"}, id="toolu_1")]))
    request = ModelRequest("system", [{"role": "user", "content": "hi"}], TOOLS, max_tokens=100)
    events = [e async for e in claude.stream(request)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hi there"
    assert ToolUseStart("toolu_1", "get_table") in events
    done = events[-1]
    assert isinstance(done, MessageDone) and done.stop_reason == "tool_use"
    assert done.content == [{"type": "text", "text": "Hi there"},
                            {"type": "tool_use", "id": "toolu_1", "name": "get_table", "input": {"table_id": "t"}}]
    assert set(done.usage) == {"input_tokens", "output_tokens", "cache_creation_input_tokens",
                               "cache_read_input_tokens"}
    assert fake_anthropic.calls[0].body["max_tokens"] == 100


async def test_the_client_comes_from_the_settings_and_only_when_first_needed(fake_anthropic, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.url)
    monkeypatch.setenv("TABLECHAT_CHAT_MODEL", "claude-from-settings")
    get_settings.cache_clear()
    try:
        model = AnthropicModel()
        assert model._client is None
        fake_anthropic.script(Reply("ok"))
        events = [e async for e in model.stream(ModelRequest("s", [{"role": "user", "content": "hi"}], []))]
        assert events[-1].content == [{"type": "text", "text": "ok"}]
        call = fake_anthropic.calls[0]
        assert call.headers["authorization"] == "Bearer sk-from-env"
        assert call.body["model"] == "claude-from-settings"
        assert model.client.max_retries == 0  # the loop retries; the SDK must not add its own waits
    finally:
        get_settings.cache_clear()


def test_importing_the_agent_does_not_import_the_sdk():
    code = ("import sys, agent.loop, agent.anthropic_model; "
            "assert 'anthropic' not in sys.modules, 'anthropic imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
