"""The offline model: deterministic, no network, behind the same `Model` interface as Claude.

It understands a small set of requests (create a table of…, add/remove/rename a column, make a column
required, add rows, delete or change rows where…, fill a column) and answers like Claude would: it looks
at the active table with `get_table` or `query_rows` first, then proposes with real column and row ids,
and its text says what was proposed, where to look, and which buttons to press."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.model import MessageDone, ModelEvent, ModelRequest, TextDelta, ToolUseStart
from agent.offline_data import plan_data

CHUNK_CHARS = 40  # a streamed chunk: whole words, about this long (each chunk is a socket message)
MAX_NEW_ROWS = 500
MAX_MATCHED_ROWS = 1000
PAGE = 200

# ---------------------------------------------------------------------------------------------- reading

# fmt: off
TYPE_WORDS = {
    "text": "text", "string": "text", "short text": "text", "single line text": "text",
    "long text": "long_text", "long_text": "long_text", "longtext": "long_text", "paragraph": "long_text",
    "multiline text": "long_text", "rich text": "long_text",
    "number": "number", "numeric": "number", "integer": "number", "int": "number", "float": "number",
    "decimal": "number", "currency": "number", "numbers": "number",
    "boolean": "boolean", "bool": "boolean", "checkbox": "boolean", "yes/no": "boolean",
    "true/false": "boolean",
    "date": "date", "datetime": "date", "day": "date",
    "select": "select", "single select": "select", "single-select": "select", "dropdown": "select",
    "choice": "select", "single choice": "select", "status": "select",
    "multi select": "multi_select", "multi-select": "multi_select", "multi_select": "multi_select",
    "multiselect": "multi_select", "tags": "multi_select", "multiple choice": "multi_select",
    "url": "url", "link": "url", "website": "url", "web address": "url",
    "email": "email", "e-mail": "email", "email address": "email",
    "json": "json",
}
NAME_HINTS = [  # a column type guessed from its name when the request gives none
    (r"e-?mail", "email"), (r"url|website|link|homepage|site", "url"),
    (r"date|deadline|due|birthday|\bwhen\b|started|created|updated|day", "date"),
    ((r"price|cost|rating|score|count|amount|age|qty|quantity|number|total|year|points|salary|budget|"
      r"stock|size|weight|height|revenue|percent"), "number"),
    (r"notes?|description|summary|comments?|details|bio|review", "long_text"),
    (r"priority|status|stage|category|level|type|tier|severity", "select"),
    (r"tags|labels|topics|skills", "multi_select"),
    (r"^(is|has|done|active|completed|enabled|visited|watched|read|paid|remote|available)\b", "boolean"),
]
DEFAULT_OPTIONS = {
    "priority": ["P0", "P1", "P2", "P3"], "status": ["To do", "In progress", "Done"],
    "stage": ["New", "In progress", "Won", "Lost"], "severity": ["Critical", "Major", "Minor"],
    "level": ["Low", "Medium", "High"], "size": ["S", "M", "L", "XL"],
}
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "a few": 3, "some": 3, "several": 5, "a couple of": 2,
                "a couple": 2, "few": 3}
OPS = [  # phrase in a condition → query_rows filter op (longest phrases first)
    ("is not empty", "not_empty"), ("is not blank", "not_empty"), ("is filled", "not_empty"),
    ("is set", "not_empty"), ("is empty", "empty"), ("is blank", "empty"), ("is missing", "empty"),
    ("has no value", "empty"), ("is greater than or equal to", "gte"), ("is less than or equal to", "lte"),
    ("is at least", "gte"), ("is at most", "lte"), ("is greater than", "gt"), ("is more than", "gt"),
    ("is over", "gt"), ("is above", "gt"), ("is less than", "lt"), ("is under", "lt"), ("is below", "lt"),
    ("does not contain", None), ("doesn't contain", None), ("contains", "contains"), ("includes", "contains"),
    ("is not", "ne"), ("isn't", "ne"), ("equals", "eq"), ("is", "eq"), (">=", "gte"), ("<=", "lte"),
    ("!=", "ne"), ("==", "eq"), ("=", "eq"), (">", "gt"), ("<", "lt"),
]
QUOTES = "\"'“”‘’`"
# fmt: on


def _clean(text: str) -> str:
    """A name or value as written, without surrounding quotes, markup or final punctuation."""
    text = text.strip().rstrip(".!?;,").strip()
    text = re.sub(r"^\*+|\*+$", "", text).strip()
    if len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
        text = text[1:-1].strip()
    return text


def _type_word(text: str) -> str | None:
    t = _clean(text).lower()
    t = re.sub(r"^(?:an?|the)\s+", "", t)
    t = re.sub(r"\s+(?:column|field|type)$", "", t)
    return TYPE_WORDS.get(t)


def guess_type(name: str) -> str:
    low = name.lower()
    for pattern, ctype in NAME_HINTS:
        if re.search(pattern, low):
            return ctype
    return "text"


def _split_list(text: str) -> list[str]:
    parts = re.split(r"\s*(?:,|/|;|\bor\b|\band\b)\s*", _clean(text))
    return [_clean(p) for p in parts if _clean(p)]


def _count(word: str) -> int:
    word = word.strip().lower()
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word, 1)


@dataclass(frozen=True)
class Cond:
    column: str
    op: str
    value: Any = None

    def as_filter(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "op": self.op}
        if self.op not in ("empty", "not_empty"):
            out["value"] = self.value
        return out

    def describe(self) -> str:
        words = {
            "eq": "is",
            "ne": "is not",
            "contains": "contains",
            "gt": ">",
            "gte": "≥",
            "lt": "<",
            "lte": "≤",
            "empty": "is empty",
            "not_empty": "is not empty",
        }[self.op]
        return f"{self.column} {words}" + ("" if self.op in ("empty", "not_empty") else f" {self.value}")


def parse_cond(text: str) -> Cond | None:
    text = _clean(text)
    low = text.lower()
    for phrase, op in OPS:
        sym = not phrase[0].isalpha()
        pattern = re.escape(phrase) if sym else rf"\s{re.escape(phrase)}(?:\s|$)"
        m = re.search(pattern, low)
        if m is None or op is None:
            if m is not None:
                return None  # "does not contain" has no filter op
            continue
        column, value = _clean(text[: m.start()]), _clean(text[m.end() :])
        column = re.sub(r"^(?:the|its|their)\s+", "", column, flags=re.IGNORECASE)
        if not column:
            return None
        if op in ("empty", "not_empty"):
            return Cond(column, op)
        if not value:
            return None
        return Cond(column, op, _value(value))
    return None


def _value(text: str) -> Any:
    """A value as typed: numbers stay text (the table's column types coerce them), except plain ones."""
    text = _clean(text)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d+\.\d+", text):
        return float(text)
    if text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    if text.lower() in ("empty", "nothing", "blank", "null", "none"):
        return None
    return text


# intents: what the last user message asks for ---------------------------------------------------------


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
    t = re.sub(r"^(?:please|pls|ok(?:ay)?|now|hey|hi|and|then|also)[,!]?\s+", "", t, flags=re.IGNORECASE)
    t = re.sub(r"^(?:can|could|would|will) you(?: please)?\s+", "", t, flags=re.IGNORECASE)
    t = re.sub(r"^(?:i(?:'d| would) like to|i want to|i need to|let's|lets)\s+", "", t, flags=re.IGNORECASE)
    t = re.sub(r"[.!?]+$", "", t).strip()
    low = t.lower()
    if re.fullmatch(r"(help|\?|what can you do|what do you understand|commands)", low):
        return Intent("help")

    m = re.match(
        r"^(?:create|make|build|start|set up|setup|design|generate|new)\s+(?:me\s+|us\s+)?"
        r"(?:a\s+|an\s+|the\s+|my\s+)?(?:new\s+)?(?:table|list|tracker|database|spreadsheet|sheet)\b"
        r"(?:\s+(?:of|for|to track|tracking|with|about|listing|called|named|on|to keep track of))?\s*(.*)$",
        t,
        re.IGNORECASE,
    )
    if m or (m := re.match(r"^(?:track|keep track of)\s+(.+)$", t, re.IGNORECASE)):
        return Intent("create", {"topic": _clean(m.group(1))})

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
        return Intent("modify", {"name": _clean(m.group(1)), "changes": {"required": required}})

    m = re.match(
        r"^(?:set|change|update|mark)\s+(?:the\s+)?(?:value\s+of\s+)?(.+?)\s+(?:to|=|as)\s+(.+?)"
        r"(?:\s+(?:where|for rows where|for all rows where|for the rows where|when|if|whenever)\s+(.+))?$",
        t,
        re.IGNORECASE,
    )
    if m and not (
        re.match(r"^(?:change|make)\b", t, re.IGNORECASE) and _type_word(m.group(2)) and not m.group(3)
    ):
        column = re.sub(r"^(?:the\s+|all\s+)", "", _clean(m.group(1)), flags=re.IGNORECASE)
        value = m.group(2)
        everywhere = re.search(
            r"\s+(?:for|in|on)\s+(?:all|every|each)\s+(?:the\s+)?(?:rows?|records?)$", value, re.IGNORECASE
        )
        if everywhere:
            value = value[: everywhere.start()]
        cond = parse_cond(m.group(3)) if m.group(3) else None
        if m.group(3) and cond is None:
            return Intent("help", {"why": "condition"})
        return Intent("set", {"column": column, "value": _value(value), "cond": cond})

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
            if pair and _clean(pair.group(1)):
                last = _clean(pair.group(1))
                raw[last] = pair.group(2)
            elif last is not None and part.strip():  # "Name = Salt and Pepper": still the value
                raw[last] += sep + part
        values = {k: _value(v) for k, v in raw.items()}
        return Intent("add_rows", {"count": _count(m.group(1)), "values": values, "about": rest})

    m = re.match(r"^(?:add|insert|create|include)\s+(.*?)\b(?:column|field)s?\b\s*(.*)$", t, re.IGNORECASE)
    if m:
        return _add_column(m.group(1), m.group(2))

    m = re.match(
        r"^(?:remove|delete|drop|get rid of)\s+(?:the\s+)?(?:column|field)\s+(.+)$", t, re.IGNORECASE
    ) or re.match(
        r"^(?:remove|delete|drop|get rid of)\s+(?:the\s+)?(.+?)\s+(?:column|field)$", t, re.IGNORECASE
    )
    if m:
        return Intent("remove_column", {"name": _clean(m.group(1))})

    m = re.match(
        r"^rename\s+(?:the\s+)?(?:column\s+|field\s+)?(.+?)(?:\s+column|\s+field)?\s+(?:to|as|into)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m:
        return Intent("rename", {"name": _clean(m.group(1)), "new": _clean(m.group(2))})

    m = re.match(
        r"^(?:make|change|convert|turn|switch)\s+(?:the\s+type\s+of\s+)?(?:the\s+)?(?:column\s+)?(.+?)"
        r"(?:\s+column)?(?:'s type)?\s+(?:into|to|a|an|into an?|to an?|to type|type)\s+(.+)$",
        t,
        re.IGNORECASE,
    )
    if m and (ctype := _type_word(m.group(2))):
        return Intent("modify", {"name": _clean(m.group(1)), "changes": {"type": ctype}})

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
                "name": _clean(m.group(2)),
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


def _add_column(before: str, after: str) -> Intent:
    """`add <before> column <after>`: the name, type, options, position and AI prompt, wherever written."""
    words = re.sub(r"\b(?:a|an|another|new|the|one more|extra)\b", " ", before, flags=re.IGNORECASE).split()
    ai = any(w.lower() == "ai" for w in words)
    words = [w for w in words if w.lower() != "ai"]
    ctype = None
    name = " ".join(words)
    if name and _type_word(name):
        ctype, name = _type_word(name), ""
    elif (
        len(words) > 1
        and _type_word(words[-1])
        and not re.match(r"^(?:called|named)\b", after, re.IGNORECASE)
    ):
        ctype, name = _type_word(words[-1]), " ".join(words[:-1])
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
        options, rest = _split_list(om.group(1)), rest[: om.start()]
    position = None
    am = re.search(
        r"\s*\b(after|before)\s+(?:the\s+)?(?:column\s+)?(.+?)(?:\s+column)?$", rest, re.IGNORECASE
    )
    if am:
        position, rest = (am.group(1).lower(), _clean(am.group(2))), rest[: am.start()]
    tm = re.search(r"\s*(?:\(([^)]+)\)|\b(?:of type|type|as an?|as|:)\s+(.+))$", rest, re.IGNORECASE)
    if tm and _type_word(tm.group(1) or tm.group(2)):
        ctype, rest = _type_word(tm.group(1) or tm.group(2)), rest[: tm.start()]
    rest = re.sub(r"^(?:called|named|titled|for)\s+", "", rest.strip(), flags=re.IGNORECASE)
    name = _clean(name or rest)
    if not name:
        return Intent("help", {"why": "column name"})
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


# ---------------------------------------------------------------------------------------- new tables

# fmt: off
SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "from"}
CITY_AREAS = {
    "chicago": ["River North", "West Loop", "Lincoln Park", "Wicker Park", "Logan Square", "Little Italy",
                "West Town"],
    "new york": ["SoHo", "West Village", "Little Italy", "Midtown", "Williamsburg", "Upper East Side"],
    "san francisco": ["North Beach", "Mission", "SoMa", "Hayes Valley", "Marina", "Castro"],
    "london": ["Soho", "Shoreditch", "Covent Garden", "Marylebone", "Notting Hill", "Clerkenwell"],
    "paris": ["Le Marais", "Saint-Germain", "Montmartre", "Bastille", "Pigalle", "Batignolles"],
    "boston": ["North End", "Back Bay", "South End", "Beacon Hill", "Seaport", "Cambridge"],
}
CUISINES = ["Italian", "Mexican", "Japanese", "Chinese", "Indian", "French", "Thai", "American", "Greek",
            "Korean", "Vietnamese", "Spanish", "Lebanese", "Ethiopian"]

# A template: the words that pick it, columns as "Name[:type][!][=option,option][@tab]" (! = required;
# options make a select), and sample rows as tuples in column order.
TEMPLATES: list[tuple[str, list[str], list[tuple]]] = [
    (r"book|novel|reading",
     ["Title!", "Author", "Genre=Fiction,Non-fiction,Science Fiction,Fantasy,Mystery,Biography,History@tab",
      "Year Published:number", "Rating:number", "Status=To read,Reading,Finished", "Notes:long_text"],
     [("Dune", "Frank Herbert", "Science Fiction", 1965, 4.6, "Finished"),
      ("Pride and Prejudice", "Jane Austen", "Fiction", 1813, 4.5, "Reading"),
      ("Sapiens", "Yuval Noah Harari", "Non-fiction", 2011, 4.3, "To read")]),
    (r"movie|film|cinema|watchlist",
     ["Title!", "Director", "Genre=Drama,Comedy,Action,Science Fiction,Animation,Thriller,Documentary@tab",
      "Year:number", "Rating:number", "Watched:boolean", "Notes:long_text"],
     [("The Godfather", "Francis Ford Coppola", "Drama", 1972, 4.8, True),
      ("Spirited Away", "Hayao Miyazaki", "Animation", 2001, 4.7, True),
      ("Inception", "Christopher Nolan", "Science Fiction", 2010, 4.5, False)]),
    (r"bug|issue|defect|ticket",
     ["Title!", "Status=Open,In progress,Resolved,Closed@tab", "Priority=P0,P1,P2,P3", "Assignee",
      "Reported:date", "Description:long_text"],
     [("Login times out after 30 seconds", "Open", "P1", "Alex", "2026-01-12"),
      ("Export button misaligned on mobile", "In progress", "P2", "Sam", "2026-01-14"),
      ("Typo on the pricing page", "Resolved", "P3", "Jo", "2026-01-09")]),
    (r"task|to-?do|chore|project|assignment",
     ["Task!", "Status=To do,In progress,Done@tab", "Priority=High,Medium,Low", "Due Date:date", "Owner",
      "Notes:long_text"],
     [("Draft the project plan", "In progress", "High", "2026-02-02", "Alex"),
      ("Book the kickoff meeting", "To do", "Medium", "2026-02-04", "Sam"),
      ("Collect requirements", "Done", "High", "2026-01-28", "Jo")]),
    (r"contact|people|person|lead|customer|client|friend|network|crm",
     ["Name!", "Email:email", "Phone", "Company", "Relationship=Client,Lead,Colleague,Friend,Family@tab",
      "Last Contacted:date", "Notes:long_text"],
     [("Ada Lovelace", "ada@example.com", "+1 555 0100", "Analytical Ltd", "Client", "2026-01-20"),
      ("Grace Hopper", "grace@example.com", "+1 555 0101", "Compilers Inc", "Lead", "2026-01-18"),
      ("Alan Turing", "alan@example.com", "+1 555 0102", "Enigma Co", "Colleague", "2026-01-05")]),
    (r"product|inventory|stock|catalog|item|merch",
     ["Product!", "SKU", "Category=Electronics,Home,Clothing,Books,Toys@tab", "Price:number",
      "Quantity:number", "In Stock:boolean", "Product Page:url"],
     [("Wireless Mouse", "EL-1001", "Electronics", 24.99, 120, True, "https://example.com/wireless-mouse"),
      ("Ceramic Mug", "HM-2040", "Home", 12.5, 0, False, "https://example.com/ceramic-mug"),
      ("Rain Jacket", "CL-3307", "Clothing", 89, 35, True, "https://example.com/rain-jacket")]),
    (r"employee|staff|team|colleague|hire|hiring|candidate",
     ["Name!", "Email:email", "Department=Engineering,Sales,Marketing,Operations,Finance@tab", "Role",
      "Start Date:date", "Remote:boolean"],
     [("Maya Chen", "maya.chen@example.com", "Engineering", "Backend Engineer", "2024-03-04", True),
      ("Luis Romero", "luis.romero@example.com", "Sales", "Account Executive", "2023-09-18", False),
      ("Priya Nair", "priya.nair@example.com", "Marketing", "Content Lead", "2025-01-13", True)]),
]
RESTAURANTS = r"restaurant|diner|cafe|café|bistro|eater|pizzeria|food|dining|bars?\b|brunch"
CHICAGO_ITALIAN = [
    ("RPM Italian", "River North", "Italian", 4.5, "$$$", "https://www.rpmrestaurants.com"),
    ("Monteverde", "West Loop", "Italian", 4.7, "$$$", "https://www.monteverdechicago.com"),
    ("Piccolo Sogno", "West Town", "Italian", 4.6, "$$$", "https://www.piccolosognorestaurant.com"),
]
GENERIC = ["Name!", "Category=General,Work,Personal@tab", "Status=Not started,In progress,Done", "Date:date",
           "Notes:long_text"]
# fmt: on


def column(spec: str) -> dict[str, Any]:
    """A column from its template spec, e.g. "Genre=Fiction,Poetry@tab" or "Year:number"."""
    m = re.fullmatch(r"([^:!=@]+)(?::(\w+))?(!)?(?:=([^@]+))?(@tab)?", spec)
    assert m, spec
    name, ctype, required, options, tab = m.groups()
    c: dict[str, Any] = {"name": name, "type": ctype or ("select" if options else "text")}
    if required:
        c["required"] = True
    if options:
        c["options"] = options.split(",")
    if tab:
        c["filterDisplay"] = "tab"
    return c


def title(text: str) -> str:
    words = text.split()
    return " ".join(
        w
        if (w.isupper() and len(w) > 1)
        else (w.lower() if i and w.lower() in SMALL_WORDS else w[:1].upper() + w[1:])
        for i, w in enumerate(words)
    )


def singular(word: str) -> str:
    w = word.strip()
    if re.search(r"ies$", w, re.IGNORECASE):
        return w[:-3] + "y"
    if re.search(r"(ss|us)$", w, re.IGNORECASE):
        return w
    if re.search(r"(ches|shes|xes|sses)$", w, re.IGNORECASE):
        return w[:-2]
    return w[:-1] if w.lower().endswith("s") else w


def thing_of(name: str) -> str:
    """The kind of thing a table holds, from its name: "Italian Restaurants in Chicago" → "Restaurant"."""
    head = re.split(r"\s+(?:in|of|for|at|from|near|by|with|to)\s+", name.strip(), maxsplit=1)[0]
    return title(singular(head.split()[-1])) if head.split() else "Item"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


def _restaurants(topic: str) -> tuple[list[str], list[tuple]]:
    low = topic.lower()
    city = next((c for c in CITY_AREAS if c in low), None)
    areas = CITY_AREAS.get(city or "", ["Downtown", "Midtown", "Old Town", "Riverside", "Harbor"])
    cuisine = next((c for c in CUISINES if c.lower() in low), None)
    cuisines = [cuisine, *[c for c in CUISINES if c != cuisine][:7]] if cuisine else CUISINES[:8]
    specs = [
        "Name!",
        f"Neighborhood={','.join(areas)}@tab",
        f"Cuisine={','.join(cuisines)}",
        "Rating:number",
        "Price Range=$,$$,$$$,$$$$",
        "Website:url",
        "Notes:long_text",
    ]
    if city == "chicago" and cuisine in (None, "Italian"):
        return specs, CHICAGO_ITALIAN
    kind = cuisine or "House"
    names = [
        f"Trattoria {kind}" if kind == "Italian" else f"{kind} Kitchen",
        f"The {kind} Table",
        f"Little {kind} Corner",
    ]
    return specs, [
        (
            n,
            areas[i % len(areas)],
            cuisines[0],
            [4.5, 4.2, 4.7][i],
            ["$$", "$$$", "$"][i],
            f"https://example.com/{_slug(n)}",
        )
        for i, n in enumerate(names)
    ]


def design_table(topic: str) -> dict[str, Any]:
    """A schema proposal (mode create) for a topic, with 3 sample rows."""
    topic = re.sub(r"^(?:my|our|all|the|some|all of my|all the)\s+", "", topic.strip(), flags=re.IGNORECASE)
    topic = re.sub(r"^(?:tracking|managing|listing|keeping)\s+", "", topic, flags=re.IGNORECASE) or "items"
    if re.search(RESTAURANTS, topic, re.IGNORECASE):
        specs, rows = _restaurants(topic)
    else:
        specs, rows = next(
            ((s, r) for p, s, r in TEMPLATES if re.search(p, topic, re.IGNORECASE)), (GENERIC, [])
        )
    columns = [column(s) for s in specs]
    if not rows:
        thing = title(singular(topic.split()[0])) if topic != "items" else "Item"
        rows = [
            (
                f"{thing} {i + 1}",
                ["General", "Work", "Personal"][i],
                ["Not started", "In progress", "Done"][i],
                f"2026-01-{10 + i}",
            )
            for i in range(3)
        ]
    name = title(topic) if topic != "items" else "New Table"
    return {
        "mode": "create",
        "table_name": name[:200],
        "table_description": f"A table of {topic}."[:10_000],
        "reasoning": f"Columns chosen for {topic}: "
        + ", ".join(f"{c['name']} ({c['type']})" for c in columns),
        "operations": [{"action": "add", "column": c} for c in columns],
        "sample_rows": [{c["name"]: v for c, v in zip(columns, row)} for row in rows],
    }


# --------------------------------------------------------------------------------------- conversation


@dataclass
class Step:
    """What the model does this turn: some text, then tool calls."""

    text: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    summary: str = ""  # what a proposing step proposes, as a phrase a longer reply can list

    @property
    def proposing(self) -> bool:
        return any(name.startswith("propose_") for name, _ in self.calls)


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
    return "\n".join(w for w in words if w.strip())


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


def _error_text(text: str) -> str:
    return re.sub(r"^Error:\s*", "", text.strip())


HELP = (
    "I'm the built-in offline assistant, so I understand a fixed set of requests:\n"
    "- **create a table of …** (e.g. “create a table of Italian restaurants in Chicago”)\n"
    "- **add a column X (type)**, **add a Priority column with options P0, P1, P2**, "
    "**add an AI column Summary: Summarize {Description} in 10 words**\n"
    "- **remove column X**, **rename X to Y**, **make X required**, **change X to number**\n"
    "- **add 3 rows**, **add a row with Name = Foo, Rating = 4**\n"
    "- **delete the rows where Status is Done**, **delete row 12**\n"
    "- **set Status to Done where Priority is P0**\n"
    "- **fill column X** / **enrich column X** (AI columns)\n"
    "- several changes of one kind at once, separated by “;”, “and” or new lines, e.g. **add a column "
    "Priority (select) and remove column Notes**\n"
    "- **list tables**, **describe the table**\n"
    "- upload a CSV or XLSX file to import it; **chart Rating by Neighborhood**, **average Rating by "
    "Neighborhood**, **export this table as xlsx**\n"
    "Changes always come as a preview in the conversation that you apply or dismiss."
)


def plan(request: ModelRequest) -> Step:
    """This turn's text and tool calls, from the request and the tool results so far."""
    ask, done = read_conversation(request.messages)
    tools = {t.get("name") for t in request.tools}
    last = done[-1] if done else None
    if last and last.name.startswith("propose_") or (last and last.name in ("fill_column", "enrich_column")):
        return _after_proposal(last)
    if (data := plan_data(ask, done)) is not None:  # uploads, charts and aggregates, exports
        return Step(*data)
    clauses = parse_compound(ask)
    if clauses:
        return _compound(clauses, done, tools)
    intent = parse_intent(ask)
    handler = HANDLERS.get(intent.kind)
    if handler is None:
        why = intent.args.get("why")
        lead = {
            "condition": "I couldn't read the condition in that request. ",
            "column name": "I couldn't tell which column you mean. ",
        }.get(why, "")
        parts = split_request(ask)
        unread = next((p for p in parts if parse_intent(p).kind == "help"), None) if len(parts) > 1 else None
        if unread:
            lead = f"I couldn't understand “{_clean(unread)}”, so I haven't changed anything. " + lead
        return Step(lead + ("I didn't understand that request. " if not lead and ask.strip() else "") + HELP)
    return handler(intent, done, tools)


def _after_proposal(last: Done) -> Step:
    if last.name == "enrich_column":  # a proposal would have ended the turn: there is none
        got = last.data() if isinstance(last.data(), dict) else {}
        why = got.get("error") or got.get("note") or _error_text(last.text)
        return Step(f"There is nothing to review this time: {why} Your table is unchanged.")
    if last.is_error:
        return Step(
            f"I couldn't make that change: {_error_text(last.text)}\n\nTell me what to adjust, "
            "or ask for something else."
        )
    if last.name == "fill_column":
        return Step(_fill_started(last.data() or {}))
    return Step("The proposal is shown above with its controls; nothing changes until you use them.")


def _fill_started(job: dict[str, Any]) -> str:
    if not job.get("cells_queued"):
        return job.get("note") or "There was nothing to fill."
    cost = job.get("estimated_cost_usd")
    est = f" (estimated cost ${cost:.4f})" if isinstance(cost, (int, float)) else ""
    return (f"Started filling **{job.get('column')}**: {job['cells_queued']} cells{est}. The progress message "
            "below counts up as cells complete, and the live view shows each value as it arrives.")


def _need_table(done: list[Done]) -> tuple[dict | None, Step | None]:
    """The active table from get_table, or the step that fetches it (or explains why it cannot)."""
    got = next((d for d in reversed(done) if d.name == "get_table"), None)
    if got is None:
        return None, Step("Let me look at the table first.", [("get_table", {"sample_rows": 5})])
    if got.is_error:
        why = (
            "there is no active table yet"
            if "no table is active" in got.text
            else _error_text(got.text).rstrip(".")
        )
        return None, Step(
            f"I need a table to work on, but {why}. Open one of your tables, or ask me to "
            "“create a table of …” first."
        )
    return got.data(), None


def _column(table: dict, name: str) -> dict | None:
    key = name.strip().casefold()
    cols = table.get("columns", [])
    return next((c for c in cols if c["name"].casefold() == key or c["id"] == name.strip()), None) or next(
        (c for c in cols if c["name"].casefold().replace(" ", "") == key.replace(" ", "")), None
    )


def _no_column(table: dict, name: str) -> Step:
    names = ", ".join(c["name"] for c in table.get("columns", []))
    return Step(f"“{table.get('name')}” has no column named “{name}”. Its columns are: {names}.")


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


def _create(intent: Intent, done: list[Done], tools: set) -> Step:
    payload = design_table(intent.args["topic"])
    cols = [op["column"] for op in payload["operations"]]
    listing = ", ".join(f"{c['name']} ({c['type'].replace('_', ' ')})" for c in cols)
    text = (
        f"I've designed a table for {payload['table_name']} with {len(cols)} columns: {listing}, and "
        f"{len(payload['sample_rows'])} sample rows. You can see the preview with the sample data in the "
        "conversation. Uncheck any columns you don't need and choose whether to include the sample data, "
        "then click **Create Table** to build it, or **Dismiss** to start over."
    )
    return Step(text, [("propose_schema", payload)])


def _schema_update(table: dict, ops: list[dict], summary: str, reasoning: str) -> Step:
    payload = {
        "mode": "update",
        "table_id": table["id"],
        "table_name": None,
        "table_description": None,
        "reasoning": reasoning,
        "operations": ops,
    }
    return Step(
        f"I've proposed {summary} in “{table['name']}”. {SCHEMA_GUIDE}",
        [("propose_schema", payload)],
        summary,
    )


def _on_table(fn: Callable[[Intent, dict], Step]) -> Callable[[Intent, list[Done], set], Step]:
    """A handler for a request on the active table: it looks at the table first."""

    def handler(intent: Intent, done: list[Done], tools: set) -> Step:
        table, step = _need_table(done)
        return step or fn(intent, table)

    return handler


def _add_column_step(intent: Intent, table: dict) -> Step:
    column = dict(intent.args["column"])
    if _column(table, column["name"]):
        return Step(
            f"“{table['name']}” already has a column named “{column['name']}”. Pick another name, or ask "
            f"me to change that column (e.g. “change {column['name']} to number”)."
        )
    if column.get("ai"):
        deps = []
        for dep in column["ai"]["depends_on"]:
            found = _column(table, dep)
            if found is None:
                return _no_column(table, dep)
            deps.append(found["name"])
        column["ai"] = {**column["ai"], "depends_on": deps}
    op: dict[str, Any] = {"action": "add", "column": column}
    position = intent.args.get("position")
    if position:
        where, ref = position
        target = _column(table, ref)
        if target is None:
            return _no_column(table, ref)
        ids = [c["id"] for c in table["columns"]]
        if where == "after":
            op["after_column_id"] = target["id"]
        elif ids.index(target["id"]) > 0:
            op["after_column_id"] = ids[ids.index(target["id"]) - 1]
        else:
            op = {**op, "after_column_id": None}
    kind = "AI column" if column.get("ai") else f"{column['type'].replace('_', ' ')} column"
    extra = f" with options {', '.join(column['options'])}" if column.get("options") else ""
    ops = [op]
    if position and op.get("after_column_id") is None:
        # "before the first column": add it, then move it to the front
        op.pop("after_column_id")
        ops.append({"action": "reorder", "column_id": column["name"], "after_column_id": None})
    return _schema_update(
        table,
        ops,
        f"a new {kind} “{column['name']}”{extra}",
        f"Add {column['name']} ({column['type']}) as asked.",
    )


def _remove_column(intent: Intent, table: dict) -> Step:
    target = _column(table, intent.args["name"])
    if target is None:
        return _no_column(table, intent.args["name"])
    filled = target.get("stats", {}).get("filled", 0)
    loss = f" ({filled} filled cells would be lost)" if filled else ""
    return _schema_update(
        table,
        [{"action": "remove", "column_id": target["id"]}],
        f"removing the column “{target['name']}”{loss}",
        f"Remove {target['name']} as asked.",
    )


def _rename(intent: Intent, table: dict) -> Step:
    target = _column(table, intent.args["name"])
    if target is None:
        return _no_column(table, intent.args["name"])
    new = intent.args["new"]
    return _schema_update(
        table,
        [{"action": "modify", "column_id": target["id"], "changes": {"name": new}}],
        f"renaming “{target['name']}” to “{new}”",
        f"Rename {target['name']} to {new} as asked.",
    )


def _modify(intent: Intent, table: dict) -> Step:
    target = _column(table, intent.args["name"])
    if target is None:
        return _no_column(table, intent.args["name"])
    changes = dict(intent.args["changes"])
    if "required" in changes:
        what = "required" if changes["required"] else "optional"
    else:
        what = f"a {changes['type'].replace('_', ' ')} column"
        if changes["type"] in ("select", "multi_select") and not target.get("options"):
            top = list(target.get("stats", {}).get("top", {}))
            values = [
                r[target["name"]]
                for r in table.get("sample_rows", [])
                if isinstance(r.get(target["name"]), str)
            ]
            changes["options"] = list(dict.fromkeys([*top, *values])) or ["Low", "Medium", "High"]
    return _schema_update(
        table,
        [{"action": "modify", "column_id": target["id"], "changes": changes}],
        f"making “{target['name']}” {what}",
        f"Make {target['name']} {what} as asked.",
    )


def _add_rows(intent: Intent, table: dict) -> Step:
    given = intent.args["values"]
    for key in given:
        if _column(table, key) is None:
            return _no_column(table, key)
    values = {_column(table, k)["name"]: v for k, v in given.items()}
    count = min(intent.args["count"], MAX_NEW_ROWS)
    start = int(table.get("row_count") or 0)
    rows = [sample_row(table, start + i + 1, i) for i in range(count)]
    if values and count == 1:
        # one row the user described: their values, plus examples only where a value is required
        required = {c["name"] for c in table["columns"] if c.get("required") and not c.get("ai")}
        rows = [{k: v for k, v in rows[0].items() if k in required}]
    for row in rows:
        row.update(values)
    noun = "row" if count == 1 else "rows"
    capped = f" (I keep it to {MAX_NEW_ROWS} at a time)" if intent.args["count"] > MAX_NEW_ROWS else ""
    payload = {
        "table_id": table["id"],
        "reasoning": f"{count} new {noun} as asked{capped}.",
        "operations": [{"action": "add", "data": r} for r in rows],
    }
    if values and count == 1:
        summary = "1 new row (" + ", ".join(f"{k} = {_shown(v)}" for k, v in values.items()) + ")"
        text = f"I've proposed {summary} for “{table['name']}”. {DATA_GUIDE}"
    else:
        summary = f"{count} new {noun}{capped}"
        text = (
            f"I've proposed {summary} for “{table['name']}”, filled with example values you can edit "
            f"later. {DATA_GUIDE}"
        )
    return Step(text, [("propose_data", payload)], summary)


def _shown(value: Any) -> str:
    return "empty" if value is None else f"“{value}”" if isinstance(value, str) else str(value)


def sample_row(table: dict, n: int, i: int) -> dict[str, Any]:
    """An example row number `n` that fits the table's column types, using its stats where it helps."""
    row: dict[str, Any] = {}
    thing = thing_of(table.get("name", "Item"))
    first_text = next((c["name"] for c in table["columns"] if c["type"] == "text"), None)
    for c in table["columns"]:
        if c.get("ai"):
            continue
        stats, name, t = c.get("stats", {}), c["name"], c["type"]
        if t == "text":
            row[name] = f"New {thing} {n}" if name == first_text else f"{name} {n}"
        elif t == "long_text":
            row[name] = f"{name} for row {n}"
        elif t == "select":
            row[name] = c["options"][i % len(c["options"])]
        elif t == "multi_select":
            row[name] = [c["options"][i % len(c["options"])]]
        elif t == "number":
            lo, hi = stats.get("min"), stats.get("max")
            if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi > lo:
                span = hi - lo
                value = lo + span * ((i * 37) % 100) / 100
                row[name] = round(value) if isinstance(lo, int) and isinstance(hi, int) else round(value, 1)
            else:
                row[name] = lo if isinstance(lo, (int, float)) else i + 1
        elif t == "boolean":
            row[name] = i % 2 == 0
        elif t == "date":
            try:
                base = dt.date.fromisoformat(str(stats.get("max"))[:10])
            except ValueError:
                base = dt.date(2026, 1, 1)
            row[name] = (base + dt.timedelta(days=i + 1)).isoformat()
        elif t == "url":
            row[name] = f"https://example.com/{_slug(thing)}-{n}"
        elif t == "email":
            row[name] = f"{_slug(thing)}{n}@example.com"
    return row


def _matching_rows(done: list[Done], query: dict[str, Any]) -> tuple[list[dict] | None, int, Step | None]:
    """Rows matching `query`, paging through query_rows; or the next call; or the error to explain."""
    pages = [
        d
        for d in done
        if d.name == "query_rows" and {k: v for k, v in d.input.items() if k != "offset"} == query
    ]
    rows: list[dict] = []
    total = 0
    for page in pages:
        if page.is_error:
            return None, 0, Step(f"I couldn't find those rows: {_error_text(page.text)}")
        data = page.data() or {}
        rows += data.get("rows", [])
        total = data.get("total", 0)
    last = pages[-1].data() if pages else None
    if last is None:
        return None, 0, Step("Let me find the matching rows first.", [("query_rows", {**query, "offset": 0})])
    if last.get("next_offset") and len(rows) < MAX_MATCHED_ROWS:
        return None, 0, Step("", [("query_rows", {**query, "offset": last["next_offset"]})])
    return rows, total, None


def _delete_rows(intent: Intent, done: list[Done], tools: set) -> Step:
    if "ids" in intent.args:
        ids = intent.args["ids"]
        payload = {
            "reasoning": "Delete the rows asked for by id.",
            "operations": [{"action": "delete", "row_id": i} for i in ids],
        }
        summary = f"deleting {'row' if len(ids) == 1 else 'rows'} {', '.join(map(str, ids))}"
        return Step(f"I've proposed {summary}. {DATA_GUIDE}", [("propose_data", payload)], summary)
    cond: Cond = intent.args["cond"]
    query = {"filter": [cond.as_filter()], "limit": PAGE}
    rows, total, step = _matching_rows(done, query)
    if step:
        return step
    if not rows:
        return Step(f"No rows match “{cond.describe()}”, so there is nothing to delete.")
    more = f" (the first {len(rows)} of {total})" if total > len(rows) else ""
    payload = {
        "reasoning": f"Delete the rows where {cond.describe()}.",
        "operations": [{"action": "delete", "row_id": r["row_id"]} for r in rows],
    }
    summary = f"deleting {len(rows)} row{'s' if len(rows) != 1 else ''} where {cond.describe()}{more}"
    return Step(f"I've proposed {summary}. {DATA_GUIDE}", [("propose_data", payload)], summary)


def _set(intent: Intent, done: list[Done], tools: set) -> Step:
    cond: Cond | None = intent.args["cond"]
    column, value = intent.args["column"], intent.args["value"]
    query: dict[str, Any] = {"filter": [cond.as_filter()] if cond else [], "limit": PAGE}
    rows, total, step = _matching_rows(done, query)
    if step:
        return step
    where = f" where {cond.describe()}" if cond else ""
    if not rows:
        return Step(f"No rows match{where or ' in the table'}, so there is nothing to change.")
    key = next((k for r in rows for k in r if k.casefold() == column.casefold()), column)
    changed = [r for r in rows if r.get(key) != value]
    if not changed:
        return Step(f"{key} is already {value!r} in every matching row; nothing to change.")
    more = f" (the first {len(rows)} of {total} matching rows)" if total > len(rows) else ""
    payload = {
        "reasoning": f"Set {key} to {value!r}{where}.",
        "operations": [{"action": "update", "row_id": r["row_id"], "changes": {key: value}} for r in changed],
    }
    summary = (
        f"setting {key} to {_shown(value)} in {len(changed)} row{'s' if len(changed) != 1 else ''}"
        f"{where}{more}"
    )
    return Step(f"I've proposed {summary}. {DATA_GUIDE}", [("propose_data", payload)], summary)


def _fill(intent: Intent, done: list[Done], tools: set) -> Step:
    table, step = _need_table(done)
    if step:
        return step
    target = _column(table, intent.args["name"])
    if target is None:
        return _no_column(table, intent.args["name"])
    tool = "enrich_column" if intent.args["enrich"] else "fill_column"
    if tool not in tools:
        return Step(
            f"I can't start that here: filling columns with AI needs the background workers, and the "
            f"{tool} tool is not available right now. Your table is unchanged."
        )
    if tool == "fill_column" and not target.get("ai"):
        return Step(
            f"“{target['name']}” is not an AI column, so there is nothing to fill. Ask me to “enrich "
            f"column {target['name']}” to have AI research values for it, or add an AI column with a prompt."
        )
    args: dict[str, Any] = {"table_id": table["id"], "column_id": target["id"], "scope": intent.args["scope"]}
    if tool == "enrich_column":
        args["sample"] = 5
        scale = (f"“fill column {target['name']}”" if target.get("ai") else f"“enrich column {target['name']}” again")
        return Step(
            f"The background workers are computing “{target['name']}” for a sample of 5 rows first; the "
            "values come back as a proposal to review before anything is written. After you apply them, "
            f"ask me to {scale} for the rest.",
            [(tool, args)],
        )
    return Step(
        f"Filling “{target['name']}” ({intent.args['scope']} cells) now; progress shows in the chat.",
        [(tool, args)],
    )


def _list_tables(intent: Intent, done: list[Done], tools: set) -> Step:
    got = next((d for d in done if d.name == "list_tables"), None)
    if got is None:
        return Step("", [("list_tables", {})])
    data = got.data() or {}
    found = data.get("tables", [])
    if not found:
        return Step("There are no tables yet. Ask me to “create a table of …” to start one.")
    lines = [
        f"- **{t['name']}** — {t['rows']} rows" + (" (active)" if t.get("active") else "") for t in found
    ]
    return Step("Your tables:\n" + "\n".join(lines))


def _describe(intent: Intent, done: list[Done], tools: set) -> Step:
    table, step = _need_table(done)
    if step:
        return step
    lines = []
    for c in table["columns"]:
        s = c.get("stats", {})
        extra = f", {s.get('filled', 0)} filled"
        if "min" in s:
            extra += f", from {s['min']} to {s['max']}"
        if s.get("top"):
            extra += ", mostly " + ", ".join(list(s["top"])[:3])
        lines.append(
            f"- **{c['name']}** ({c['type'].replace('_', ' ')}{', AI' if c.get('ai') else ''}{extra})"
        )
    return Step(
        f"“{table['name']}” has {table['row_count']} rows and {len(lines)} columns:\n" + "\n".join(lines)
    )


def _accepted(intent: Intent, done: list[Done], tools: set) -> Step:
    text = intent.args["text"]
    m = re.search(r"created [\"“]([^\"”]+)[\"”]", text)
    if m:
        return Step(
            f"“{m.group(1)}” is created and open beside the chat. Next you can ask me to add rows, add a "
            "column (e.g. “add a column Priority (select)”), or add an AI column that fills itself."
        )
    if re.search(r"schema", text, re.IGNORECASE):
        return Step("The table has its new columns now. Ask for more changes whenever you like.")
    if m := re.search(r"applied (\d+) of (\d+)", text, re.IGNORECASE):
        return Step(
            f"{m.group(1)} of {m.group(2)} changes are in the table; the ones that failed are marked in "
            "the preview with the reason."
        )
    return Step("Done: the changes are in the table now.")


def _dismissed(intent: Intent, done: list[Done], tools: set) -> Step:
    return Step("OK, nothing was changed.")


HANDLERS = {
    "create": _create,
    "add_column": _on_table(_add_column_step),
    "remove_column": _on_table(_remove_column),
    "rename": _on_table(_rename),
    "modify": _on_table(_modify),
    "add_rows": _on_table(_add_rows),
    "delete_rows": _delete_rows,
    "set": _set,
    "fill": _fill,
    "list_tables": _list_tables,
    "describe": _describe,
    "accepted": _accepted,
    "dismissed": _dismissed,
}


# ------------------------------------------------------------------------------------- compound requests

SCHEMA_KINDS = frozenset({"add_column", "remove_column", "rename", "modify"})
DATA_KINDS = frozenset({"add_rows", "delete_rows", "set"})
VERBS = (
    r"(?:add|insert|create|include|remove|delete|drop|get rid of|rename|make|mark|set|change|update|convert|"
    r"turn|switch|fill|enrich|regenerate|recompute|list|describe)"
)
# a new request starts on a new line or after ";"; after ",", ".", "and" or "then" only when a request
# verb follows, so "add a row with Name = Salt and Pepper" stays one request
LINE_BREAK = re.compile(r"\s*(?:;|\n)\s*")
VERB_BREAK = re.compile(
    rf"(?:\s*,\s*(?:(?:and|then|also)\s+)*|\.\s+(?:(?:and|then|also)\s+)*|\s+(?:and|then)\s+(?:(?:then|also)\s+)*)"
    rf"(?={VERBS}\s)",
    re.IGNORECASE,
)
LIST_MARK = re.compile(r"^(?:[-*•]|\d+[.)])\s+")


def split_request(text: str) -> list[str]:
    """The requests in one message, in order: one per line, per ";", or per "…, and <verb> …"."""
    parts: list[str] = []
    for piece in LINE_BREAK.split(text.strip()):
        piece = LIST_MARK.sub("", piece.strip())
        parts += [p.strip() for p in VERB_BREAK.split(piece) if p.strip(" .,")]
    return parts


def parse_compound(text: str) -> list[tuple[str, Intent]] | None:
    """Each request of a message that holds several, each parsed on its own; None for a single request
    or when a part is not a request (then the message is read as one: "Make = Toyota" is a value)."""
    if text.lstrip().startswith("["):
        return None
    parts = split_request(text)
    if len(parts) < 2:
        return None
    clauses = [(p, parse_intent(p)) for p in parts]
    if any(i.kind in ("help", "accepted", "dismissed") for _, i in clauses):
        return None
    return clauses


def _group(intent: Intent) -> str | None:
    return "schema" if intent.kind in SCHEMA_KINDS else "data" if intent.kind in DATA_KINDS else None


def _quoted(parts: list[str]) -> str:
    return _listing([f"“{_clean(p)}”" for p in parts])


def _listing(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _compound(clauses: list[tuple[str, Intent]], done: list[Done], tools: set) -> Step:
    """Several requests in one message: the ones of the first request's kind become one proposal."""
    first = clauses[0][1]
    kind = _group(first)
    if kind is None:  # a new table, a fill…: one at a time
        step = HANDLERS[first.kind](first, done, tools)
        rest = [p for p, _ in clauses[1:]]
        return _noted(step, f"I've handled only the first request; send {_quoted(rest)} once this is done.")
    chosen = [i for _, i in clauses if _group(i) == kind]
    mixed = [p for p, i in clauses if _group(i) not in (kind, None)]
    other = [p for p, i in clauses if _group(i) is None]
    notes = []
    if mixed:
        held = "column changes" if kind == "schema" else "row changes"
        notes.append(
            f"Column changes and row changes must be separate proposals, so this one holds only the {held}; "
            f"send {_quoted(mixed)} again once you have applied or dismissed it."
        )
    if other:
        notes.append(f"Send {_quoted(other)} on its own afterwards.")
    step = _schema_compound(chosen, done) if kind == "schema" else _data_compound(chosen, done, tools)
    return _noted(step, " ".join(notes))


def _noted(step: Step, note: str) -> Step:
    """The step with `note` added once the model stops looking things up (said once, not every turn)."""
    looking = (
        step.calls
        and not step.proposing
        and not any(n in ("fill_column", "enrich_column") for n, _ in step.calls)
    )
    if not note or looking:
        return step
    return Step(f"{step.text} {note}".strip(), step.calls, step.summary)


def _proposal_text(parts: list[str], table: dict, skipped: list[str], guide: str) -> str:
    if len(parts) == 1:
        text = f"I've proposed {parts[0]} in “{table['name']}”."
    else:
        text = f"I've proposed these changes to “{table['name']}”: {'; '.join(parts)}."
    if skipped:
        text += " Left out: " + " ".join(dict.fromkeys(skipped))
    return f"{text} {guide}"


def _schema_compound(intents: list[Intent], done: list[Done]) -> Step:
    """One schema proposal for several column requests, each read against the table as the ones before
    it leave it (so "rename Title to Name, make Name required" finds the renamed column)."""
    table, step = _need_table(done)
    if step:
        return step
    work = json.loads(json.dumps(table))
    ops: list[dict] = []
    parts, skipped, reasons = [], [], []
    for intent in intents:
        handler = {
            "add_column": _add_column_step,
            "remove_column": _remove_column,
            "rename": _rename,
            "modify": _modify,
        }[intent.kind]
        step = handler(intent, work)
        if not step.proposing:
            skipped.append(step.text)
            continue
        payload = step.calls[0][1]
        for op in payload["operations"]:
            _merge_column_op(ops, op)
            _track(work, op)
        parts.append(step.summary)
        reasons.append(payload["reasoning"])
    if not ops:
        return Step(" ".join(dict.fromkeys(skipped)))
    payload = {
        "mode": "update",
        "table_id": table["id"],
        "table_name": None,
        "table_description": None,
        "reasoning": " ".join(reasons),
        "operations": ops,
    }
    return Step(
        _proposal_text(parts, table, skipped, SCHEMA_GUIDE), [("propose_schema", payload)], _listing(parts)
    )


def _merge_column_op(ops: list[dict], op: dict) -> None:
    """Add `op`; changes to a column already changed, or to a column being added, join that operation
    (the proposal allows one operation per column)."""
    if op["action"] == "modify":
        for other in ops:
            if other["action"] == "modify" and other["column_id"] == op["column_id"]:
                other["changes"] = {**other["changes"], **op["changes"]}
                return
            if other["action"] == "add" and other["column"]["name"] == op["column_id"]:
                spec = {**other["column"], **op["changes"]}
                if spec["type"] not in ("select", "multi_select"):
                    spec.pop("options", None)
                other["column"] = spec
                return
    ops.append(op)


def _track(work: dict, op: dict) -> None:
    """The working copy of the table as it will be once `op` is applied; a new column's id is its name."""
    cols = work["columns"]
    ids = [c["id"] for c in cols]
    if op["action"] == "add":
        spec = op["column"]
        at = ids.index(op["after_column_id"]) + 1 if op.get("after_column_id") in ids else len(cols)
        cols.insert(at, {**spec, "id": spec["name"], "stats": {}})
    elif op["action"] == "remove":
        work["columns"] = [c for c in cols if c["id"] != op["column_id"]]
    elif op["action"] == "modify":
        col = next(c for c in cols if c["id"] == op["column_id"])
        new = op["changes"].get("name")
        if new and col["id"] == col["name"]:
            col["id"] = new  # a column this message adds is still known by its name
        col.update(op["changes"])


def _data_compound(intents: list[Intent], done: list[Done], tools: set) -> Step:
    """One data proposal for several row requests: the table and every set of matching rows are looked
    up together, then the operations join (one per row: a deletion wins over changes to the same row)."""
    table, step = _need_table(done)
    lookups: list[tuple[str, dict]] = list(step.calls) if step else []
    if step and not lookups:
        return step  # no table to work on: the reason
    work = json.loads(json.dumps(table)) if table else None
    steps = []
    for intent in intents:
        if intent.kind == "add_rows":
            if work is None:
                continue
            step = _add_rows(intent, work)
            if step.proposing:
                work["row_count"] = int(work.get("row_count") or 0) + len(step.calls[0][1]["operations"])
        else:
            step = HANDLERS[intent.kind](intent, done, tools)
        if step.calls and not step.proposing:
            lookups += [c for c in step.calls if c not in lookups]
        else:
            steps.append(step)
    if lookups:
        looking = "Let me look at the table and the rows you named first." if work is None else ""
        return Step(looking, lookups)
    adds: list[dict] = []
    by_row: dict[int, dict] = {}
    dropped: set[int] = set()
    parts, skipped, reasons = [], [], []
    for step in steps:
        if not step.proposing:
            skipped.append(step.text)
            continue
        payload = step.calls[0][1]
        for op in payload["operations"]:
            if op["action"] == "add":
                adds.append(op)
                continue
            rid, before = op["row_id"], by_row.get(op["row_id"])
            if before is None:
                by_row[rid] = dict(op)
            elif op["action"] == "delete" or before["action"] == "delete":
                if op["action"] != before["action"]:
                    dropped.add(rid)
                by_row[rid] = {"action": "delete", "row_id": rid}
            else:
                before["changes"] = {**before["changes"], **op["changes"]}
        parts.append(step.summary)
        reasons.append(payload["reasoning"])
    ops = adds + list(by_row.values())
    if not ops:
        return Step(" ".join(dict.fromkeys(skipped)))
    if dropped:
        rows = sorted(dropped)
        which = (
            f"Row {rows[0]} is"
            if len(rows) == 1
            else f"Rows {', '.join(map(str, rows))} are"
            if len(rows) <= 5
            else f"{len(rows)} rows are"
        )
        skipped.append(f"{which} deleted, so the changes asked for there are not proposed.")
    payload = {"table_id": table["id"], "reasoning": " ".join(reasons), "operations": ops}
    return Step(
        _proposal_text(parts, table, skipped, DATA_GUIDE), [("propose_data", payload)], _listing(parts)
    )


# ------------------------------------------------------------------------------------------ the model


def _tokens(obj: Any) -> int:
    """A rough token count (4 characters a token), so usage figures move with the prompt's size."""
    return max(1, len(json.dumps(obj, ensure_ascii=False, default=str)) // 4)


def _chunks(text: str) -> list[str]:
    """The text in pieces of whole words of at most CHUNK_CHARS (a longer word is a piece alone)."""
    pieces = [""]
    for word in re.findall(r"\S+\s*|\s+", text):
        if pieces[-1] and len(pieces[-1]) + len(word) > CHUNK_CHARS:
            pieces.append("")
        pieces[-1] += word
    return [p for p in pieces if p]


class OfflineModel:
    """The built-in deterministic model (no API key needed); the UI says when it is the one answering."""

    name = "offline"
    offline = True

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        step = plan(request)
        used = sum(
            1
            for m in request.messages
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_use"
        )
        content: list[dict[str, Any]] = []
        if step.text:
            content.append({"type": "text", "text": step.text})
            for piece in _chunks(step.text):
                yield TextDelta(piece)
                await asyncio.sleep(0)  # let the UI render between chunks, as a network stream would
        for n, (tool, args) in enumerate(step.calls, start=used + 1):
            block = {"type": "tool_use", "id": f"toolu_offline_{n:04d}", "name": tool, "input": args}
            content.append(block)
            yield ToolUseStart(block["id"], tool)
        usage = {
            "input_tokens": _tokens([request.system, request.messages, request.tools]),
            "output_tokens": _tokens(content),
        }
        yield MessageDone(content, "tool_use" if step.calls else "end_turn", usage)
