"""The cell model seam: the real SDK against the fake server, errors sorted into what to do next, and
the offline model producing values every column type accepts."""

import json

import pytest

from db.coerce import coerce
from worker import prompt
from worker.llm import AnthropicCellModel, CellModelError, CellRequest, OfflineCellModel


def _request(column, rows):
    return CellRequest(model="claude-haiku-4-5", system="Column to fill: " + json.dumps(column),
                       user="<rows>\n" + "\n".join(json.dumps(r) for r in rows) + "\n</rows>",
                       max_tokens=200, column=column, rows=tuple(rows))


ROWS = [{"row_id": "1", "values": {"Description": "Acme makes anvils"}},
        {"row_id": "2", "values": {"Description": "Initech writes reports"}}]


async def test_a_reply_carries_text_and_usage_with_cache_tokens(fake):
    model = AnthropicCellModel(api_key="test", base_url=fake.url, timeout=5)
    first = await model.complete(_request({"name": "Out", "type": "text"}, ROWS))
    second = await model.complete(_request({"name": "Out", "type": "text"}, ROWS))
    await model.close()
    assert prompt.parse({"name": "Out", "type": "text"}, first.text, [1, 2])[2] == (True, "about Initech writes reports")
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens and second.output_tokens > 0


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
