"""Columns as people list them in a request, typed from their words.

"name, species, last watered date, light needs (low/medium/bright), price in $, rating 1-5, watered?"
→ Name (text), Species (text), Last Watered Date (date), Light Needs (select: Low, Medium, Bright),
Price ($) (number), Rating (number), Watered (boolean)."""

from __future__ import annotations

import re
from typing import Any

from agent.offline.words import DEFAULT_OPTIONS, QUOTES, clean, guess_type, split_list, type_word

# fmt: off
UNITS = (r"\$|€|£|¥|usd|eur|gbp|euros?|dollars?|pounds?|yen|kg|kgs|kilos?|g|grams?|lbs?|oz|ounces?|km|mi|miles?|"
         r"m|meters?|metres?|cm|mm|ft|feet|inches|in|hours?|hrs?|h|minutes?|mins?|seconds?|secs?|s|days?|weeks?|"
         r"months?|years?|%|percent|kcal|calories|cal|ml|l|liters?|litres?|gallons?|mph|kmh|km/h|°c|°f|celsius|"
         r"fahrenheit|pages|steps|reps|servings|mg|mcg|µg|iu|tbsp|tsp|cups?")
RANGE = re.compile(r"\s*(?:\(|,)?\s*(?:(?:on\s+)?a\s+scale\s+(?:of|from)\s+|from\s+|out\s+of\s+|/\s*)?"
                   r"(\d+)(?:\s*(?:-|–|—|to)\s*(\d+))?\s*(?:stars?|points?)?\s*\)?\s*$", re.IGNORECASE)
LEAD = re.compile(r"^(?:and|or|also|then|a|an|the|their|its|his|her|my|our|your|each|one|some|any|"
                  r"a column for|column for|columns? for|a field for|field for|fields? for)\s+", re.IGNORECASE)
BOOLEAN = re.compile(r"^(?:whether|if)\s+(?:(?:it|they|he|she|i|we)(?:'s|'re|’s|’re|\s+))?(?:is|are|was|were|has|"
                     r"have|had|did)?\s*(?:been\s+)?(.+)$|^(?:is it|are they|does it|do they|did it|can it)\s+(.+?)\??$",
                     re.IGNORECASE)
TYPE_SUFFIX = {"checkbox", "boolean", "bool", "dropdown", "select", "integer", "int", "float", "decimal", "numeric",
               "text", "string", "multi-select", "multiselect", "yes/no"}
YES_NO = re.compile(r"\s*(?:\(\s*)?(?:yes\s*/\s*no|y\s*/\s*n|true\s*/\s*false|yes or no|checkbox)(?:\s*\))?\s*\??$",
                    re.IGNORECASE)
COUNT = re.compile(r"^(?:number of|no\.? of|# of|#|how many|count of|amount of|total)\s+(.+)$", re.IGNORECASE)
PARENS = re.compile(r"\s*\(([^()]*)\)\s*$")
UNIT = re.compile(rf"(?:in\s+)?(?:{UNITS})", re.IGNORECASE)
IN_UNIT = re.compile(rf"\s+in\s+({UNITS})$", re.IGNORECASE)
PER_UNIT = re.compile(rf"\s+per\s+(?:{UNITS})$", re.IGNORECASE)
TYPED = re.compile(r"\s*(?::|\s-|–|—|\bas an?|\bas)\s+([\w /-]+)$", re.IGNORECASE)
SMALL = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "from", "per"}
# fmt: on


def split_columns(text: str) -> list[str]:
    """The items of a list ("a, b and c", "a; b", "a + b"), not split inside parentheses."""
    items, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
        if depth == 0 and ch in ",;\n":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out: list[str] = []
    for item in items:
        # " and " joins two columns unless it sits inside parentheses
        out += [p for p in re.split(r"\s+(?:and|&)\s+(?![^()]*\))", item) if p.strip()]
    items = [LEAD.sub("", LEAD.sub("", p.strip().strip(QUOTES).rstrip(".!;,").strip())) for p in out]
    return [i for i in items if clean(i)]


def name_case(text: str) -> str:
    """A column or table name in title case, keeping words already capitalised ("SKU", "iPhone")."""
    words = text.split()
    return " ".join(
        w if any(ch.isupper() for ch in w) else (w if 0 < i < len(words) - 1 and w in SMALL else w[:1].upper() + w[1:])
        for i, w in enumerate(words)
    )


def read_column(item: str) -> dict[str, Any] | None:
    """One listed column → {"name", "type", ["options"]}; None when the item holds no name."""
    asked = item.strip().rstrip(".!;,").endswith("?")  # "reimbursed?": a yes/no column
    text = clean(item)
    ctype: str | None = "boolean" if asked else None
    options: list[str] | None = None
    unit = ""
    if (m := YES_NO.search(text)) and m.start() > 0:
        ctype, text = "boolean", text[: m.start()]
    if ctype is None and (m := PARENS.search(text)):
        inner = m.group(1).strip()
        text = text[: m.start()].strip()
        if type_word(inner):
            ctype = type_word(inner)
        elif RANGE.fullmatch(f"({inner})") or re.fullmatch(r"\d+\s*(?:-|–|to)\s*\d+", inner):
            ctype = "number"
        elif UNIT.fullmatch(inner):
            ctype, unit = "number", inner
        elif re.search(r",|/|\bor\b", inner):
            options = [name_case(o) if o.islower() else o for o in split_list(inner)]
            ctype = "multi_select" if re.search(r"tags|labels|topics|skills", text, re.IGNORECASE) else "select"
    typed = TYPED.search(text)
    if ctype is None and typed and type_word(typed.group(1)):
        ctype, text = type_word(typed.group(1)), text[: typed.start()]
    if ctype is None and (m := IN_UNIT.search(text)):
        ctype, unit, text = "number", m.group(1), text[: m.start()]
    if ctype is None and PER_UNIT.search(text):
        ctype = "number"  # "rent per month": an amount, named as said
    if ctype is None and (m := RANGE.search(text)) and m.start() > 0 and (m.group(2) or "/" in m.group(0)
                                                                         or "of" in m.group(0)):
        ctype, text = "number", text[: m.start()]
    if ctype is None and (m := COUNT.match(text)):
        ctype = "number"
    if ctype is None and (m := BOOLEAN.match(text)):
        ctype, text = "boolean", m.group(1) or m.group(2)
    if ctype is None and text.endswith("?"):
        ctype = "boolean"
    if ctype is None and (m := re.match(r"^(.+?)\s+(?:date|day)\s+(?:of|when)\s+", text)) is None:
        word = text.split()[-1] if text.split() else ""
        if len(text.split()) > 1 and word.lower() in TYPE_SUFFIX:
            ctype = type_word(word)  # "priority dropdown", "done checkbox"
            text = " ".join(text.split()[:-1])
    name = clean(re.sub(r"\?+$", "", text)).strip(" -–—:")
    if not name or len(name) > 60:
        return None
    name = name_case(name) + (f" ({unit})" if unit else "")
    chosen = ctype is not None
    ctype = ctype or guess_type(name)
    column: dict[str, Any] = {"name": name, "type": ctype}
    if ctype in ("select", "multi_select"):
        known = DEFAULT_OPTIONS.get(name.lower()) or (["Low", "Medium", "High"] if chosen else None)
        if not (options or known):
            return {"name": name, "type": "text"}  # a choice among values nobody named: free text
        column["options"] = options or known
    return column


def read_columns(text: str) -> list[dict[str, Any]]:
    """Every column listed in `text`, once each (by name), the first text column required."""
    seen: dict[str, dict[str, Any]] = {}
    for item in split_columns(text):
        col = read_column(item)
        if col and col["name"].casefold() not in seen:
            seen[col["name"].casefold()] = col
    cols = list(seen.values())
    if cols and cols[0]["type"] == "text":
        cols[0] = {**cols[0], "required": True}
    return cols
