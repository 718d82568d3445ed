"""The model that fills cells, behind one small interface: Claude through the official SDK, or the
built-in offline model. Errors come out classified: retry later, isolate the row, or give up."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

PRICES = (  # USD per million tokens (input, output), longest prefix wins; unknown models priced as Sonnet
    ("claude-opus-4-5", 5.0, 25.0), ("claude-opus-4-6", 5.0, 25.0), ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet", 3.0, 15.0), ("claude-haiku-4", 1.0, 5.0), ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-haiku", 0.25, 1.25), ("offline", 0.0, 0.0),
)
CACHE_WRITE, CACHE_READ = 1.25, 0.10
# The shortest prefix a model caches, in tokens; a cache breakpoint on a shorter one is ignored (the
# call succeeds and bills every token at the full rate). Longest prefix wins; unknown models get the
# largest minimum, so nothing is credited that the API might not give. Source: Anthropic's prompt
# caching docs ("Minimum cacheable prompt length", as of Nov 2026): 4096 for Opus 4.5/4.6 and Haiku 4.5,
# 2048 for Haiku 3/3.5 and Opus 4.7, 1024 for Sonnet 4/4.5, Sonnet 3.7 and Opus 4/4.1; Sonnet 4.6 is
# listed at 1024 but reported to cache only from 2048 (anthropic-sdk-python issue 1194): 2048 here.
MIN_CACHE_TOKENS = (
    ("claude-opus-4-7", 2048), ("claude-opus-4-6", 4096), ("claude-opus-4-5", 4096), ("claude-opus-4", 1024),
    ("claude-sonnet-4-6", 2048), ("claude-sonnet-4", 1024), ("claude-3-7-sonnet", 1024),
    ("claude-haiku-4", 4096), ("claude-3-5-haiku", 2048), ("claude-3-haiku", 2048),
)
UNKNOWN_MIN_CACHE_TOKENS = 4096
FATAL_TYPES = {"authentication_error", "permission_error", "billing_error", "not_found_error"}


@dataclass(frozen=True)
class CellRequest:
    """One call: the shared prefix (cached), the rows as text, and the same rows as data."""

    model: str
    system: str
    user: str
    max_tokens: int
    column: dict[str, Any] = field(default_factory=dict)
    rows: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class CellReply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str | None = None


class CellModelError(Exception):
    """A failed call. `retryable`: try again later (after `retry_after` s when given); `isolate`: the
    request itself was refused, so a batch should be split into single rows; `fatal`: no call of this
    job can succeed (bad key, billing, unknown model); `rate_limited`: slow everyone down."""

    def __init__(self, message: str, *, retryable: bool = False, isolate: bool = False, fatal: bool = False,
                 rate_limited: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable, self.isolate, self.fatal = retryable, isolate, fatal
        self.rate_limited, self.retry_after = rate_limited, retry_after


class CellModel(Protocol):
    async def complete(self, request: CellRequest) -> CellReply: ...

    async def close(self) -> None: ...


def price(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens for `model`."""
    best = max((p for p in PRICES if model.startswith(p[0])), key=lambda p: len(p[0]), default=None)
    return (best[1], best[2]) if best else (3.0, 15.0)


def min_cache_tokens(model: str) -> int:
    """The shortest prompt prefix `model` caches (see MIN_CACHE_TOKENS)."""
    best = max((m for m in MIN_CACHE_TOKENS if model.startswith(m[0])), key=lambda m: len(m[0]), default=None)
    return best[1] if best else UNKNOWN_MIN_CACHE_TOKENS


BATCH_DISCOUNT = 0.5  # the Message Batches API bills half the price of the same calls


def cost_usd(model: str, reply: CellReply, *, batch: bool = False) -> float:
    """What a call cost: input, cache writes (1.25×), cache reads (0.1×) and output; half of it in a batch."""
    inp, out = price(model)
    return (BATCH_DISCOUNT if batch else 1.0) * (reply.input_tokens * inp + reply.cache_write_tokens * inp * CACHE_WRITE
            + reply.cache_read_tokens * inp * CACHE_READ + reply.output_tokens * out) / 1e6


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        try:
            if value is not None:
                return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


def classify(exc: Exception) -> CellModelError:
    """An SDK exception as a CellModelError with a message a person can act on."""
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return CellModelError("Claude did not answer in time", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return CellModelError("Could not reach Claude (connection error)", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        kind = exc.type or ""
        code = exc.error_code or ""
        said = exc.api_message or kind or f"HTTP {exc.status_code}"
        retry_after = _retry_after(exc.response.headers) if exc.response is not None else None
        if "spend_limit" in code or "billing" in code or kind == "billing_error" or exc.status_code == 402:
            return CellModelError(f"Claude refused: the account's spend limit is reached ({said})", fatal=True)
        if exc.status_code == 429 or kind == "rate_limit_error":
            return CellModelError(f"Claude's rate limit was hit ({said})", retryable=True, rate_limited=True,
                                  retry_after=retry_after)
        if exc.status_code in (401, 403, 404) or kind in FATAL_TYPES:
            return CellModelError(f"Claude refused the request: {said} ({kind or exc.status_code})", fatal=True)
        if exc.status_code in (400, 413, 422) or kind in ("invalid_request_error", "request_too_large"):
            return CellModelError(f"Claude refused the request: {said}", isolate=True)
        if exc.status_code == 529 or kind == "overloaded_error":
            return CellModelError("Claude is overloaded", retryable=True, retry_after=retry_after)
        return CellModelError(f"Claude failed ({said})", retryable=True, retry_after=retry_after)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return CellModelError("Claude's answer could not be read", retryable=True)
    raise exc


class AnthropicCellModel:
    """Claude through the official SDK, on its aiohttp transport (about half the CPU per call of the
    default one); no SDK retries (the workers schedule them). The answer is read from the raw JSON: a
    fill makes hundreds of calls a second and needs only the text and the usage, not the typed objects."""

    def __init__(self, *, api_key: str | None, base_url: str | None = None, timeout: float = 60.0,
                 client: Any = None):
        from anthropic import AsyncAnthropic, DefaultAioHttpClient

        self.client = client or AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout,
                                               http_client=DefaultAioHttpClient())

    async def complete(self, request: CellRequest) -> CellReply:
        import anthropic

        try:
            raw = await self.client.messages.with_raw_response.create(**params(request))
            body = json.loads(raw.http_response.content)
            usage = body.get("usage") or {}
            return CellReply(
                text="".join(b.get("text", "") for b in body.get("content") or () if b.get("type") == "text"),
                input_tokens=int(usage.get("input_tokens") or 0), output_tokens=int(usage.get("output_tokens") or 0),
                cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
                cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
                stop_reason=body.get("stop_reason"),
            )
        except anthropic.AnthropicError as exc:
            raise classify(exc) from exc
        except (ValueError, TypeError, AttributeError) as exc:  # not the JSON of a message
            raise CellModelError("Claude's answer could not be read", retryable=True) from exc

    # -- Message Batches: the same requests, answered within 24 h at half the price

    async def submit_batch(self, requests: list[tuple[str, CellRequest]]) -> str:
        """Submit (custom id, request) pairs as one Message Batch; returns its id."""
        import anthropic

        try:
            batch = await self.client.messages.batches.create(
                requests=[{"custom_id": cid, "params": params(req)} for cid, req in requests])
        except anthropic.AnthropicError as exc:
            raise classify(exc) from exc
        return batch.id

    async def batch_ended(self, batch_id: str) -> bool:
        import anthropic

        try:
            return (await self.client.messages.batches.retrieve(batch_id)).processing_status == "ended"
        except anthropic.AnthropicError as exc:
            raise classify(exc) from exc

    async def batch_results(self, batch_id: str) -> dict[str, CellReply | CellModelError]:
        """Each request's answer by custom id, or why it has none."""
        import anthropic

        out: dict[str, CellReply | CellModelError] = {}
        try:
            async for item in await self.client.messages.batches.results(batch_id):
                out[item.custom_id] = _batch_result(item.result)
        except anthropic.AnthropicError as exc:
            raise classify(exc) from exc
        return out

    async def cancel_batch(self, batch_id: str) -> None:
        import anthropic

        try:
            await self.client.messages.batches.cancel(batch_id)
        except anthropic.AnthropicError as exc:
            raise classify(exc) from exc

    async def close(self) -> None:
        await self.client.close()


def params(request: CellRequest) -> dict[str, Any]:
    """The Messages API parameters of a call (the system prompt marked as the cached prefix)."""
    return {"model": request.model, "max_tokens": request.max_tokens,
            "system": [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": request.user}]}


def _batch_result(result: Any) -> CellReply | CellModelError:
    if result.type == "succeeded":
        m, u = result.message, result.message.usage
        return CellReply(text="".join(getattr(b, "text", "") for b in m.content if b.type == "text"),
                         input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0,
                         cache_read_tokens=u.cache_read_input_tokens or 0,
                         cache_write_tokens=u.cache_creation_input_tokens or 0, stop_reason=m.stop_reason)
    if result.type == "errored":
        err = result.error.error
        if err.type == "invalid_request_error":
            return CellModelError(f"Claude refused the request: {err.message}", isolate=True)
        return CellModelError(f"Claude failed ({err.message or err.type})", retryable=True)
    return CellModelError(f"The batch request was {result.type}", retryable=True)


class OfflineCellModel:
    """The built-in deterministic model: a plausible value per row from the row's own inputs, so the
    whole pipeline works without a key (the UI says it is offline)."""

    async def complete(self, request: CellRequest) -> CellReply:
        answer = {str(row["row_id"]): offline_value(request.column, row["values"]) for row in request.rows}
        text = json.dumps(answer, ensure_ascii=False)
        return CellReply(text=text, input_tokens=(len(request.system) + len(request.user)) // 4,
                         output_tokens=len(text) // 4, stop_reason="end_turn")

    async def close(self) -> None:
        return None


def offline_value(column: dict[str, Any], values: dict[str, Any]) -> Any:
    """The offline model's answer for one row."""
    words = " ".join(str(v) for v in values.values() if v not in (None, "", [])).split()
    digest = int(hashlib.sha256(" ".join(words).encode()).hexdigest(), 16)
    kind, options = column.get("type"), column.get("options") or []
    found = [o for o in options if o.casefold() in " ".join(words).casefold()]
    if kind in ("text", "long_text"):
        return " ".join(words[:12]) or None
    if kind == "number":
        return len(words)
    if kind == "boolean":
        return bool(words)
    if kind == "date":
        match = re.search(r"\d{4}-\d{2}-\d{2}", " ".join(words))
        return match.group(0) if match else None
    if kind == "select":
        return found[0] if found else (options[digest % len(options)] if options else None)
    if kind == "multi_select":
        return found
    if kind == "url":
        match = re.search(r"https?://\S+", " ".join(words))
        return match.group(0) if match else None
    if kind == "email":
        match = re.search(r"[^@\s]+@[^@\s]+\.\w+", " ".join(words))
        return match.group(0) if match else None
    return {"words": len(words)}
