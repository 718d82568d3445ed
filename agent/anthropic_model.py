"""The Anthropic model: Claude over the official SDK's async streaming API, with prompt caching."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from agent.model import MessageDone, ModelError, ModelEvent, ModelRequest, TextDelta, ToolUseStart

if TYPE_CHECKING:  # the SDK takes ~3 s to import; only load it when Claude is really called
    from anthropic import AsyncAnthropic

EPHEMERAL = {"type": "ephemeral"}
RETRYABLE_TYPES = {"overloaded_error", "rate_limit_error", "api_error", "timeout_error"}
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def default_client() -> AsyncAnthropic:
    """A client from the settings; the loop retries by itself, so the SDK does not."""
    from anthropic import AsyncAnthropic

    from core.settings import get_settings

    settings = get_settings()
    return AsyncAnthropic(
        api_key=settings.anthropic_api_key, base_url=settings.anthropic_base_url, max_retries=0
    )


class AnthropicModel:
    """Streams an assistant turn from Claude; maps SDK events and errors onto `agent.model`."""

    offline = False

    def __init__(
        self,
        client: AsyncAnthropic | None = None,
        model: str | None = None,
        *,
        client_factory: Callable[[], AsyncAnthropic] = default_client,
    ) -> None:
        if model is None:
            from core.settings import get_settings

            model = get_settings().chat_model
        self.name = model
        self._client = client
        self._client_factory = client_factory

    @property
    def client(self) -> AsyncAnthropic:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """The Messages API arguments, with cache breakpoints on the system prompt, tools and conversation."""
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": request.max_tokens,
            "system": [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}],
            "messages": _cache_last_message(request.messages),
        }
        if request.tools:
            tools = [dict(t) for t in request.tools]
            tools[-1]["cache_control"] = EPHEMERAL
            params["tools"] = tools
        return params

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Text deltas and tool starts as they arrive, then the whole message."""
        import anthropic

        try:
            async with self.client.messages.stream(**self.params(request)) as stream:
                async for event in stream:
                    if event.type == "text" and event.text:
                        yield TextDelta(event.text)
                    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                        yield ToolUseStart(event.content_block.id, event.content_block.name)
                message = await stream.get_final_message()
        except anthropic.APIStatusError as exc:
            raise _status_error(exc) from exc
        except anthropic.APIConnectionError as exc:
            raise ModelError(f"Could not reach Claude: {exc}", retryable=True, kind="connection") from exc
        except ValueError as exc:  # a garbled stream (e.g. tool input that is not JSON): worth another try
            raise ModelError(f"Claude's reply could not be read: {exc}", retryable=True, kind="malformed") from exc
        usage = message.usage.model_dump()
        yield MessageDone(
            content=[_block(b) for b in message.content],
            stop_reason=message.stop_reason or "end_turn",
            usage={k: usage.get(k) or 0 for k in USAGE_KEYS},
        )


def _cache_last_message(messages: list[dict]) -> list[dict]:
    """A copy whose last block carries a breakpoint, so each loop iteration reads the earlier ones from cache."""
    if not messages:
        return messages
    last = dict(messages[-1])
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else [dict(b) for b in content]
    if not blocks:
        return messages
    blocks[-1]["cache_control"] = EPHEMERAL
    last["content"] = blocks
    return [*messages[:-1], last]


def _block(block: Any) -> dict:
    """A content block as a plain dict that can be stored with the thread and sent back as is."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input or {}}
    return block.model_dump(mode="json", exclude_none=True)


def _status_error(exc: Any) -> ModelError:
    status = exc.status_code
    spend_limit = bool(exc.error_code and "spend_limit" in exc.error_code)
    kind = "spend_limit" if spend_limit else exc.type or ("overloaded_error" if status == 529 else "api_error")
    # an `event: error` inside a 200 stream arrives with status 200: its type says what happened
    retryable = not spend_limit and (status in RETRYABLE_STATUS or (status == 200 and kind in RETRYABLE_TYPES))
    message = exc.api_message or str(exc)
    return ModelError(message, retryable=retryable, retry_after=_retry_after(exc), status=status, kind=kind)


def _retry_after(exc: Any) -> float | None:
    headers = exc.response.headers
    try:
        if ms := headers.get("retry-after-ms"):
            return float(ms) / 1000
        if value := headers.get("retry-after"):
            try:
                return float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None
    return None
