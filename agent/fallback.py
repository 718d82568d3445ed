"""Proposals written into the reply text (`SCHEMA_PROPOSAL: {json}` / `DATA_PROPOSAL: {json}`), as the
seeds' models do: cut them out of the text and hand them on as the matching tool calls."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

TOOLS = {"SCHEMA": "propose_schema", "DATA": "propose_data"}

# the marker, optionally bold or in backticks, optionally opening a fence before or after it
MARKER = re.compile(
    r"(?P<fence>```[a-zA-Z]*[ \t]*\n?[ \t]*)?[*`]*\b(?P<kind>SCHEMA|DATA)_PROPOSAL[*`]*[ \t]*:[*`]*"
    r"(?P<open>\s*```[a-zA-Z]*)?\s*(?=\{)"
)
CLOSING_FENCE = re.compile(r"\s*```")
# the part of a marker that may sit at the end of a streamed chunk, waiting for the rest
MARKER_WORDS = ("SCHEMA_PROPOSAL", "DATA_PROPOSAL")
LEAD = re.compile(r"(```[a-zA-Z]*[ \t]*\n?[ \t]*|[*`]+)$")


class Found(NamedTuple):
    """A proposal block taken out of the text: the tool it stands for, its payload, or what was wrong."""

    tool: str
    payload: dict[str, Any] | None
    problem: str | None = None


def _object_end(text: str, start: int) -> int | None:
    """Index just past the JSON object opening at `start` (braces balanced outside strings), or None."""
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def extract(text: str) -> tuple[str, list[Found]]:
    """The text without its proposal blocks, and the blocks found, in order."""
    found: list[Found] = []
    kept: list[str] = []
    pos = 0
    while (m := MARKER.search(text, pos)) is not None:
        tool = TOOLS[m["kind"]]
        start = m.end()
        end = _object_end(text, start)
        kept.append(text[pos: m.start()])
        if end is None:  # cut off: nothing after the marker is fit to show
            found.append(Found(tool, None, f"the {m['kind']}_PROPOSAL JSON block is incomplete"))
            pos = len(text)
            break
        raw = text[start:end]
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError as exc:
            found.append(Found(tool, None, f"the {m['kind']}_PROPOSAL block is not valid JSON ({exc})"))
        else:
            found.append(Found(tool, payload, None) if isinstance(payload, dict)
                         else Found(tool, None, f"the {m['kind']}_PROPOSAL block is not a JSON object"))
        if (m["fence"] or m["open"]) and (close := CLOSING_FENCE.match(text, end)):
            end = close.end()
        pos = end
    kept.append(text[pos:])
    if not found:
        return text, []
    return _tidy("".join(kept)), found


def _tidy(text: str) -> str:
    """Close the gap a removed block leaves: no runs of blank lines, no dangling space."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", text).strip()


class StreamFilter:
    """Passes streamed text through until a proposal marker begins; from there on it holds the text back
    (the finished reply is cleaned with `extract`)."""

    def __init__(self) -> None:
        self._pending = ""
        self.holding = False

    def feed(self, delta: str) -> str:
        """The part of `delta` that can be shown now."""
        if self.holding:
            return ""
        text = self._pending + delta
        for word in MARKER_WORDS:
            at = text.find(word)
            if at >= 0:
                self.holding = True
                # drop an opening fence or emphasis written just before the marker
                head = LEAD.sub("", text[:at])
                self._pending = ""
                return head
        keep = _partial_marker_tail(text)
        self._pending = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """What was held back only in case it began a marker, at the end of a block."""
        out, self._pending = ("" if self.holding else self._pending), ""
        return out


def _partial_marker_tail(text: str) -> int:
    """How many trailing characters of `text` could begin a marker (with a fence or emphasis before it)."""
    best = 0
    for word in MARKER_WORDS:
        for n in range(min(len(word) - 1, len(text)), 0, -1):
            if text.endswith(word[:n]):
                best = max(best, n)
                break
    if lead := LEAD.search(text[: len(text) - best]):
        best += len(lead.group(0))
    return best
