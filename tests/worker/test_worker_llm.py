"""The cell model seam: the real SDK against the fake server, errors sorted into what to do next, and
the offline model producing values every column type accepts."""

import json

import pytest

from db.coerce import coerce
from worker import prompt
from worker.llm import AnthropicCellModel, CellModelError, CellRequest, OfflineCellModel, min_cache_tokens


def _request(column, rows, *, model="claude-haiku-4-5", padding=""):
    return CellRequest(model=model, system="Column to fill: " + json.dumps(column) + padding,
                       user="<rows>\n" + "\n".join(json.dumps(r) for r in rows) + "\n</rows>",
                       max_tokens=200, column=column, rows=tuple(rows))


ROWS = [{"row_id": "1", "values": {"Description": "Acme makes anvils"}},
        {"row_id": "2", "values": {"Description": "Initech writes reports"}}]


async def test_a_reply_carries_text_and_usage_with_cache_tokens(fake):
    fake.configure(min_cache_tokens=0)  # a model that caches any prefix
    model = AnthropicCellModel(api_key="test", base_url=fake.url, timeout=5)
    first = await model.complete(_request({"name": "Out", "type": "text"}, ROWS))
    second = await model.complete(_request({"name": "Out", "type": "text"}, ROWS))
    await model.close()
    assert prompt.parse({"name": "Out", "type": "text"}, first.text, [1, 2])[2] == (True, "about Initech writes reports")
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens and second.output_tokens > 0


def test_each_model_has_its_minimum_cacheable_length_and_unknown_ones_the_largest():
    assert min_cache_tokens("claude-haiku-4-5") == 4096 and min_cache_tokens("claude-haiku-4-5-20251001") == 4096
    assert min_cache_tokens("claude-sonnet-4-5") == 1024 and min_cache_tokens("claude-opus-4-1") == 1024
    assert min_cache_tokens("claude-opus-4-6") == 4096 and min_cache_tokens("claude-3-5-haiku-latest") == 2048
    assert min_cache_tokens("some-new-model") == 4096


async def test_a_prefix_shorter_than_the_models_minimum_is_billed_in_full_as_on_the_api(fake):
    model = AnthropicCellModel(api_key="test", base_url=fake.url, timeout=5)
    column = {"name": "Out", "type": "text"}
    short = [await model.complete(_request(column, ROWS, model="claude-sonnet-4-5")) for _ in range(2)]
    # about 1,100 tokens of prefix: cached by Sonnet 4.5 (1,024), not by Haiku 4.5 (4,096)
    pad = "\n" + "A rule the column follows. " * 160
    sonnet = [await model.complete(_request(column, ROWS, model="claude-sonnet-4-5", padding=pad)) for _ in range(2)]
    haiku = [await model.complete(_request(column, ROWS, model="claude-haiku-4-5", padding=pad)) for _ in range(2)]
    await model.close()
    assert all(r.cache_read_tokens == r.cache_write_tokens == 0 for r in short + haiku)
    assert haiku[1].input_tokens == haiku[0].input_tokens > 1024
    assert sonnet[0].cache_write_tokens > 1024 and sonnet[1].cache_read_tokens == sonnet[0].cache_write_tokens
    assert sonnet[1].input_tokens < 100


@pytest.mark.parametrize(("behaviour", "kind", "words"), [
    ({"rate_limit_rate": 1.0, "retry_after_s": 7}, "retryable", "rate limit"),
    ({"overloaded_rate": 1.0}, "retryable", "overloaded"),
    ({"server_error_rate": 1.0}, "retryable", "failed"),
    ({"timeout_rate": 1.0, "hang_s": 3}, "retryable", "in time"),
    ({"poison": "anvils"}, "isolate", "prompt is too long"),
    ({"fatal": "auth"}, "fatal", "invalid x-api-key"),
    ({"fatal": "spend"}, "fatal", "spend limit"),
])
async def test_errors_say_whether_to_retry_split_or_give_up(fake, behaviour, kind, words):
    fake.configure(**behaviour)
    model = AnthropicCellModel(api_key="test", base_url=fake.url, timeout=1)
    with pytest.raises(CellModelError) as caught:
        await model.complete(_request({"name": "Out", "type": "text"}, ROWS))
    await model.close()
    err = caught.value
    assert (err.retryable, err.isolate, err.fatal) == (kind == "retryable", kind == "isolate", kind == "fatal")
    assert words in err.message
    if "retry_after_s" in behaviour:
        assert err.rate_limited and err.retry_after == 7


@pytest.mark.parametrize("column", [
    {"name": "T", "type": "text"}, {"name": "L", "type": "long_text"}, {"name": "N", "type": "number"},
    {"name": "B", "type": "boolean"}, {"name": "D", "type": "date"}, {"name": "U", "type": "url"},
    {"name": "E", "type": "email"}, {"name": "J", "type": "json"},
    {"name": "S", "type": "select", "options": ["Hardware", "Anvils", "Reports"]},
    {"name": "M", "type": "multi_select", "options": ["anvils", "reports"]},
])
async def test_the_offline_model_answers_every_row_with_a_valid_value(column):
    reply = await OfflineCellModel().complete(_request(column, ROWS))
    parsed = prompt.parse(column, reply.text, [1, 2])
    assert all(ok for ok, _ in parsed.values()), parsed
    for ok, value in parsed.values():
        assert coerce({**column, "required": False}, value, check_required=False) == value
    if column["type"] == "select":
        assert parsed[1][1] == "Anvils"  # an option named in the row is the one picked
