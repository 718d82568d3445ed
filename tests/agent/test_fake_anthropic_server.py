"""The fake Anthropic server itself: JSON mode, behaviours, simulated prompt cache (what later users rely on)."""

from __future__ import annotations

import time

import pytest
from fakes.anthropic_server import Behaviour, HttpError, Reply, Text


def ask(client, text: str, system: str = "You fill cells.", **kwargs):
    return client.messages.create(model="claude-cells", max_tokens=200, system=system,
                                  messages=[{"role": "user", "content": text}], **kwargs)


async def test_non_streaming_answers_come_from_the_behaviour(fake_anthropic, sdk_client):
    fake_anthropic.reset(Behaviour(respond=lambda call: Reply(call.messages[0]["content"].upper())))
    message = await ask(sdk_client, "row 7: hello")
    assert message.content[0].text == "ROW 7: HELLO" and message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3 and message.usage.input_tokens > 0
    assert not fake_anthropic.calls[0].stream
    assert fake_anthropic.usage.output_tokens == 3


async def test_an_unscripted_call_fails_loudly(fake_anthropic, sdk_client):
    import anthropic

    with pytest.raises(anthropic.BadRequestError, match="nothing scripted"):
        await ask(sdk_client, "hi")


async def test_error_rate_latency_and_malformed_answers(fake_anthropic, sdk_client):
    import anthropic

    client = sdk_client
    fake_anthropic.reset(Behaviour(respond=lambda call: Reply("{}"), error_rate=1.0))
    with pytest.raises(anthropic.InternalServerError) as caught:
        await ask(client, "hi")
    assert caught.value.status_code == 529 and caught.value.type == "overloaded_error"

    fake_anthropic.reset(Behaviour(respond=lambda call: Reply("x" * 400), latency_s=0.2,
                                   latency_per_output_token_s=0.001))
    started = time.perf_counter()
    await ask(client, "hi")
    assert time.perf_counter() - started >= 0.2 + 0.1  # 100 output tokens at 1 ms each

    answer = '{"row_1": "Paris", "row_2": "Rome"}'
    fake_anthropic.reset(Behaviour(respond=lambda call: Reply([Text(answer)]), malformed_rate=1.0))
    message = await ask(client, "capitals")
    assert message.content[0].text == answer[: len(answer) // 2]


async def test_half_the_calls_fail_at_an_error_rate_of_a_half(fake_anthropic, sdk_client):
    import anthropic

    fake_anthropic.reset(Behaviour(respond=lambda call: Reply("ok"), error_rate=0.5, seed=7))
    failed = 0
    for _ in range(40):
        try:
            await ask(sdk_client, "hi")
        except anthropic.InternalServerError:
            failed += 1
    assert 10 <= failed <= 30


async def test_http_errors_carry_retry_after(fake_anthropic, sdk_client):
    import anthropic

    fake_anthropic.script(HttpError(429, retry_after=3))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await ask(sdk_client, "hi")
    assert caught.value.response.headers["retry-after"] == "3"


async def test_the_prompt_cache_is_written_then_read_and_ignores_short_prefixes(fake_anthropic, sdk_client):
    fake_anthropic.reset(Behaviour(respond=lambda call: Reply("ok"), min_cache_tokens=1024))
    client = sdk_client
    long_system = [{"type": "text", "text": "Rules. " * 1000, "cache_control": {"type": "ephemeral"}}]
    first = await ask(client, "row 1", system=long_system)
    second = await ask(client, "row 2", system=long_system)
    assert first.usage.cache_creation_input_tokens >= 1024 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens < 50  # only the uncached row is billed in full
    short = [{"type": "text", "text": "Short rules.", "cache_control": {"type": "ephemeral"}}]
    await ask(client, "row 3", system=short)
    third = await ask(client, "row 4", system=short)
    assert third.usage.cache_read_input_tokens == 0 and third.usage.cache_creation_input_tokens == 0
