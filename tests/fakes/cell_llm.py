"""A local fake of the Anthropic Messages API (non-streaming) for AI-column fills, in its own process.

It reads the rows out of a fill request (the `<rows>` lines and the "Column to fill" spec that
worker/prompt.py writes) and answers JSON keyed by row id with `expected(column, values)`, so a test
can check every cell against the row it came from. Latency, errors (429 with retry-after, 529, 500,
hangs past the client's timeout, a refused row, a dead key, a spend limit) and malformed answers (not
JSON, a row left out, a value the column type refuses) are configurable at run time; usage reports
cache writes and reads for the system prompt, as the API does: only when the prompt is at least the
model's minimum cacheable length (worker/llm.py), unless `min_cache_tokens` says otherwise. Every request is counted per row. The Message Batches endpoints
(create, retrieve, cancel, results) answer a batch's requests the same way, `batch_latency_s` after it
was created.

Long because the fake is one server: the Messages and Message Batches endpoints share its answers,
usage and counters, and its controls.

    with CellLLM() as fake:               # starts `python tests/fakes/cell_llm.py --port N`
        fake.configure(latency_s=0.2, per_output_token_s=0.005, overloaded_rate=0.1)
        ... ANTHROPIC_BASE_URL=fake.url ...
        fake.stats()["rows"]              # {row_id: times it was sent}
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Self

CHARS_PER_TOKEN = 4
COLUMN_LINE = re.compile(r"^Column to fill: (\{.*\})$", re.MULTILINE)


@dataclass
class Behaviour:
    latency_s: float = 0.0
    per_output_token_s: float = 0.0
    rate_limit_rate: float = 0.0  # 429 rate_limit_error with retry-after
    retry_after_s: float | None = 0.05
    overloaded_rate: float = 0.0  # 529
    server_error_rate: float = 0.0  # 500
    timeout_rate: float = 0.0  # no answer for `hang_s`
    hang_s: float = 30.0
    malformed_rate: float = 0.0  # the whole answer is not JSON
    missing_rate: float = 0.0  # one row left out
    invalid_rate: float = 0.0  # one row's value refused by its column type
    poison: str | None = None  # a request containing this text gets 400 invalid_request_error
    fatal: str | None = None  # "auth" (401) or "spend" (429 with a spend-limit code) for every request
    max_inflight: int = 0  # more requests at once than this get a 429
    # the shortest system prompt that is cached; None: the model's minimum, as on the real API
    # (worker/llm.py MIN_CACHE_TOKENS); 0 caches any prefix
    min_cache_tokens: int | None = None
    batch_latency_s: float = 0.0  # a Message Batch ends this long after it was created
    seed: int = 0


def tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN if text else 0


def _digest(values: dict[str, Any]) -> int:
    return int(hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12], 16)


def expected(column: dict[str, Any], values: dict[str, Any]) -> Any:
    """The fake's answer for one row: a function of the row's inputs only."""
    h = _digest(values)
    words = " ".join(str(v) for v in values.values() if v is not None).split()
    options = column.get("options") or ["?"]
    kind = column.get("type")
    if kind in ("text", "long_text"):
        return "about " + " ".join(words[:5])
    return {
        "number": len(words) * 10 + h % 10,
        "boolean": h % 2 == 0,
        "date": f"2024-{h % 12 + 1:02d}-{h % 28 + 1:02d}",
        "select": options[h % len(options)],
        "multi_select": [options[h % len(options)]],
        "url": f"https://example.com/{h % 10_000}",
        "email": f"user{h % 10_000}@example.com",
    }.get(kind, {"words": len(words)})


INVALID = {"text": {"not": "text"}, "long_text": {"not": "text"}, "number": "lots", "boolean": "maybe",
           "date": "someday", "select": "Definitely Not An Option", "multi_select": ["Not An Option"],
           "url": "not a url", "email": "nobody"}


def parse_request(body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """The column spec, the rows and the system text of a fill request."""
    system = body.get("system") or ""
    system_text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
    match = COLUMN_LINE.search(system_text)
    column = json.loads(match.group(1)) if match else {"type": "text"}
    content = body["messages"][-1]["content"]
    user = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
    return column, _rows(user), system_text


def _rows(user: str) -> list[dict[str, Any]]:
    """The rows of a request: a header array then one array per row (worker/prompt.py), or one
    {"row_id", "values"} object per line."""
    lines = [json.loads(line) for line in user.splitlines() if line.startswith(("{", "["))]
    if lines and isinstance(lines[0], list):
        names = lines[0][1:]
        return [{"row_id": line[0], "values": dict(zip(names, line[1:], strict=True))} for line in lines[1:]]
    return lines


class Fake:
    """The server's state: behaviour, counters and the prompt cache."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, **behaviour: Any) -> None:
        self.behaviour = Behaviour(**behaviour)
        self.random = random.Random(self.behaviour.seed)
        self.rows: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()
        self.cached: set[str] = set()
        self.inflight = self.max_inflight = self.calls = 0
        self.batches: dict[str, dict[str, Any]] = {}

    def configure(self, **changes: Any) -> None:
        known = {f.name for f in fields(Behaviour)}
        for key, value in changes.items():
            if key not in known:
                raise KeyError(key)
            setattr(self.behaviour, key, value)
        if "seed" in changes:
            self.random = random.Random(changes["seed"])

    def stats(self) -> dict[str, Any]:
        batches = {bid: {"requests": len(b["requests"]), "canceled": b["canceled"]} for bid, b in self.batches.items()}
        return {"calls": self.calls, "rows": dict(self.rows), "statuses": dict(self.statuses), "batches": batches,
                "usage": dict(self.usage), "max_inflight": self.max_inflight, "behaviour": asdict(self.behaviour)}

    def _error(self, status: int, kind: str, message: str, *, retry_after: float | None = None,
               code: str | None = None):
        from aiohttp import web

        error: dict[str, Any] = {"type": kind, "message": message}
        if code:
            error["details"] = {"error_code": code}
        headers = {"request-id": f"req_fake_{self.calls}"}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        self.statuses[str(status)] += 1
        return web.json_response({"type": "error", "error": error}, status=status, headers=headers)

    async def messages(self, request):
        from aiohttp import web

        body = await request.json()
        self.calls += 1
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            column, rows, system = parse_request(body)
            for row in rows:
                self.rows[str(row["row_id"])] += 1
            b, rng = self.behaviour, self.random
            if b.fatal == "auth":
                return self._error(401, "authentication_error", "invalid x-api-key")
            if b.fatal == "spend":
                return self._error(429, "rate_limit_error", "You have reached your monthly spend limit",
                                   code="enforced_spend_limit_reached")
            if b.max_inflight and self.inflight > b.max_inflight:
                return self._error(429, "rate_limit_error", "Number of concurrent connections exceeded",
                                   retry_after=b.retry_after_s)
            if b.latency_s:
                await asyncio.sleep(b.latency_s)
            if b.poison and b.poison in json.dumps(body):
                return self._error(400, "invalid_request_error", "prompt is too long")
            roll = rng.random()
            for rate, answer in ((b.rate_limit_rate, lambda: self._error(
                    429, "rate_limit_error", "Rate limited", retry_after=b.retry_after_s)),
                    (b.overloaded_rate, lambda: self._error(529, "overloaded_error", "Overloaded")),
                    (b.server_error_rate, lambda: self._error(500, "api_error", "Internal server error"))):
                if roll < rate:
                    return answer()
                roll -= rate
            if roll < b.timeout_rate:
                await asyncio.sleep(b.hang_s)
                return self._error(504, "timeout_error", "timed out")
            answer = {str(r["row_id"]): expected(column, r.get("values") or {}) for r in rows}
            if rows and rng.random() < b.missing_rate:
                answer.pop(str(rows[rng.randrange(len(rows))]["row_id"]))
            if rows and rng.random() < b.invalid_rate and column.get("type") in INVALID:
                answer[str(rows[rng.randrange(len(rows))]["row_id"])] = INVALID[column["type"]]
            text = json.dumps(answer, ensure_ascii=False)
            if rng.random() < b.malformed_rate:
                text = rng.choice(["Here are the values you asked for.", text[: len(text) // 2]])
            usage = self._usage(body, system, tokens(text))
            if b.per_output_token_s:
                await asyncio.sleep(b.per_output_token_s * usage["output_tokens"])
            self.statuses["200"] += 1
            return web.json_response({
                "id": f"msg_fake_{self.calls}", "type": "message", "role": "assistant",
                "model": body.get("model", "claude-fake"), "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None, "usage": usage,
            }, headers={"request-id": f"req_fake_{self.calls}"})
        finally:
            self.inflight -= 1

    def _usage(self, body: dict[str, Any], system: str, output: int) -> dict[str, int]:
        system_blocks = body.get("system") or []
        marked = isinstance(system_blocks, list) and any("cache_control" in blk for blk in system_blocks)
        prefix_tokens = tokens(system)
        rest = tokens(json.dumps(body.get("messages") or []))
        read = write = 0
        least = self.behaviour.min_cache_tokens
        if least is None:
            from worker.llm import min_cache_tokens

            least = min_cache_tokens(str(body.get("model") or ""))
        if marked and prefix_tokens >= least:
            key = hashlib.sha256(f"{body.get('model')}\n{system}".encode()).hexdigest()
            if key in self.cached:
                read = prefix_tokens
            else:
                self.cached.add(key)
                write = prefix_tokens
        usage = {"input_tokens": rest + (0 if read or write else prefix_tokens), "output_tokens": max(1, output),
                 "cache_read_input_tokens": read, "cache_creation_input_tokens": write}
        self.usage.update(usage)
        return usage

    # -- Message Batches: created at once, ended `batch_latency_s` later (or when cancelled), results
    # computed as the Messages endpoint would answer each request, except for the injected faults

    def _batch(self, bid: str, base: str) -> dict[str, Any]:
        b = self.batches[bid]
        ended = b["canceled"] or time.time() - b["created"] >= self.behaviour.batch_latency_s
        if ended and b["results"] is None:
            b["results"] = [self._batch_result(r, b["canceled"]) for r in b["requests"]]
            b["ended"] = time.time()
        counts = Counter(r["result"]["type"] for r in b["results"] or ())
        stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None
        return {"id": bid, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": {"processing": 0 if ended else len(b["requests"]),
                                   **{k: counts.get(k, 0) for k in ("succeeded", "errored", "canceled", "expired")}},
                "created_at": stamp(b["created"]), "expires_at": stamp(b["created"] + 86400),
                "ended_at": stamp(b.get("ended")), "cancel_initiated_at": stamp(b.get("cancel_at")),
                "archived_at": None, "results_url": f"{base}/v1/messages/batches/{bid}/results" if ended else None}

    def _batch_result(self, request: dict[str, Any], canceled: bool) -> dict[str, Any]:
        body, cid = request["params"], request["custom_id"]
        if canceled:
            return {"custom_id": cid, "result": {"type": "canceled"}}
        column, rows, system = parse_request(body)
        for row in rows:
            self.rows[str(row["row_id"])] += 1
        if self.behaviour.poison and self.behaviour.poison in json.dumps(body):
            return {"custom_id": cid, "result": {"type": "errored", "error": {"type": "error", "error": {
                "type": "invalid_request_error", "message": "prompt is too long"}}}}
        text = json.dumps({str(r["row_id"]): expected(column, r.get("values") or {}) for r in rows}, ensure_ascii=False)
        usage = self._usage(body, system, tokens(text))
        return {"custom_id": cid, "result": {"type": "succeeded", "message": {
            "id": f"msg_fake_batch_{cid}", "type": "message", "role": "assistant",
            "model": body.get("model", "claude-fake"), "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}}}

    async def create_batch(self, request):
        from aiohttp import web

        body = await request.json()
        bid = f"msgbatch_fake_{len(self.batches) + 1:04d}"
        self.batches[bid] = {"requests": body["requests"], "created": time.time(), "canceled": False, "results": None}
        return web.json_response(self._batch(bid, f"{request.scheme}://{request.host}"))

    async def get_batch(self, request):
        from aiohttp import web

        bid = request.match_info["bid"]
        if bid not in self.batches:
            return self._error(404, "not_found_error", f"no batch {bid}")
        return web.json_response(self._batch(bid, f"{request.scheme}://{request.host}"))

    async def cancel_batch(self, request):
        from aiohttp import web

        bid = request.match_info["bid"]
        if bid not in self.batches:
            return self._error(404, "not_found_error", f"no batch {bid}")
        b = self.batches[bid]
        if b["results"] is None:
            b["canceled"], b["cancel_at"] = True, time.time()
        return web.json_response(self._batch(bid, f"{request.scheme}://{request.host}"))

    async def batch_results(self, request):
        from aiohttp import web

        bid = request.match_info["bid"]
        batch = self._batch(bid, "") if bid in self.batches else None
        if batch is None or batch["processing_status"] != "ended":
            return self._error(404, "not_found_error", "the batch has no results yet")
        lines = "".join(json.dumps(r) + "\n" for r in self.batches[bid]["results"])
        return web.Response(text=lines, content_type="application/binary")

    def app(self):
        from aiohttp import web

        async def configure(request):
            self.configure(**(await request.json()))
            return web.json_response(asdict(self.behaviour))

        async def reset(request):
            self.reset(**(await request.json() if request.can_read_body else {}))
            return web.json_response(asdict(self.behaviour))

        async def stats(_request):
            return web.json_response(self.stats())

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/batches", self.create_batch)
        app.router.add_get("/v1/messages/batches/{bid}", self.get_batch)
        app.router.add_post("/v1/messages/batches/{bid}/cancel", self.cancel_batch)
        app.router.add_get("/v1/messages/batches/{bid}/results", self.batch_results)
        app.router.add_post("/_fake/configure", configure)
        app.router.add_post("/_fake/reset", reset)
        app.router.add_get("/_fake/stats", stats)
        return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CellLLM:
    """The fake in a child process, and a small client for its controls."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Self:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--port", str(self.port)],
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.stats()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("the fake LLM exited") from None
                time.sleep(0.05)
        raise RuntimeError("the fake LLM did not start")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        try:
            r = httpx.request(method, self.url + path, json=body, timeout=10)
        except httpx.TransportError as exc:
            raise OSError(str(exc)) from exc
        r.raise_for_status()
        return r.json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "/_fake/configure", changes)

    def reset(self, **behaviour: Any) -> dict[str, Any]:
        return self._call("POST", "/_fake/reset", behaviour)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_fake/stats")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser(description="fake Anthropic Messages API for cell fills")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    web.run_app(Fake().app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
