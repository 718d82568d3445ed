"""SPEC §7: a reply that carries a proposal names its buttons and asks no permission; the app makes sure."""

from __future__ import annotations

import re

from tools.base import BUTTONS  # what the reply must name, per proposal kind

LEADS = {
    "create": "I've proposed a new table.",
    "update": "I've proposed changes to the table's columns.",
    "data": "I've proposed changes to the table's rows.",
}

GUIDES = {
    "create": "You can see the proposed table with its sample rows in the preview above: uncheck any columns "
    "you don't need and choose whether to include the sample data, then click **Create Table** to build it, "
    "or **Dismiss** to discard it.",
    "update": "The proposed changes are highlighted in the table preview above (new columns in green, removed "
    "ones in red, changed ones in amber): click **Apply** to make them, or **Dismiss** to leave the table "
    "as it is.",
    "data": "The proposed changes are highlighted in the table preview above (new rows in green, updates in "
    "amber, deletions in red): uncheck any rows you don't want, then click **Apply** to make the checked "
    "changes, or **Dismiss** to discard them.",
}

# sentences that hand the decision back to the chat instead of to the buttons
PERMISSION = re.compile(
    r"^\W*(would you like|shall i|should i|do you want|want me to|ready to|are you ready|let me know if"
    r"|let me know whether|let me know when|just let me know|if you('d| would) like me to|can i (go ahead|proceed)"
    r"|may i|is (this|that) (ok|okay|alright|fine)|does (this|that) look|sound(s)? good|okay to proceed"
    r"|ok to proceed|shall we|should we|do you approve|would you prefer|want to proceed)",
    re.IGNORECASE,
)
PERMISSION_QUESTION = re.compile(r"\b(proceed|go ahead|continue|create it|apply (it|them|these|this))\b.*\?\W*$",
                                 re.IGNORECASE)
SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+[\"')\]*_]*|\n|$)")


def kind_of(tool: str, tool_input: dict | None) -> str:
    """The proposal kind (create / update / data) a proposing tool call made."""
    from tools.registry import proposal_kind  # the tools themselves load once the first turn runs a tool

    return proposal_kind(tool, tool_input)


def asks_permission(sentence: str) -> bool:
    """True for 'Would you like me to…', 'Shall I…', 'Ready to…?' and the like."""
    s = sentence.strip()
    return bool(s) and (bool(PERMISSION.match(s)) or bool(PERMISSION_QUESTION.search(s)))


def names_buttons(text: str, kind: str) -> bool:
    """True when the text names both buttons of this kind of proposal."""
    return all(re.search(rf"\b{re.escape(b)}\b", text) for b in BUTTONS[kind])


def without_permission(text: str, *, partial: bool = False) -> str:
    """The text as it may be shown while a turn runs: without its permission questions, which `enforce`
    cuts if the turn ends with a proposal; `partial` (still streaming) also holds back the last sentence,
    which may yet turn into one."""
    pieces = [m.group(0) for m in SENTENCE.finditer(text) if m.group(0)]
    if partial and pieces and not pieces[-1].endswith("\n"):
        pieces.pop()
    return "".join(("\n" if p.endswith("\n") else "") if asks_permission(p) else p for p in pieces)


def enforce(text: str, kind: str) -> str:
    """The reply with permission questions cut, and the guidance sentence put in if the buttons go unnamed."""
    pieces = [m.group(0) for m in SENTENCE.finditer(text) if m.group(0)]
    kept: list[str] = []
    removed_at: int | None = None
    for piece in pieces:
        if asks_permission(piece):
            if removed_at is None:
                removed_at = len(kept)
            if piece.endswith("\n"):
                kept.append("\n")
            continue
        kept.append(piece)
    body = "".join(kept)
    if names_buttons(body, kind):
        return _tidy(body)
    guide = GUIDES[kind]
    if not body.strip():
        return f"{LEADS[kind]} {guide}"
    if removed_at is None:
        return _tidy(body) + "\n\n" + guide
    before, after = "".join(kept[:removed_at]), "".join(kept[removed_at:])
    return _tidy(f"{before.rstrip()} {guide} {after.lstrip()}")


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", text).strip()
