"""User text inside markdown: every name, value or error a user (or a file) supplied is escaped here.

Chat messages are rendered as markdown, so a table named `![x](http://host/ping)` would make every
viewer's browser load that address. `md_text` turns any user-supplied string into inert text:
markdown punctuation is backslash-escaped, HTML cannot open a tag, and line breaks cannot start a
block (a heading, a list, a code fence). Wrap user text once, where it enters a markdown string.
"""

from __future__ import annotations

import re

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones markdown acts on.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:\"'=$%])")
_SPACE = re.compile(r"\s+")


def md_text(value: object, *, limit: int | None = 200) -> str:
    """`value` as one line of literal markdown text, cut to `limit` characters (None: no cut)."""
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return _SPECIAL.sub(r"\\\1", text)


def md_code(value: object, *, limit: int | None = 200) -> str:
    """`value` as inline code: backticks inside cannot close the span early."""
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(value: object, *, info: str = "") -> str:
    """`value` as a fenced code block, line breaks kept: its fence is longer than any backtick run inside,
    so no line of `value` can close the block early (and nothing in it is markdown)."""
    text = "" if value is None else str(value)
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}{info}\n{text}\n{fence}"
