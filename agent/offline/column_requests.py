"""Requests about columns: add one or several ("add columns Price (number), Size and Color", "add a Link
column and a Reviewer column"), with name, type, options, position and AI prompt wherever written."""

from __future__ import annotations

import re
from typing import Any

from agent.offline.columns import name_case, read_column, split_columns
from agent.offline.words import DEFAULT_OPTIONS, QUOTES, Intent, clean, guess_type, split_list, type_word

ADD = re.compile(r"^(?:add|insert|create|include)\s+(.*?)\b(?:column|field)(s?)\b\s*(.*)$", re.IGNORECASE)


def read_add(text: str) -> Intent | None:
    """An add_column intent (or several) for "add … column …"; None when `text` is not one."""
    m = ADD.match(text)
    if m is None:
        return None
    return several_columns(text, m.group(1), m.group(2), m.group(3)) or _add_column(m.group(1), m.group(3))


def removals(names: list[str]) -> Intent:
    removals = [Intent("remove_column", {"name": n}) for n in names if n]
    return removals[0] if len(removals) == 1 else Intent("several", {"intents": removals})


def several_columns(text: str, before: str, plural: str, after: str) -> Intent | None:
    """ "add columns Price (number), Size and Color", "add a Price column and a Link column": one
    add_column intent each, together; None for a single column."""
    pieces = re.split(r"(?:\s*,\s*(?:and\s+)?|\s+and\s+)(?=(?:an?|another|one more|the)\s+[^,]*?\b(?:column|field)s?\b)",
                      text, flags=re.IGNORECASE)
    if len(pieces) > 1:
        intents = [read_add(p if i == 0 else f"add {p}") for i, p in enumerate(pieces)]
        if all(i is not None and i.kind == "add_column" for i in intents):
            return Intent("several", {"intents": intents})
        return None
    counted = re.search(r"\b(?:two|three|four|five|six|[2-9]|a few|some|several|a couple of)\b", before, re.IGNORECASE)
    if not (plural or counted):
        return None
    listed = re.sub(r"\b(?:an?|another|new|the|more|extra|two|three|four|five|six|[2-9]|a few|some|several|"
                    r"a couple of)\b", " ", before, flags=re.IGNORECASE).strip()
    listed = listed or re.sub(r"^\s*(?::|for|called|named|with|-)\s*", "", after, flags=re.IGNORECASE)
    columns = [c for c in (read_column(item) for item in split_columns(listed)) if c]
    if len(columns) < 2:
        return None
    return Intent("several", {"intents": [Intent("add_column", {"column": c, "position": None}) for c in columns]})


def _add_column(before: str, after: str) -> Intent:
    """`add <before> column <after>`: the name, type, options, position and AI prompt, wherever written."""
    words = re.sub(r"\b(?:a|an|another|new|the|one more|extra)\b", " ", before, flags=re.IGNORECASE).split()
    ai = any(w.lower() == "ai" for w in words)
    words = [w for w in words if w.lower() != "ai"]
    ctype = None
    name = " ".join(words)
    if name and type_word(name):
        ctype, name = type_word(name), ""
    elif (
        len(words) > 1
        and type_word(words[-1])
        and not re.match(r"^(?:called|named)\b", after, re.IGNORECASE)
    ):
        ctype, name = type_word(words[-1]), " ".join(words[:-1])
    rest = after.strip()
    prompt = None
    pm = re.search(
        r"(?:\s*:\s+|\s+(?:with (?:the )?prompt|prompt|that|which|to)\s+)(.*\{.+\}.*)$", rest, re.IGNORECASE
    )
    if pm and (ai or "{" in pm.group(1)):
        prompt, rest = pm.group(1).strip().strip(QUOTES), rest[: pm.start()]
        ai = True
    options = None
    om = re.search(
        r"\s*\b(?:with\s+)?(?:the\s+)?(?:options?|values?|choices?)\s*:?\s+(.+)$", rest, re.IGNORECASE
    )
    if om:
        options, rest = split_list(om.group(1)), rest[: om.start()]
    position = None
    am = re.search(
        r"\s*\b(after|before)\s+(?:the\s+)?(?:column\s+)?(.+?)(?:\s+column)?$", rest, re.IGNORECASE
    )
    if am:
        position, rest = (am.group(1).lower(), clean(am.group(2))), rest[: am.start()]
    tm = re.search(r"\s*(?:\(([^)]+)\)|\b(?:of type|type|as an?|as|:)\s+(.+))$", rest, re.IGNORECASE)
    if tm and type_word(tm.group(1) or tm.group(2)):
        ctype, rest = type_word(tm.group(1) or tm.group(2)), rest[: tm.start()]
    rest = re.sub(r"^(?:called|named|titled|for)\s+(?:(?:the|a|an|their|its|each)\s+)?", "", rest.strip(),
                  flags=re.IGNORECASE)
    name = clean(name or rest)
    name = name_case(name) if name.islower() else name  # "a column for estimated hours": Estimated Hours
    if not name and ctype and words and ctype not in ("text", "select", "multi_select"):
        name = " ".join(w[:1].upper() + w[1:] for w in words)  # "add a Link column": Link is its name
    if not name:
        return Intent("help", {"why": "column name"})
    signals = r"[?()]|\d|\b(?:in|per|number of|how many|whether)\b|yes/no"
    if ctype is None and not options and not prompt and re.search(signals, name, re.IGNORECASE):
        read = read_column(name)  # "Estimate in hours", "Rating 1-5", "Urgent?", "Stage (new/won/lost)"
        if read is not None:
            name, ctype, options = read["name"], read["type"], read.get("options")
    ctype = ctype or ("multi_select" if options and re.search(r"tags|labels", name, re.IGNORECASE) else None)
    ctype = ctype or ("select" if options else guess_type(name))
    if ctype in ("select", "multi_select") and not options:
        options = DEFAULT_OPTIONS.get(name.lower(), ["Low", "Medium", "High"])
    column: dict[str, Any] = {"name": name, "type": ctype}
    if options and ctype in ("select", "multi_select"):
        column["options"] = options
    if prompt:
        column["ai"] = {
            "prompt": prompt,
            "depends_on": re.findall(r"\{([^{}]+)\}", prompt),
            "auto_update": False,
        }
    return Intent("add_column", {"column": column, "position": position})

