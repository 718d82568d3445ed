"""The agent loop: stream Claude's reply, run the tools it calls, answer them, repeat until it is done.

`run_turn` takes the thread's history (Anthropic message dicts), adds the user's message and everything
the turn produces to it, and leaves it valid whatever happens (every tool_use answered), so the caller can
store it with the thread and a resumed thread goes on where it stopped.

Long because `_Turn` keeps the history valid on every way out of a turn (stream, retry, tool, stop).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from agent import fallback, guidance
from agent.model import MessageDone, Model, ModelError, ModelRequest, TextDelta, ToolUseStart
from agent.prompts import system_prompt
from agent.reply import Reply
from agent.sink import Sink
from tools.base import ToolResult

log = logging.getLogger(__name__)

MAX_TURNS = 8  # model calls per user message
MAX_TOKENS = 4096
INTERRUPTED = "This tool call was interrupted before it finished; it may not have run."

ToolRunner = Callable[[Any, str, dict], Awaitable[Any]]


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying an overloaded or rate-limited Claude before telling the user."""

    attempts: int = 4
    initial_delay: float = 1.0
    max_delay: float = 20.0  # a longer `retry-after` is not waited for: the user is told to come back
    sleep: Callable[[float], Awaitable[None]] | None = None  # tests pass a recorder


@dataclass
class TurnResult:
    """What a turn did: the history to store, the reply as shown, and why it stopped."""

    history: list[dict]
    text: str
    stop: str  # done | awaiting_user | max_turns | max_tokens | refusal | error
    proposal: str | None = None  # create | update | data, when the turn made a proposal
    error: str | None = None
    model_calls: int = 0
    tool_calls: int = 0
    usage: dict[str, int] = field(default_factory=dict)


async def _default_runner(ctx: Any, name: str, raw_input: dict) -> Any:
    from tools.registry import run_tool

    return await run_tool(ctx, name, raw_input)


def _ends_turn(name: str) -> bool:
    """Whether a successful call of this tool always ends the turn (a proposal awaits the user)."""
    from tools.registry import facts

    return facts(name).ends_turn


def _proposes(name: str) -> bool:
    """Whether a successful call of this tool shows a proposal (so the text before it points to one)."""
    from tools.registry import facts

    return facts(name).proposes is not None


@functools.cache
def default_tools() -> tuple[dict, ...]:
    """The tool definitions offered to the model (built once: call it at start-up to warm it)."""
    # building the JSON schemas takes ~40 ms: once per process, not once per message
    from tools.registry import tool_definitions

    return tuple(tool_definitions())


def _result_text(result: Any) -> str:
    if hasattr(result, "text"):
        return result.text()
    return ToolResult(result.content).text()


def _blocks(content: Any) -> list[dict]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def append_user(history: list[dict], blocks: list[dict]) -> None:
    """Add user content; a user turn right after another (the last one failed) joins it."""
    if history and history[-1]["role"] == "user":
        history[-1] = {"role": "user", "content": _blocks(history[-1]["content"]) + blocks}
    else:
        history.append({"role": "user", "content": blocks})


def repair(history: list[dict]) -> list[dict]:
    """Answer tool calls left without results (a crash mid-turn), so the history can be sent again."""
    if history and history[-1]["role"] == "assistant":
        uses = [b for b in _blocks(history[-1]["content"]) if b.get("type") == "tool_use"]
        if uses:
            history.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": u["id"], "content": INTERRUPTED, "is_error": True}
                for u in uses
            ]})
    return history


def plain_error(error: ModelError) -> str:
    """What to tell the user when Claude cannot answer."""
    message = (error.message or "").lower()
    if error.kind == "spend_limit":
        return "The Anthropic account has reached its spending limit, so Claude cannot answer right now."
    if error.status == 401 or error.kind == "authentication_error":
        return "Claude could not be reached: the Anthropic API key was rejected (check ANTHROPIC_API_KEY)."
    if error.retry_after and error.retry_after > 60:
        return f"Claude's rate limit was reached; please try again in {round(error.retry_after / 60)} minutes."
    if error.retry_after and error.status == 429:
        return f"Claude's rate limit was reached; please try again in {max(1, round(error.retry_after))} seconds."
    if error.status == 429 or error.kind == "rate_limit_error":
        return "Claude's rate limit was reached; please try again in a minute."
    if error.kind == "connection":
        return "Claude could not be reached (network error); please try again in a minute."
    if error.retryable:
        return "Claude is overloaded right now; please try again in a minute."
    if "prompt is too long" in message or ("context" in message and "exceed" in message):
        return "This conversation has grown too long for Claude; please start a new chat."
    return f"Claude could not answer this request ({error.message})."


class _Turn:
    def __init__(self, model: Model, ctx: Any, history: list[dict], sink: Sink, *, tool_runner: ToolRunner,
                 tools: list[dict], system: str, max_turns: int, max_tokens: int, retry: RetryPolicy) -> None:
        self.model, self.ctx, self.history, self.sink = model, ctx, history, sink
        self.runner, self.tools, self.system = tool_runner, tools, system
        self.max_turns, self.max_tokens, self.retry = max_turns, max_tokens, retry
        self.reply = Reply(sink)
        self.usage: dict[str, int] = {}
        self.calls = self.tool_calls = 0
        self.proposal: str | None = None
        self.problems: dict[str, str] = {}
        self._status = False  # a retry notice is on screen

    async def run(self, user_text: str) -> TurnResult:
        start = len(self.history)
        append_user(self.history, [{"type": "text", "text": user_text}])
        stop, error, retried_cut = "done", None, False
        while True:
            if self.calls >= self.max_turns:
                await self.sink.on_notice(
                    f"I stopped after {self.max_turns} steps without finishing. Tell me how to go on.")
                stop = "max_turns"
                break
            self.calls += 1
            try:
                done = await self._call()
            except ModelError as exc:
                await self.reply.abandon_call()
                error = plain_error(exc)
                log.warning("model call failed: %s (%s, status %s)", exc.message, exc.kind, exc.status)
                stop = "error"
                break
            except Exception:
                await self.reply.abandon_call()
                log.exception("model call failed")
                error, stop = "Something went wrong while talking to Claude; please try again.", "error"
                break
            for key, value in done.usage.items():
                self.usage[key] = self.usage.get(key, 0) + (value or 0)

            if done.stop_reason == "refusal":
                await self.reply.abandon_call()
                del self.history[start:]  # as the API asks: a refused request is not sent again
                error, stop = ("Claude declined to answer that request, so it has been left out of the "
                               "conversation. You can rephrase it and try again."), "refusal"
                break

            content, texts = self._take_text_proposals(done.content)
            await self.reply.settle_call(texts)
            cut = None
            if done.stop_reason == "max_tokens" and content and content[-1]["type"] == "tool_use":
                cut = content.pop()  # its input is incomplete: it must not run
            if done.stop_reason == "pause_turn":
                self._append_assistant(content)
                continue  # the API resumes the paused turn from the assistant content as is
            self._append_assistant(content)
            notes: list[dict] = []
            if cut is not None and not retried_cut:
                retried_cut = True
                notes.append({"type": "text", "text": (
                    f"(Your {cut['name']} call was cut off at the output limit of {self.max_tokens} tokens "
                    "before its input was complete, so it did not run. Call it again with a smaller input: "
                    "fewer operations or rows, and split bigger changes over several proposals.)")})
            uses = [b for b in content if b["type"] == "tool_use"]
            ends, proposal_failed = await self._run_tools(uses, notes)
            if (proposal_failed or (cut is not None and _proposes(cut["name"]))) and not ends:
                # what this call wrote leads up to a preview that is not there; the history keeps it for
                # the model, and its next call says what is true
                await self.reply.abandon_call()
            if ends:
                stop = "awaiting_user"
                break
            if cut is not None and not notes:
                await self.sink.on_notice(
                    "Claude's reply was too long to finish. Try asking for fewer rows or changes at a time.")
                stop = "max_tokens"
                break
            if uses or cut is not None:
                continue
            if done.stop_reason in ("max_tokens", "model_context_window_exceeded"):
                await self.sink.on_notice("Claude's reply was cut off at its length limit.")
                stop = "max_tokens"
            break

        if self.proposal and not error:
            await self.reply.finish(guidance.enforce(self.reply.text, self.proposal))
        else:  # no proposal: the permission questions held back while streaming stand
            await self.reply.finish(self.reply.text)
        if error:
            await self.sink.on_error(error)
        return TurnResult(self.history, self.reply.text, stop, self.proposal, error, self.calls,
                          self.tool_calls, self.usage)

    # -- one model call, retried ------------------------------------------------------------------------
    async def _call(self) -> MessageDone:
        policy = self.retry
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            before_sleep=self._before_sleep,
            reraise=True,
            **({"sleep": policy.sleep} if policy.sleep else {}),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._stream()
        finally:  # the retry notice is over, whether the call came through or failed for good
            if self._status:
                self._status = False
                await self.sink.on_status(None)
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True raises the last error

    def _retryable(self, exc: BaseException) -> bool:
        return (isinstance(exc, ModelError) and exc.retryable
                and (exc.retry_after is None or exc.retry_after <= self.retry.max_delay))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception()
        if isinstance(exc, ModelError) and exc.retry_after is not None:
            return exc.retry_after
        backoff = wait_exponential_jitter(initial=self.retry.initial_delay, max=self.retry.max_delay,
                                          jitter=self.retry.initial_delay)
        return backoff(state)

    async def _before_sleep(self, state: RetryCallState) -> None:
        await self.reply.abandon_call()
        delay = state.next_action.sleep if state.next_action else 0
        self._status = True
        await self.sink.on_status(
            f"Claude is busy; trying again in {delay:.0f} s (attempt {state.attempt_number + 1} "
            f"of {self.retry.attempts}).")

    async def _stream(self) -> MessageDone:
        request = ModelRequest(self.system, list(self.history), self.tools, self.max_tokens)
        self.reply.begin_call()
        done: MessageDone | None = None
        async for event in self.model.stream(request):
            if isinstance(event, TextDelta):
                await self.reply.delta(event.text)
            elif isinstance(event, ToolUseStart):
                await self.reply.end_block()
            elif isinstance(event, MessageDone):
                done = event
        await self.reply.end_block()
        if done is None:
            raise ModelError("The reply stopped before it was complete.", retryable=True, kind="incomplete")
        return done

    # -- content ----------------------------------------------------------------------------------------
    def _take_text_proposals(self, content: list[dict]) -> tuple[list[dict], list[str]]:
        """Content with proposal blocks cut out of its text and turned into tool calls, and its texts."""
        out: list[dict] = []
        texts: list[str] = []
        for block in content:
            if block.get("type") != "text":
                out.append(block)
                continue
            clean, found = fallback.extract(block["text"])
            texts.append(clean)
            if clean.strip():  # the API refuses empty text blocks
                out.append({**block, "text": clean} if found else block)
            for item in found:
                tool_id = f"toolu_text_{uuid.uuid4().hex[:20]}"
                if item.problem:
                    self.problems[tool_id] = item.problem
                out.append({"type": "tool_use", "id": tool_id, "name": item.tool, "input": item.payload or {}})
        return out, texts

    def _append_assistant(self, content: list[dict]) -> None:
        if not content:
            return
        if self.history and self.history[-1]["role"] == "assistant":  # the continuation of a paused turn
            previous = self.history[-1]
            self.history[-1] = {"role": "assistant", "content": _blocks(previous["content"]) + content}
        else:
            self.history.append({"role": "assistant", "content": content})

    # -- tools ------------------------------------------------------------------------------------------
    async def _run_tools(self, uses: list[dict], notes: list[dict]) -> tuple[bool, bool]:
        """Run every tool call of the message and answer them all in one user turn; whether the turn ends,
        and whether a proposing call failed."""
        results: list[dict] = []
        ends = failed = False
        try:
            for use in uses:
                result = await self._run_tool(use)
                ends = ends or result.ends_turn
                failed = failed or (result.is_error and _proposes(use["name"]))
                block = {"type": "tool_result", "tool_use_id": use["id"], "content": _result_text(result)}
                if result.is_error:
                    block["is_error"] = True
                results.append(block)
        finally:  # even when cancelled, every tool_use gets its answer
            answered = {r["tool_use_id"] for r in results}
            results += [{"type": "tool_result", "tool_use_id": u["id"], "content": INTERRUPTED, "is_error": True}
                        for u in uses if u["id"] not in answered]
            if results or notes:
                append_user(self.history, results + notes)
        return ends, failed

    async def _run_tool(self, use: dict) -> Any:
        name, tool_input = use["name"], use.get("input") or {}
        self.tool_calls += 1
        await self.sink.on_tool_start(use["id"], name, tool_input)
        problem = self.problems.get(use["id"])
        if problem:
            result = ToolResult(f"Error: {problem}. Call {name} with the payload as its input instead.",
                                is_error=True)
        else:
            try:
                result = await self.runner(self.ctx, name, tool_input)
            except Exception as exc:  # a failing tool is something the model can work around
                log.exception("tool %s raised", name)
                result = ToolResult(f"Error: {name} failed ({type(exc).__name__}: {exc}).", is_error=True)
        await self.sink.on_tool_end(use["id"], name, result)
        if not result.is_error and (_ends_turn(name) or result.ends_turn):
            self.proposal = guidance.kind_of(name, tool_input)
        return result


async def run_turn(
    model: Model,
    ctx: Any,
    history: list[dict],
    user_text: str,
    sink: Sink,
    *,
    tool_runner: ToolRunner | None = None,
    tools: list[dict] | None = None,
    system: str | None = None,
    max_turns: int = MAX_TURNS,
    max_tokens: int = MAX_TOKENS,
    retry: RetryPolicy = RetryPolicy(),
) -> TurnResult:
    """Answer one user message: stream, run tools, repeat; `history` is updated in place and returned."""
    repair(history)
    turn = _Turn(
        model, ctx, history, sink,
        tool_runner=tool_runner or _default_runner,
        tools=list(default_tools()) if tools is None else tools,
        system=system or system_prompt(),
        max_turns=max_turns, max_tokens=max_tokens, retry=retry,
    )
    return await turn.run(user_text)
