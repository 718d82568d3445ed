"""The offline model's vocabulary: type words, column-type hints from names, numbers, condition
phrases; and the small readers built on them (a cleaned name, a value as typed, a condition)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

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
# a column type guessed from its name when the request gives none: these first, on the whole name…
NAME_FIRST = [
    ((r"\b(?:phone|mobile|cell|tel|telephone|zip|postal|postcode|sku|isbn|id|code|serial|vin)\b|"
     r"\b(?:invoice|order|reference|ref|tracking|account|booking|confirmation|policy|case|ticket)\s+(?:number|no|#)"),
     "text"),
    (r"\bday of (?:the )?week\b|^weekday$", "select"),
    (r"^(?:how|who|what|where|why|which)\b", "text"),
    (r"^(?!(?:table|cable|stable|timetable|variable|vegetable|fable|label)$)[a-z]+(?:able|ible)$", "boolean"),
    (r"\be-?mails?\b|\bemail address", "email"),
    (r"\b(?:urls?|website|websites|web ?page|homepage|links?)\b", "url"),
    ((r"\b(?:date|dates|deadline|birthday|birthdate|dob|anniversary|day|started|created|updated|joined|born|"
     r"expires|expiry|expiration)\b|^(?:when|due)\b|\b\w+(?:wn|en|ght)\s+(?:on|at)$|\b(?:last|next|first)\s+\w+ed\b|\w+ed (?:on|at)\b"), "date"),
    ((r"^(?:is|has|was|did|are|does|can)\s|^(?:done|active|completed|finished|enabled|visited|watched|read|paid|"
     r"remote|available|watered|signed|approved|confirmed|booked|shipped|delivered|attended|attending|rsvp|vegan|"
     r"vegetarian|organic|favou?rite|archived|billable|recurring|subscribed|sold|verified|invited|owned|returned|"
     r"fixed|published|urgent|important|in stock|gluten[- ]free|received|cancelled|canceled|refunded|bought|"
      r"purchased|injured|married|vaccinated|neutered|insured|packed|cancel|renew|recommended)$|"
      r"\s(?:met|done|reached|achieved|completed|passed|won|sent|attended|taken|needed|required)$"), "boolean"),
]
# …then these, on the head word ("Expense Category" is a category) and then on the whole name
NAME_HINTS = [
    ((r"\b(?:prices?|costs?|ratings?|scores?|count|amount|age|qty|quantity|number|total|years?|points|salary|"
     r"budget|stock|size|weight|height|width|length|depth|revenue|percent|percentage|sets|reps|pages|servings|"
     r"calories|kcal|minutes|hours|mins|hrs|days|weeks|months|duration|distance|miles|km|guests|attendees|copies|"
     r"units|steps|laps|spent|fees?|rent|balance|income|expenses?|value|rank|votes|population|capacity|"
     r"temperature|mileage|stars|grade|volume|dose|speed|pace|headcount|seats|rooms|sales|profit|tax|tip|"
     r"deposit|target|saved|raised|earned|owed|glasses|cups|players|goals|downloads|views|likes|followers|subscribers|vintage|"
     r"systolic|diastolic|pulse|bpm|heart rate|glucose|estimate|effort|kg|lbs|inventory|bedrooms|bathrooms|sqft|square feet|wage|paid amount)\b|^#"),
     "number"),
    ((r"\b(?:notes?|description|summary|comments?|details|bio|review|reviews|thoughts|feedback|ingredients|"
     r"instructions|directions|remarks|observations|reflections?|lessons? learned|entry|entries)\b"), "long_text"),
    ((r"\b(?:priority|status|stage|category|level|type|tier|severity|kind|genre|mood|condition|difficulty|"
     r"frequency|format|platform|channel|source)\b"), "select"),
    (r"\b(?:tags|labels|topics|skills|keywords)\b", "multi_select"),
]
DEFAULT_OPTIONS = {
    "priority": ["P0", "P1", "P2", "P3"], "status": ["To do", "In progress", "Done"],
    "stage": ["New", "In progress", "Won", "Lost"], "severity": ["Critical", "Major", "Minor"],
    "level": ["Low", "Medium", "High"], "size": ["S", "M", "L", "XL"],
    "condition": ["New", "Good", "Fair", "Poor"], "difficulty": ["Easy", "Medium", "Hard"],
    "mood": ["Great", "Good", "Okay", "Bad"], "frequency": ["Daily", "Weekly", "Monthly"],
    "day of week": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "day of the week": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "weekday": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
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


def clean(text: str) -> str:
    """A name or value as written, without surrounding quotes, markup or final punctuation."""
    text = text.strip().rstrip(".!?;,").strip()
    text = re.sub(r"^\*+|\*+$", "", text).strip()
    if len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
        text = text[1:-1].strip()
    return text


def type_word(text: str) -> str | None:
    t = clean(text).lower()
    t = re.sub(r"^(?:an?|the)\s+", "", t)
    t = re.sub(r"\s+(?:column|field|type)$", "", t)
    return TYPE_WORDS.get(t)


FIRST_HINTS = [(re.compile(p), t) for p, t in NAME_FIRST]
HEAD_HINTS = [(re.compile(p), t) for p, t in NAME_HINTS]


def guess_type(name: str) -> str:
    low = " ".join(name.lower().split())
    for pattern, ctype in FIRST_HINTS:
        if pattern.search(low):
            return ctype
    words = re.split(r"\s+of\s+|\s*\(", low)[0].split()
    for part in (words[-1] if words else low, low):
        for pattern, ctype in HEAD_HINTS:
            if pattern.search(part):
                return ctype
    return "text"


def split_list(text: str) -> list[str]:
    parts = re.split(r"\s*(?:,|/|;|\bor\b|\band\b)\s*", clean(text))
    return [clean(p) for p in parts if clean(p)]


def count_word(word: str) -> int:
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
    text = clean(text)
    low = text.lower()
    for phrase, op in OPS:
        sym = not phrase[0].isalpha()
        pattern = re.escape(phrase) if sym else rf"\s{re.escape(phrase)}(?:\s|$)"
        m = re.search(pattern, low)
        if m is None or op is None:
            if m is not None:
                return None  # "does not contain" has no filter op
            continue
        column, value = clean(text[: m.start()]), clean(text[m.end() :])
        column = re.sub(r"^(?:the|its|their)\s+", "", column, flags=re.IGNORECASE)
        if not column:
            return None
        if op in ("empty", "not_empty"):
            return Cond(column, op)
        if not value:
            return None
        return Cond(column, op, value_of(value))
    return None


def value_of(text: str) -> Any:
    """A value as typed: numbers stay text (the table's column types coerce them), except plain ones."""
    text = clean(text)
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
