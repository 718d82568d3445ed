"""The conversation as the offline model reads it: what the user asked, the tool calls made since,
and the step it takes this turn; shared helpers for steps on the active table."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from core.markdown import md_text

MAX_NEW_ROWS = 500
MAX_MATCHED_ROWS = 1000
PAGE = 200


@dataclass
class Step:
    """What the model does this turn: some text, then tool calls."""

    text: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    summary: str = ""  # what a proposing step proposes, as a phrase a longer reply can list

    @property
    def proposing(self) -> bool:
        return any(name.startswith("propose_") or name == "revert_change" for name, _ in self.calls)


@dataclass(frozen=True)
class Done:
    """A tool call made since the request, and what came back."""

    name: str
    input: dict[str, Any]
    text: str
    is_error: bool

    def data(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
    )


def _asked(content: Any) -> str:
    """The user's own words in a user message; tool results and the loop's notes to the model
    ("(Your … call was cut off …)") in the same message are not a request."""
    if isinstance(content, str):
        return content
    blocks = [b for b in content or [] if isinstance(b, dict)]
    with_results = any(b.get("type") == "tool_result" for b in blocks)
    words = [b.get("text", "") for b in blocks if b.get("type") == "text"]
    if with_results:
        words = [w for w in words if not (w.strip().startswith("(") and w.strip().endswith(")"))]
    # the chat's notes before the user's words ("(The user switched this chat to workspace …)") neither
    return "\n".join(_without_notes(w) for w in words if _without_notes(w).strip())


def _without_notes(text: str) -> str:
    lines = text.split("\n")
    while len(lines) > 1 and lines[0].strip().startswith("(") and lines[0].strip().endswith(")"):
        lines = lines[1:]
    return "\n".join(lines)


def read_conversation(messages: list[dict]) -> tuple[str, list[Done]]:
    """The last thing the user asked, and the tool calls made (with results) since."""
    ask_at, ask = -1, ""
    for i, msg in enumerate(messages):
        if msg.get("role") == "user" and (words := _asked(msg.get("content"))).strip():
            ask_at, ask = i, words
    calls: dict[str, tuple[str, dict]] = {}
    done: list[Done] = []
    for msg in messages[ask_at + 1 :]:
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "tool_use":
                calls[b["id"]] = (b["name"], b.get("input") or {})
            elif b.get("type") == "tool_result" and b.get("tool_use_id") in calls:
                name, args = calls[b["tool_use_id"]]
                done.append(Done(name, args, _text_of(b.get("content")), bool(b.get("is_error"))))
    return ask, done


def error_text(text: str) -> str:
    return re.sub(r"^Error:\s*", "", text.strip())


def need_table(done: list[Done]) -> tuple[dict | None, Step | None]:
    """The active table from get_table, or the step that fetches it (or explains why it cannot)."""
    got = next((d for d in reversed(done) if d.name == "get_table"), None)
    if got is None:
        return None, Step("Let me look at the table first.", [("get_table", {"sample_rows": 5})])
    if got.is_error:
        why = (
            "there is no active table yet"
            if "no table is active" in got.text
            else md_text(error_text(got.text).rstrip("."), limit=None)
        )
        return None, Step(
            f"I need a table to work on, but {why}. Open one of your tables, or ask me to "
            "“create a table of …” first."
        )
    return got.data(), None


def find_column(table: dict, name: str) -> dict | None:
    key = name.strip().casefold()
    cols = table.get("columns", [])
    return next((c for c in cols if c["name"].casefold() == key or c["id"] == name.strip()), None) or next(
        (c for c in cols if c["name"].casefold().replace(" ", "") == key.replace(" ", "")), None
    )


def no_column(table: dict, name: str) -> Step:
    names = ", ".join(md_text(c["name"]) for c in table.get("columns", []))
    return Step(
        f"“{md_text(table.get('name'))}” has no column named “{md_text(name)}”. Its columns are: {names}."
    )


SCHEMA_GUIDE = (
    "You can see them highlighted in the table preview: added columns in green, removed ones in red "
    "and struck through (their data will be lost), changed ones in amber. Uncheck any change you don't "
    "want, then click **Apply** to make the checked changes, or **Dismiss** to leave the table as it is."
)
DATA_GUIDE = (
    "You can review them in the preview: new rows at the top in green, updated cells in amber with the "
    "old value shown, deleted rows in red. Uncheck any rows you don't want, then click **Apply** to make "
    "the checked changes, or **Dismiss** to cancel."
)

