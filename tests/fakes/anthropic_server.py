"""A local fake of the Anthropic Messages API that speaks real SSE, for the real SDK to talk to in tests.

Responses come from a script (a queue of canned answers, one per call) and, when the script is empty,
from a `Behaviour` (a function of the request, plus latency, error and malformed-answer rates). Every
request is recorded, and usage is reported with a simulated prompt cache (hits at earlier breakpoints).

    with FakeAnthropic() as fake:
        fake.script(Reply("Hello"), HttpError(529), Reply([Text("Hi"), ToolUse("list_tables", {})]))
        client = fake.client()          # AsyncAnthropic(base_url=fake.url, max_retries=0, strict validation)

Run alone (`.venv/bin/python tests/fakes/anthropic_server.py --port 8765`) it answers every call with a short text.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHARS_PER_TOKEN = 4
TEXT_CHUNK = 12  # characters per text_delta, so a reply arrives in several pieces
JSON_CHUNK = 24  # characters per input_json_delta


@dataclass
class Text:
    """A text block of a reply."""

    text: str


@dataclass
class ToolUse:
    """A tool_use block of a reply; the id is generated when left out."""

    name: str
    input: dict[str, Any]
    id: str | None = None
    raw: str | None = None  # streamed as the input JSON instead of `input` (to send broken JSON)


@dataclass
class Reply:
    """A complete assistant message (streamed or not).

    `stop_reason` defaults to `tool_use` when a tool is called, else `end_turn`. `cut_input_at` cuts the
    last tool_use's input JSON after that many characters and stops with `max_tokens`, as the API does
    when the output limit falls inside a tool call.
    """

    content: list[Text | ToolUse] | str
    stop_reason: str | None = None
    cut_input_at: int | None = None

    def blocks(self) -> list[Text | ToolUse]:
        return [Text(self.content)] if isinstance(self.content, str) else list(self.content)


@dataclass
class HttpError:
    """An error answered instead of a stream: status, error type, optional retry-after and error code."""

    status: int = 529
    type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    error_code: str | None = None

    def error_type(self) -> str:
        return self.type or {
            400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
            404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error",
        }.get(self.status, "api_error")


@dataclass
class StreamError:
    """A 200 stream that starts (message_start, some text) and then sends `event: error`."""

    text: str = ""
    type: str = "overloaded_error"
    message: str = "Overloaded"


Response_ = Reply | HttpError | StreamError


@dataclass
class Call:
    """One recorded request to the fake."""

    index: int
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass
class Behaviour:
    """How the fake answers when the script is empty; later users tune latency and failure rates."""

    respond: Callable[[Call], Response_] | None = None
    latency_s: float = 0.0  # before the first byte
    latency_per_output_token_s: float = 0.0
    error_rate: float = 0.0  # share of calls answered with a 529
    malformed_rate: float = 0.0  # share of text answers cut in half (broken JSON for a parser)
    min_cache_tokens: int = 1024  # shorter prefixes are not cached, as on the real API
    seed: int = 0


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def add(self, other: Usage) -> None:
        for key, value in other.__dict__.items():
            setattr(self, key, getattr(self, key) + value)


def tokens(text: str) -> int:
    """A rough token count, stable enough to compare prompt sizes."""
    return max(1, len(text) // CHARS_PER_TOKEN) if text else 0


def _strip_cache(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_cache(v) for k, v in obj.items() if k != "cache_control"}
    if isinstance(obj, list):
        return [_strip_cache(v) for v in obj]
    return obj


class PromptCache:
    """Prefix caching as the API does it: tools, then system, then message blocks; written at breakpoints,
    read at the longest earlier prefix that was written."""

    def __init__(self) -> None:
        self._written: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _segments(body: dict[str, Any]) -> list[tuple[dict | str, bool]]:
        segments: list[tuple[dict | str, bool]] = []
        for tool in body.get("tools") or []:
            segments.append((tool, "cache_control" in tool))
        system = body.get("system") or []
        for block in [{"type": "text", "text": system}] if isinstance(system, str) else system:
            segments.append((block, "cache_control" in block))
        messages = body.get("messages") or []
        for i, message in enumerate(messages):
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            for j, block in enumerate(blocks):
                last = i == len(messages) - 1 and j == len(blocks) - 1
                marked = "cache_control" in block or (last and body.get("cache_control") is not None)
                segments.append(({"role": message.get("role"), **block}, marked))
        return segments

    def usage(self, body: dict[str, Any], min_tokens: int) -> Usage:
        """Input, cache-read and cache-write tokens of a request; remembers the prefixes it writes."""
        digest = hashlib.sha256()
        position = 0
        prefixes: list[tuple[str, int, bool]] = []
        for segment, marked in self._segments(body):
            text = segment if isinstance(segment, str) else json.dumps(_strip_cache(segment), sort_keys=True)
            digest.update(text.encode())
            position += tokens(text)
            prefixes.append((digest.copy().hexdigest(), position, marked))
        total = position
        last_mark = max((i for i, p in enumerate(prefixes) if p[2]), default=-1)
        with self._lock:
            read = max((pos for h, pos, _ in prefixes[: last_mark + 1] if h in self._written), default=0)
            written = 0
            for h, pos, marked in prefixes[: last_mark + 1]:
                if marked and pos >= min_tokens:
                    self._written.add(h)
                    written = max(written, pos)
        created = max(0, written - read)
        return Usage(
            input_tokens=total - read - created,
            cache_creation_input_tokens=created,
            cache_read_input_tokens=read,
        )


class FakeAnthropic:
    """The fake server: start it (a context manager), script it, point an SDK client at `url`."""

    def __init__(self, behaviour: Behaviour | None = None, *, port: int = 0) -> None:
        self.behaviour = behaviour or Behaviour()
        self.calls: list[Call] = []
        self.usage = Usage()
        self.cache = PromptCache()
        self._port = port
        self._script: deque[Response_] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._random = random.Random(self.behaviour.seed)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- scripting ------------------------------------------------------------------------------------
    def script(self, *responses: Response_) -> FakeAnthropic:
        """Queue responses, one per call, in order."""
        with self._lock:
            self._script.extend(responses)
        return self

    def reset(self, behaviour: Behaviour | None = None) -> None:
        """Forget the script, the calls, the usage and the cache (between tests)."""
        with self._lock:
            self._script.clear()
            self.calls.clear()
            self.usage = Usage()
            self.cache = PromptCache()
            self.behaviour = behaviour or Behaviour()
            self._random = random.Random(self.behaviour.seed)

    @property
    def pending(self) -> int:
        """Scripted responses not used yet."""
        return len(self._script)

    def client(self, **kwargs: Any):
        """An `AsyncAnthropic` for this server: no SDK retries, strict validation of what the fake sends."""
        from anthropic import AsyncAnthropic

        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("_strict_response_validation", True)
        return AsyncAnthropic(base_url=self.url, api_key="test", **kwargs)

    # -- serving --------------------------------------------------------------------------------------
    def start(self) -> FakeAnthropic:
        app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self._port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-anthropic", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Anthropic server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering ------------------------------------------------------------------------------------
    def _next(self, call: Call) -> Response_:
        with self._lock:
            if self._script:
                return self._script.popleft()
            behaviour, rng = self.behaviour, self._random
            failed = behaviour.error_rate and rng.random() < behaviour.error_rate
            malformed = behaviour.malformed_rate and rng.random() < behaviour.malformed_rate
        if failed:
            return HttpError(529)
        if behaviour.respond is None:
            return HttpError(400, message=f"fake Anthropic: nothing scripted for call {call.index}")
        response = behaviour.respond(call)
        if malformed and isinstance(response, Reply):
            response = Reply([Text(b.text[: len(b.text) // 2]) if isinstance(b, Text) else b
                              for b in response.blocks()], response.stop_reason, response.cut_input_at)
        return response

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            call = Call(len(self.calls), request.url.path, dict(request.headers), body, time.time())
            self.calls.append(call)
        response = self._next(call)
        if self.behaviour.latency_s:
            await asyncio.sleep(self.behaviour.latency_s)
        if isinstance(response, HttpError):
            return self._http_error(response)
        usage = self.cache.usage(body, self.behaviour.min_cache_tokens)
        if isinstance(response, StreamError):
            if not call.stream:
                return self._http_error(HttpError(529, response.type, response.message))
            return self._sse(self._stream_error(call, response, usage))
        message, pieces = self._render(call, response, usage)
        with self._lock:
            self.usage.add(usage)
        if call.stream:
            return self._sse(self._stream(message, pieces))
        per_token = self.behaviour.latency_per_output_token_s
        if per_token:
            await asyncio.sleep(per_token * usage.output_tokens)
        return JSONResponse(message, headers={"request-id": f"req_fake_{call.index}"})

    def _http_error(self, error: HttpError) -> Response:
        payload: dict[str, Any] = {"type": error.error_type(), "message": error.message or error.error_type()}
        if error.error_code:
            payload["details"] = {"error_code": error.error_code}
        headers = {"request-id": f"req_fake_err_{next(self._ids)}"}
        if error.retry_after is not None:
            headers["retry-after"] = f"{error.retry_after:g}"
        return JSONResponse({"type": "error", "error": payload}, status_code=error.status, headers=headers)

    def _render(self, call: Call, reply: Reply, usage: Usage) -> tuple[dict, list[tuple[dict, list[dict]]]]:
        """The final message and, per block, its content_block_start payload and its deltas."""
        content: list[dict] = []
        pieces: list[tuple[dict, list[dict]]] = []
        blocks = reply.blocks()
        output = 0
        for i, block in enumerate(blocks):
            if isinstance(block, Text):
                content.append({"type": "text", "text": block.text})
                deltas = [{"type": "text_delta", "text": block.text[k: k + TEXT_CHUNK]}
                          for k in range(0, len(block.text), TEXT_CHUNK)]
                pieces.append(({"type": "text", "text": ""}, deltas))
                output += tokens(block.text)
                continue
            tool_id = block.id or f"toolu_fake{call.index:04d}{i:02d}{next(self._ids):06d}"
            raw = json.dumps(block.input) if block.raw is None else block.raw
            given = block.input
            if reply.cut_input_at is not None and i == len(blocks) - 1:
                raw = raw[: reply.cut_input_at]
                given = _partial(raw)
            content.append({"type": "tool_use", "id": tool_id, "name": block.name, "input": given})
            deltas = [{"type": "input_json_delta", "partial_json": raw[k: k + JSON_CHUNK]}
                      for k in range(0, len(raw), JSON_CHUNK)]
            pieces.append(({"type": "tool_use", "id": tool_id, "name": block.name, "input": {}}, deltas))
            output += tokens(raw)
        stop = reply.stop_reason or (
            "max_tokens" if reply.cut_input_at is not None
            else "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"
        )
        usage.output_tokens = max(1, output)
        message = {
            "id": f"msg_fake_{call.index:04d}", "type": "message", "role": "assistant",
            "model": call.body.get("model", "claude-fake"), "content": content,
            "stop_reason": stop, "stop_sequence": None, "usage": usage.as_dict(),
        }
        return message, pieces

    @staticmethod
    def _sse(events) -> StreamingResponse:
        return StreamingResponse(events, media_type="text/event-stream", headers={"request-id": "req_fake_sse"})

    @staticmethod
    def _event(kind: str, data: dict) -> str:
        return f"event: {kind}\ndata: {json.dumps(data)}\n\n"

    def _start(self, message: dict, usage: Usage) -> str:
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {**usage.as_dict(), "output_tokens": 1}}
        return self._event("message_start", {"type": "message_start", "message": start})

    async def _stream(self, message: dict, pieces: list[tuple[dict, list[dict]]]):
        usage = Usage(**message["usage"])
        per_token = self.behaviour.latency_per_output_token_s
        yield self._start(message, usage)
        yield self._event("ping", {"type": "ping"})
        for index, (start, deltas) in enumerate(pieces):
            yield self._event("content_block_start",
                              {"type": "content_block_start", "index": index, "content_block": start})
            for delta in deltas:
                if per_token:
                    await asyncio.sleep(per_token * tokens(delta.get("text") or delta.get("partial_json", "")))
                yield self._event("content_block_delta",
                                  {"type": "content_block_delta", "index": index, "delta": delta})
            yield self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        yield self._event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": usage.as_dict(),
        })
        yield self._event("message_stop", {"type": "message_stop"})

    async def _stream_error(self, call: Call, error: StreamError, usage: Usage):
        message, pieces = self._render(call, Reply(error.text or ""), usage)
        yield self._start(message, usage)
        if error.text:
            start, deltas = pieces[0]
            yield self._event("content_block_start",
                              {"type": "content_block_start", "index": 0, "content_block": start})
            for delta in deltas:
                yield self._event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        yield self._event("error", {"type": "error", "error": {"type": error.type, "message": error.message}})


def _partial(raw: str) -> dict[str, Any]:
    """What the API reports as the input of a tool call cut short: as much of the object as parses."""
    from jiter import from_json

    try:
        value = from_json(raw.encode(), partial_mode="trailing-strings") if raw else {}
    except ValueError:
        value = {}
    return value if isinstance(value, dict) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Anthropic Messages API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    def respond(call: Call) -> Reply:
        return Reply(f"(fake Claude) I received {len(call.messages)} message(s).")

    with FakeAnthropic(Behaviour(respond=respond, min_cache_tokens=0), port=args.port) as fake:
        print(f"fake Anthropic API at {fake.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
