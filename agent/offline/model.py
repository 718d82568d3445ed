"""The offline model: deterministic, no network, behind the same `Model` interface as Claude."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from agent.model import MessageDone, ModelEvent, ModelRequest, TextDelta, ToolUseStart
from agent.offline.planner import plan

CHUNK_CHARS = 40  # a streamed chunk: whole words, about this long (each chunk is a socket message)


def _tokens(obj: Any) -> int:
    """A rough token count (4 characters a token), so usage figures move with the prompt's size."""
    return max(1, len(json.dumps(obj, ensure_ascii=False, default=str)) // 4)


def _chunks(text: str) -> list[str]:
    """The text in pieces of whole words of at most CHUNK_CHARS (a longer word is a piece alone)."""
    pieces = [""]
    for word in re.findall(r"\S+\s*|\s+", text):
        if pieces[-1] and len(pieces[-1]) + len(word) > CHUNK_CHARS:
            pieces.append("")
        pieces[-1] += word
    return [p for p in pieces if p]


class OfflineModel:
    """The built-in deterministic model (no API key needed); the UI says when it is the one answering."""

    name = "offline"
    offline = True

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        step = plan(request)
        used = sum(
            1
            for m in request.messages
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_use"
        )
        content: list[dict[str, Any]] = []
        if step.text:
            content.append({"type": "text", "text": step.text})
            for piece in _chunks(step.text):
                yield TextDelta(piece)
                await asyncio.sleep(0)  # let the UI render between chunks, as a network stream would
        for n, (tool, args) in enumerate(step.calls, start=used + 1):
            block = {"type": "tool_use", "id": f"toolu_offline_{n:04d}", "name": tool, "input": args}
            content.append(block)
            yield ToolUseStart(block["id"], tool)
        usage = {
            "input_tokens": _tokens([request.system, request.messages, request.tools]),
            "output_tokens": _tokens(content),
        }
        yield MessageDone(content, "tool_use" if step.calls else "end_turn", usage)
