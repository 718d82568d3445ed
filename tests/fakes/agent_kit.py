"""Fakes for agent tests: a scripted `Model`, a recording tool runner, a sleep recorder, a history check."""

from __future__ import annotations

import copy
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from agent.model import MessageDone, ModelEvent, ModelRequest, TextDelta, ToolUseStart
from tools.base import ToolResult


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def tool_use(name: str, tool_input: dict, id: str | None = None) -> dict:
    return {"type": "tool_use", "id": id or f"toolu_{name}_{abs(hash(str(tool_input))) % 10**8}",
            "name": name, "input": tool_input}


def turn(*content: dict, stop: str | None = None, usage: dict | None = None) -> list[ModelEvent]:
    """The events a model streams for one assistant message, text in small pieces."""
    events: list[ModelEvent] = []
    for block in content:
        if block["type"] == "text":
            events += [TextDelta(block["text"][i: i + 7]) for i in range(0, len(block["text"]), 7)]
        else:
            events.append(ToolUseStart(block["id"], block["name"]))
    stop = stop or ("tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn")
    events.append(MessageDone(list(content), stop, usage or {"input_tokens": 10, "output_tokens": 5}))
    return events


class ScriptedModel:
    """A `Model` that plays back scripted turns (event lists, or an exception to raise) and keeps requests."""

    name = "scripted"
    offline = True

    def __init__(self, *turns: list[ModelEvent] | BaseException) -> None:
        self.turns = deque(turns)
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(copy.deepcopy(request))
        script = self.turns.popleft()
        if isinstance(script, BaseException):
            raise script
        for event in script:
            if isinstance(event, BaseException):
                raise event
            yield event


class Tools:
    """A tool runner that records calls and answers with handlers (default: an ok result)."""

    def __init__(self, **handlers: Callable[[dict], Any]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, dict]] = []

    async def __call__(self, ctx: Any, name: str, raw_input: dict) -> ToolResult:
        self.calls.append((name, raw_input))
        handler = self.handlers.get(name)
        if handler is None:
            return ToolResult({"ok": True, "tool": name})
        result = handler(raw_input)
        return result if isinstance(result, ToolResult) else ToolResult(result)


class Sleeps:
    """Stands in for asyncio.sleep in retry policies: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def assert_valid_history(history: list[dict]) -> None:
    """Roles alternate from a user turn, and every tool_use is answered in the very next user turn."""
    assert history and history[0]["role"] == "user"
    for before, after in itertools.pairwise(history):
        assert before["role"] != after["role"], history
    for i, message in enumerate(history):
        if message["role"] != "assistant" or isinstance(message["content"], str):
            continue
        for block in message["content"]:
            assert block["type"] != "text" or block["text"].strip(), "empty text block"
        ids = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
        if ids:
            assert i + 1 < len(history), "tool_use left unanswered at the end"
            answers = [b["tool_use_id"] for b in history[i + 1]["content"] if b["type"] == "tool_result"]
            assert answers == ids
            kinds = [b["type"] for b in history[i + 1]["content"]]
            assert kinds[: len(ids)] == ["tool_result"] * len(ids), "tool_results must come first"
