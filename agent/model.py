"""The model seam: one small interface, implemented by the Anthropic model and the offline model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ModelRequest:
    """One call to the model: system prompt, conversation so far, tool definitions."""

    system: str
    messages: list[dict]
    tools: list[dict]
    max_tokens: int = 4096


@dataclass(frozen=True)
class TextDelta:
    """A piece of assistant text, streamed as it arrives."""

    text: str


@dataclass(frozen=True)
class ToolUseStart:
    """The model has started a tool call (its input is still streaming)."""

    id: str
    name: str


@dataclass(frozen=True)
class MessageDone:
    """The assistant turn is complete: full content blocks, stop reason and token usage."""

    content: list[dict]
    stop_reason: str
    usage: dict = field(default_factory=dict)


ModelEvent = TextDelta | ToolUseStart | MessageDone


@runtime_checkable
class Model(Protocol):
    """Anything that streams an assistant turn for a request."""

    name: str
    offline: bool

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]: ...


class ModelError(Exception):
    """A failed model call, told apart by whether trying again can help (overloaded, rate limited)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
        kind: str = "api_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.kind = kind
