"""What one request asks for: `parse_intent(text)` reads a message into an `Intent` (kind + args)."""

from __future__ import annotations

import re

from agent.offline.column_requests import read_add, removals
from agent.offline.columns import split_columns
from agent.offline.create import read_create
from agent.offline.words import (
    Intent,
    clean,
    count_word,
    parse_cond,
    type_word,
    value_of,
)
from agent.offline.workspace_steps import read_workspace_request

_BATCH = re.compile(
    r"[\s,]+(?:(?:as|in|with|using|via|through|by|at)\s+)?(?:an?\s+|the\s+)?(?:message\s+)?"
    r"(?:batch(?:es)?(?:\s+(?:api|mode|job))?|half[- ]price|cheaper way|cheap way)"
    r"(?:\s*\(?(?:at\s+)?half(?:\s+the)?[- ]price\)?)?[.!]?$", re.IGNORECASE)
_NOW = re.compile(r"[\s,]+(?:right\s+)?(?:now|at once|immediately|in real[- ]?time|realtime)[.!]?$", re.IGNORECASE)


def fill_mode(text: str) -> tuple[str, str | None]:
    """A fill request without its closing "as a batch" / "now", and which of the two it asked for."""
    for mode, pattern in (("batch", _BATCH), ("now", _NOW)):
        found = pattern.search(text)
        if found:
            return text[: found.start()], mode
    return text, None


def parse_intent(text: str) -> Intent:
    """The request in one message; `Intent("help")` when it is not one the offline model knows."""
    t = " ".join(text.strip().split())
    low = t.lower()
    if re.match(r"^\[user (accepted|applied)", low):
        return Intent("accepted", {"text": t})
    if re.match(r"^\[user (dismissed|rejected|declined)", low):
        return Intent("dismissed")
    if (table := read_create(text)) is not None:  # the raw text: a list may be one column a line
        return Intent("create", table)
    t = re.sub(r"^(?:please|pls|ok(?:ay)?|now|hey|hi|and|then|also)[,!]?\s+", "", t, flags=re.IGNORECASE)
    t = re.sub(r"^(?:can|could|would|will) you(?: please)?\s+", "", t, flags=re.IGNORECASE)
    t = re.sub(r"^(?:i(?:'d| would) like to|i want to|i need to|let's|lets)\s+", "", t, flags=re.IGNORECASE)
    t = re.sub(r"[.!?]+$", "", t).strip()
    low = t.lower()
    if re.fullmatch(r"(?:thanks|thank you|thx|ty|cheers|great|perfect|cool|nice|awesome|ok|okay)"
                    r"(?: you| so much| a lot| again)?", low):
        return Intent("thanks")
    if re.fullmatch(r"(help|\?|what can you do|what else can you do|what do you understand|commands|"
                    r"what can i (?:do|ask|say)|how does this work|how do i start|what now|hello|hi)", low):
        return Intent("help", {"why": "asked"})
    if (about := read_workspace_request(t)) is not None:  # before "rename X to Y" and "delete …" of columns
        return about

    m = re.match(
        r"^(?:delete|remove|drop|get rid of|erase)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?"
        r"(?:rows?|records?|entries|items|everything|anything|all)\s+"
        r"(?:where|with|whose|that have|which have|in which|for which|if)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m:
        cond = parse_cond(m.group(1))
        return Intent("delete_rows", {"cond": cond}) if cond else Intent("help", {"why": "condition"})
    m = re.match(
        r"^(?:delete|remove|drop|get rid of)\s+(?:the\s+)?(?:rows?|records?)\s+(?:#|ids?\s+)?"
        r"(\d+(?:\s*(?:,|and|&)\s*#?\d+)*)$",
        t,
        re.IGNORECASE,
    )
    if m:
        return Intent("delete_rows", {"ids": [int(x) for x in re.findall(r"\d+", m.group(1))]})

    m = re.match(
        r"^(?:make|mark|set)\s+(?:the\s+)?(?:column\s+)?(.+?)(?:\s+column)?\s+(?:as\s+)?(required|mandatory|"
        r"optional|not required|non-required)$",
        t,
        re.IGNORECASE,
    )
    if m:
        required = m.group(2).lower() in ("required", "mandatory")
        return Intent("modify", {"name": clean(m.group(1)), "changes": {"required": required}})

    m = re.match(
        r"^(?:set|change|update|mark)\s+(?:the\s+)?(?:value\s+of\s+)?(.+?)\s+(?:to|=|as)\s+(.+?)"
        r"(?:\s+(?:where|for rows where|for all rows where|for the rows where|when|if|whenever)\s+(.+))?$",
        t,
        re.IGNORECASE,
    )
    if m and not (
        (re.match(r"^(?:change|make|set up)\b", t, re.IGNORECASE) or re.search(r"\scolumn$", m.group(1), re.IGNORECASE))
        and type_word(m.group(2))
        and not m.group(3)
    ):
        column = re.sub(r"^(?:the\s+|all\s+)", "", clean(m.group(1)), flags=re.IGNORECASE)
        value = m.group(2)
        everywhere = re.search(
            r"\s+(?:for|in|on)\s+(?:all|every|each)\s+(?:the\s+)?(?:rows?|records?)$", value, re.IGNORECASE
        )
        if everywhere:
            value = value[: everywhere.start()]
        cond = parse_cond(m.group(3)) if m.group(3) else None
        if m.group(3) and cond is None:
            return Intent("help", {"why": "condition"})
        return Intent("set", {"column": column, "value": value_of(value), "cond": cond})

    m = re.match(
        r"^(?:add|insert|create|generate)\s+(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|"
        r"a few|some|several|a couple(?: of)?|few)\s+(?:more\s+|new\s+|sample\s+|example\s+|random\s+|"
        r"test\s+|fake\s+|extra\s+)*(?:rows?|records?|entry|entries|items?|lines?)\b(.*)$",
        t,
        re.IGNORECASE,
    )
    if m:
        rest = m.group(2).strip()
        label = re.match(r"^(?:for|called|named|titled)\s+(.+)$", rest, re.IGNORECASE)
        if label and "=" not in rest:  # "add a new row for Fix login bug": the row's name
            return Intent("add_rows", {"count": count_word(m.group(1)), "values": {}, "about": rest,
                                       "label": clean(label.group(1))})
        # "with Name = Foo", "having …", ": …", or the pairs straight after the noun ("a row Name=Foo")
        kv = (
            re.sub(r"^(?:with|where|:|having)\s*", "", rest, flags=re.IGNORECASE)
            if re.match(r"^(with|:|having)\b|^:", rest, re.IGNORECASE) or "=" in rest
            else ""
        )
        pieces = re.split(r"(\s*(?:,|;|\band\b)\s*)", kv)
        raw: dict[str, str] = {}
        last = None
        for part, sep in zip(pieces[::2], ["", *pieces[1::2]], strict=True):
            pair = re.match(r"^(.+?)\s*(?:=|:|\bis\b|\bof\b)\s*(.+)$", part.strip())
            if pair and clean(pair.group(1)):
                last = clean(pair.group(1))
                raw[last] = pair.group(2)
            elif last is not None and part.strip():  # "Name = Salt and Pepper": still the value
                raw[last] += sep + part
        values = {k: value_of(v) for k, v in raw.items()}
        return Intent("add_rows", {"count": count_word(m.group(1)), "values": values, "about": rest})

    if (added := read_add(t)) is not None:
        return added
    m = re.match(r"^(?:clear|empty|blank out|erase|wipe)\s+(?:out\s+)?(?:all\s+)?(?:the\s+)?(?:values?\s+(?:in|of)\s+)?"
                 r"(?:the\s+)?(?:column\s+)?(.+?)(?:\s+column)?(?:\s+(?:where|for rows where|when|if)\s+(.+))?$", t, re.IGNORECASE)
    if m:  # "clear the Notes column": every value of it emptied
        cond = parse_cond(m.group(2)) if m.group(2) else None
        if m.group(2) and cond is None:
            return Intent("help", {"why": "condition"})
        return Intent("set", {"column": clean(m.group(1)), "value": None, "cond": cond})
    m = re.match(r"^(?:i\s+)?(?:don'?t|do not|no longer)\s+need\s+(?:the\s+)?(.+?)\s+(?:column|field)(s?)"
                 r"(?:\s+any\s?more)?$", t, re.IGNORECASE)
    if m:  # "I don't need the Tags column anymore"
        return removals([clean(n) for n in split_columns(m.group(1))] if m.group(2) else [clean(m.group(1))])
    m = re.match(r"^(?:the\s+)?(.+?)(?:\s+column)?\s+should be\s+(?:an?\s+)?(.+?)(?:\s+column)?$", t, re.IGNORECASE)
    if m and (type_word(m.group(2)) or m.group(2).lower() in ("required", "mandatory", "optional")):
        word = m.group(2).lower()  # "Points should be a text column", "Title should be required"
        changes = {"type": type_word(word)} if type_word(word) else {"required": word != "optional"}
        return Intent("modify", {"name": clean(m.group(1)), "changes": changes})

    m = re.match(r"^(?:remove|delete|drop|get rid of)\s+(?:the\s+)?(?:column|field)(s?)\s+(.+)$", t, re.IGNORECASE)
    if m:  # "remove column Notes", "delete columns Notes, Tags"
        return removals([clean(n) for n in split_columns(m.group(2))] if m.group(1) else [clean(m.group(2))])
    m = re.match(r"^(?:remove|delete|drop|get rid of)\s+(?:the\s+)?(.+?)\s+(?:column|field)(s?)$", t, re.IGNORECASE)
    if m:  # "remove the Notes column", "remove the Notes and Tags columns", "… the Tags column and the Due column"
        names = re.split(r"\s+(?:column|field)\s*(?:,\s*|\s+)(?:and\s+)?(?:the\s+)?", m.group(1), flags=re.IGNORECASE)
        return removals([clean(n) for p in names for n in (split_columns(p) if m.group(2) else [p])])

    m = re.match(
        r"^rename\s+(?:the\s+)?(?:column\s+|field\s+)?(.+?)(?:\s+column|\s+field)?\s+(?:to|as|into)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m:
        return Intent("rename", {"name": clean(m.group(1)), "new": clean(m.group(2))})

    m = re.match(
        r"^(?:make|change|convert|turn|switch|set up|set|configure)\s+(?:the\s+type\s+of\s+)?(?:the\s+)?"
        r"(?:column\s+)?(.+?)(?:\s+column)?(?:'s type)?\s+(?:into|to|a|an|into an?|to an?|to type|type|as an?|as)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m and (ctype := type_word(m.group(2))):
        return Intent("modify", {"name": clean(m.group(1)), "changes": {"type": ctype}})

    fill_text, mode = fill_mode(t)
    m = re.match(
        r"^(fill|enrich|compute|generate|run|regenerate|refill|recompute|populate|rerun|retry)\s+"
        r"(?:in\s+)?(?:the\s+)?(?:ai\s+)?(?:column\s+)?(.+?)(?:\s+(?:ai\s+)?column)?"
        r"(?:\s+(?:for|on|in)\s+(all|empty|failed|stale|the empty|the failed|the stale|every)"
        r"(?:\s+(?:rows|cells))?)?$",
        fill_text,
        re.IGNORECASE,
    )
    if m:
        verb, scope = m.group(1).lower(), (m.group(3) or "").lower().replace("the ", "")
        if not scope:
            scope = {"regenerate": "all", "recompute": "all", "rerun": "all", "retry": "failed"}.get(
                verb, "empty"
            )
        return Intent(
            "fill",
            {
                "name": clean(m.group(2)),
                "scope": "all" if scope == "every" else scope,
                "enrich": verb == "enrich",
                "mode": mode,
            },
        )

    if (revert := read_revert(low)) is not None:
        return Intent("revert", revert)
    if re.search(r"\b(list|show|which|what)\b.*\btables\b", low) or low in ("tables", "my tables"):
        return Intent("list_tables")
    if re.search(
        r"\b(describe|show|summari[sz]e|look at|what'?s in|what is in|explain)\b"
        r".*\b(table|columns|schema|data)\b",
        low,
    ):
        return Intent("describe")
    return Intent("help")


REVERT_KINDS = (("import", "import"), ("upload", "import"), ("fill", "fill"), ("enrich", "fill"), ("ai", "fill"),
                ("edit", "edit"), ("revert", "revert"), ("undo", "revert"), ("proposal", "proposal"))
REVERT_WHEN = (("this morning", "this_morning"), ("this afternoon", "this_afternoon"), ("yesterday", "yesterday"),
               ("today", "today"))


def read_revert(low: str) -> dict[str, str] | None:
    """"undo that", "undo the last change", "revert the import from this morning", "roll back the last fill":
    the kind of change and when, as far as said."""
    m = re.match(r"^(?:undo|revert|roll ?back|take back)\b\s*(.*)$", low)
    if m is None:
        return None
    rest = m.group(1)
    if rest and not re.match(r"^(?:that|this|it|the|my|your|last|latest|most|what|everything|change|the change)\b",
                             rest):
        return None
    out: dict[str, str] = {}
    for word, kind in REVERT_KINDS:
        if re.search(rf"\b{word}s?\b", rest):
            out["kind"] = kind
            break
    for words, when in REVERT_WHEN:
        if words in rest:
            out["when"] = when
            break
    return out
