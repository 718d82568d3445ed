"""Proposal blocks written into the text: cut out of what is shown and handed on as tool calls."""

from __future__ import annotations

import json

from hypothesis import assume, given
from hypothesis import strategies as st

from agent.fallback import StreamFilter, extract

PAYLOAD = {"mode": "create", "table_name": "Books", "operations": [
    {"action": "add", "column": {"name": "Title {x}", "type": "text"}}], "reasoning": "a \"quoted\" } brace"}


def test_a_plain_block_is_cut_out():
    text = f"I've designed a table.\n\nSCHEMA_PROPOSAL: {json.dumps(PAYLOAD)}\n\nClick **Create Table**."
    clean, found = extract(text)
    assert clean == "I've designed a table.\n\nClick **Create Table**."
    assert [(f.tool, f.payload, f.problem) for f in found] == [("propose_schema", PAYLOAD, None)]


def test_fenced_blocks_and_both_kinds():
    text = ("Two things.\n```json\nSCHEMA_PROPOSAL: " + json.dumps(PAYLOAD) + "\n```\n"
            "And rows: **DATA_PROPOSAL:**\n```json\n" + json.dumps({"operations": []}, indent=2) + "\n```\nDone.")
    clean, found = extract(text)
    assert "```" not in clean and "PROPOSAL" not in clean and "operations" not in clean
    assert clean.startswith("Two things.") and clean.endswith("Done.")
    assert [f.tool for f in found] == ["propose_schema", "propose_data"]
    assert found[1].payload == {"operations": []}


def test_broken_and_unfinished_blocks_are_cut_and_reported():
    clean, found = extract('Rows: DATA_PROPOSAL: {"operations": [1,]} ok')
    assert clean == "Rows: ok" and found[0].payload is None and "not valid JSON" in found[0].problem
    clean, found = extract('Here it comes. SCHEMA_PROPOSAL: {"mode": "create", "operations": [')
    assert clean == "Here it comes." and "incomplete" in found[0].problem


def test_text_without_a_block_is_untouched():
    text = "The SCHEMA_PROPOSAL format is described below: no braces here.\n\n  indented"
    assert extract(text) == (text, [])


def stream(text: str, size: int) -> str:
    f = StreamFilter()
    return "".join(f.feed(text[i: i + size]) for i in range(0, len(text), size)) + f.flush()


@given(st.text(alphabet=st.sampled_from(list("ab *`\n{}SCHEMA_PROPOSL:")), max_size=80), st.integers(1, 9))
def test_text_without_a_marker_streams_through_unchanged(text, size):
    assume("SCHEMA_PROPOSAL" not in text and "DATA_PROPOSAL" not in text)
    assert stream(text, size) == text


@given(st.integers(1, 12))
def test_a_block_is_never_streamed_whatever_the_chunking(size):
    text = "Here you go.\n```json\nSCHEMA_PROPOSAL: " + json.dumps(PAYLOAD) + "\n```\nClick **Create Table**."
    shown = stream(text, size)
    assert shown == "Here you go.\n"
    assert extract(text)[0].startswith(shown.strip())
