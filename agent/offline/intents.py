"""What one request asks for: `parse_intent(text)` reads a message into an `Intent` (kind + args)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.offline.columns import read_column, split_columns
from agent.offline.create import read_create
from agent.offline.words import (
    DEFAULT_OPTIONS,
    QUOTES,
    clean,
    count_word,
    guess_type,
    parse_cond,
    split_list,
    type_word,
    value_of,
)


@dataclass(frozen=True)
class Intent:
    kind: str  # create, add_column, remove_column, rename, modify, add_rows, delete_rows, set, fill, ...
    args: dict[str, Any] = field(default_factory=dict)


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

    m = re.match(
        r"^(?:delete|remove|drop)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:rows?|records?|entries|items)\s+"
        r"(?:where|with|whose|that have|which have|in which|for which|if)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m:
        cond = parse_cond(m.group(1))
        return Intent("delete_rows", {"cond": cond}) if cond else Intent("help", {"why": "condition"})
    m = re.match(
        r"^(?:delete|remove|drop)\s+(?:the\s+)?(?:rows?|records?)\s+(?:#|ids?\s+)?"
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
        re.match(r"^(?:change|make)\b", t, re.IGNORECASE) and type_word(m.group(2)) and not m.group(3)
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
        r"test\s+|fake\s+|extra\s+)*(?:rows?|records?|entries|items|lines)\b(.*)$",
        t,
        re.IGNORECASE,
    )
    if m:
        rest = m.group(2).strip()
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

    m = re.match(r"^(?:add|insert|create|include)\s+(.*?)\b(?:column|field)(s?)\b\s*(.*)$", t, re.IGNORECASE)
    if m:
        return several_columns(t, m.group(1), m.group(2), m.group(3)) or _add_column(m.group(1), m.group(3))

    m = re.match(r"^(?:remove|delete|drop|get rid of)\s+(?:the\s+)?(?:column|field)(s?)\s+(.+)$", t, re.IGNORECASE)
    if m:  # "remove column Notes", "delete columns Notes, Tags"
        return _removals([clean(n) for n in split_columns(m.group(2))] if m.group(1) else [clean(m.group(2))])
    m = re.match(r"^(?:remove|delete|drop|get rid of)\s+(?:the\s+)?(.+?)\s+(?:column|field)(s?)$", t, re.IGNORECASE)
    if m:  # "remove the Notes column", "remove the Notes and Tags columns", "… the Tags column and the Due column"
        names = re.split(r"\s+(?:column|field)\s*(?:,\s*|\s+)(?:and\s+)?(?:the\s+)?", m.group(1), flags=re.IGNORECASE)
        return _removals([clean(n) for p in names for n in (split_columns(p) if m.group(2) else [p])])

    m = re.match(
        r"^rename\s+(?:the\s+)?(?:column\s+|field\s+)?(.+?)(?:\s+column|\s+field)?\s+(?:to|as|into)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m:
        return Intent("rename", {"name": clean(m.group(1)), "new": clean(m.group(2))})

    m = re.match(
        r"^(?:make|change|convert|turn|switch)\s+(?:the\s+type\s+of\s+)?(?:the\s+)?(?:column\s+)?(.+?)"
        r"(?:\s+column)?(?:'s type)?\s+(?:into|to|a|an|into an?|to an?|to type|type)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m and (ctype := type_word(m.group(2))):
        return Intent("modify", {"name": clean(m.group(1)), "changes": {"type": ctype}})

    m = re.match(
        r"^(fill|enrich|compute|generate|run|regenerate|refill|recompute|populate|rerun|retry)\s+"
        r"(?:in\s+)?(?:the\s+)?(?:ai\s+)?(?:column\s+)?(.+?)(?:\s+(?:ai\s+)?column)?"
        r"(?:\s+(?:for|on|in)\s+(all|empty|failed|stale|the empty|the failed|the stale|every)"
        r"(?:\s+(?:rows|cells))?)?$",
        t,
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
            },
        )

    if re.search(r"\b(list|show|which|what)\b.*\btables\b", low) or low in ("tables", "my tables"):
        return Intent("list_tables")
    if re.search(
        r"\b(describe|show|summari[sz]e|look at|what'?s in|what is in|explain)\b"
        r".*\b(table|columns|schema|data)\b",
        low,
    ):
        return Intent("describe")
    return Intent("help")


def _removals(names: list[str]) -> Intent:
    removals = [Intent("remove_column", {"name": n}) for n in names if n]
    return removals[0] if len(removals) == 1 else Intent("several", {"intents": removals})


def several_columns(text: str, before: str, plural: str, after: str) -> Intent | None:
    """ "add columns Price (number), Size and Color", "add a Price column and a Link column": one
    add_column intent each, together; None for a single column."""
    pieces = re.split(r"(?:\s*,\s*(?:and\s+)?|\s+and\s+)(?=(?:an?|another|one more|the)\s+[^,]*?\b(?:column|field)s?\b)",
                      text, flags=re.IGNORECASE)
    if len(pieces) > 1:
        intents = [parse_intent(p if i == 0 else f"add {p}") for i, p in enumerate(pieces)]
        return Intent("several", {"intents": intents}) if all(i.kind == "add_column" for i in intents) else None
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
    rest = re.sub(r"^(?:called|named|titled|for)\s+", "", rest.strip(), flags=re.IGNORECASE)
    name = clean(name or rest)
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

