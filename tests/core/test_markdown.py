"""User text never becomes markdown structure: images, links, HTML and blocks stay literal."""

import re

import pytest
from markdown_it import MarkdownIt

from core.markdown import md_block, md_code, md_text

MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")

HOSTILE = [
    "![x](http://attacker/ping)",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "# Heading\n- item\n```\ncode",
    "**bold** _it_ ~~gone~~ `code`",
    "| a | b |\n|---|---|",
    "&lt;b&gt; &#x3C;",
    "<http://attacker/auto>",
    "\\![y](http://attacker/2)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_renders_as_its_own_characters(text):
    html = MD.render(f"Created **{md_text(text, limit=None)}**.")
    assert "<img" not in html and "<a " not in html and "<script" not in html
    assert "<h1" not in html and "<li" not in html and "<pre" not in html and "<table" not in html
    # What the reader sees is the original text, line breaks folded into spaces.
    shown = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">")
    shown = shown.replace("&quot;", '"').replace("&amp;", "&")
    assert " ".join(text.split()) in shown


def test_plain_names_read_unchanged_apart_from_escapes():
    assert md_text("Books") == "Books"
    assert md_text("Price (USD)") == r"Price \(USD\)"


def test_long_text_is_cut():
    assert md_text("x" * 500, limit=10) == "x" * 9 + "…"


def test_code_span_survives_backticks():
    html = MD.render(md_code("a ``b`` c"))
    assert "<code>a ``b`` c</code>" in html


@pytest.mark.parametrize("text", HOSTILE + ['{"name": "![x](http://attacker/ping)"}', "a\n```\n![x](http://h/p)\n````"])
def test_code_block_keeps_every_line_literal(text):
    html = MD.render(md_block(text, info="json") + "\n\nafter ![y](http://attacker/after)")
    body = html.split("</pre>")[0]
    assert html.count("<pre>") == 1 and "<img" not in body and "<a " not in body
    shown = body.split("<code", 1)[1].split(">", 1)[1].split("</code>")[0]
    assert shown.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&") == text + "\n"
