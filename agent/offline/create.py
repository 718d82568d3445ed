"""A request for a new table, as people type it: "I'd like a table to track my houseplants: name, species,
last watered date, light needs" → the subject ("houseplants", which names the table), an explicit name
("… called Reading List") and the columns listed, if any."""

from __future__ import annotations

import re
from typing import Any

from agent.offline.columns import name_case, read_columns, split_columns

# fmt: off
POLITE = re.compile(r"^(?:(?:please|pls|ok(?:ay)?|hey|hi|hello|so|now|hmm|right|also)[,!.]?\s+)+", re.IGNORECASE)
WISH = re.compile(r"^(?:(?:can|could|would|will) you(?: please)?(?: help me)?\s+|(?:want|need|'d like)(?: to)?\s+|i(?:'d| would) (?:like|love)(?: to)?\s+|"
                  r"i (?:want|need)(?: to)?\s+|i'm looking for\s+|i am looking for\s+|let's\s+|lets\s+|"
                  r"help me(?: to)?\s+|give me\s+|get me\s+|we (?:want|need)(?: to)?\s+|i wanna\s+|"
                  r"i'd like\s+|is it possible to\s+|time to\s+|(?:something|a way|a place|a tool)\s+(?:to|for)\s+)+",
                  re.IGNORECASE)
VERB = r"(?:create|make|build|start|set up|setup|design|generate|prepare|draft|put together|have|need|want|keep)"
NOUN = (r"(?:table|list|tracker|database|db|spreadsheet|sheet|log|logbook|inventory|catalog(?:ue)?|register|"
        r"planner|journal|record|watchlist|wishlist|checklist|directory|roster|schedule|diary|collection)s?")
TABLE = re.compile(rf"^(?:(?P<verb>{VERB})\s+(?:me\s+|us\s+)?)?(?P<art>an?\s+|the\s+|my\s+|our\s+|one\s+)?"
                   r"(?:(?:new|simple|small|basic|quick|little|blank|nice|proper|empty)\s+)*"
                   rf"(?P<pre>(?:[\w'’-]+\s+){{0,3}}?)(?P<noun>{NOUN})\b(?P<rest>.*)$", re.IGNORECASE)
TRACK = re.compile(r"^(?:start\s+|begin\s+)?(?:track(?:ing)?|keep(?:ing)? track of|log(?:ging)?|record(?:ing)?|"
                   r"manage|organi[sz]e|catalog(?:ue)?|monitor|plan|keep a (?:list|record|log) of)\s+(?P<rest>.+)$",
                   re.IGNORECASE)
LINK = re.compile(r"^\s*(?:(?:of|for|about|on|listing|with all|of all|containing all)\s+)?"
                  r"(?:(?:to|so i can|so we can|where i can|that will|which will|that|which|for|i can use to)\s+)?"
                  r"(?:(?:help me\s+)?(?:keep track of|track(?:ing|s)?|log(?:ging|s)?|record(?:ing|s)?|manag(?:e|ing|es)|"
                  r"organi[sz](?:e|ing|es)|stor(?:e|ing|es)|hold(?:ing|s)?|list(?:ing|s)?|plan(?:ning|s)?|"
                  r"follow(?:ing|s)?|monitor(?:ing|s)?|keep(?:ing)?|catalog(?:ue)?(?:ing)?)\s+)?", re.IGNORECASE)
CALLED = re.compile(r"^\s*(?:called|named|titled)\s+[\"“'‘]?(?P<name>[^\"”'’:,;]+?)[\"”'’]?"
                    r"(?=\s*(?::|[-–—]\s|,|;|$|\s+(?:with|including|for|to track|of|that|containing)\b))", re.IGNORECASE)
# what may follow "a table" in a request for one
OPENS = re.compile(r"^\s*(?:of|for|about|on|listing|with|including|containing|to|that|which|where|so|called|named|"
                   r"titled|i|we|from|in|like|[:(\"“'‘—–-])", re.IGNORECASE)
# where a list of columns starts: strong markers need one column, weak ones ("with", "including") two
PAREN = re.compile(r"\s+\((?=[^()]*,[^()]*\)\s*$)")  # "my subscriptions (service, cost, renewal date)"
STRONG = re.compile(r"\s*:\s*|\s+[-–—]+\s+|\s*\b(?:(?:with|using|and)\s+)?(?:(?:the|these|those|this|some|following)\s+)*"
                    r"(?:columns?|fields?|headers?|headings?)\s*(?:for|of|like|such as|named|called)?\s*:?\s*",
                    re.IGNORECASE)
WEAK = re.compile(r"\s+(?:with|including|containing|having|that (?:has|have|includes?|shows?|lists?)|"
                  r"which (?:has|have|includes?)|where i (?:can )?(?:record|log|note|track|keep|store|write down|put)|"
                  r"and (?:record|log|track|note|store)(?:ing)?|recording|noting|storing|listing|"
                  r"like)\s+(?:(?:things like|stuff like|info like|details like|details such as|such as|their|its)\s+)?",
                  re.IGNORECASE)
LEAD = re.compile(r"^(?:(?:all|some|a few)\s+(?:of\s+)?)?(?:my|our|the|your|his|her|their|a|an|some|all|every|each)\s+",
                  re.IGNORECASE)
TAIL = re.compile(r"\s+(?:so that|so i can|so we can|because|since|that i|which i|i (?:have|own|keep)\b|we have|"
                  r"for me|for us|please|in it|in there)\b.*$", re.IGNORECASE)
# a second sentence that lists the columns, and a sentence or clause after which a request may start
LATER = re.compile(r"\s*[.?!]\s+(?:(?:we|i)\s+(?:need|want|would like|'d like)(?:\s+to\s+(?:track|record|log|store|have|"
                   r"see|keep))?|it should (?:have|include|track|show)|(?:it|this) needs|include|columns?(?: are| should be)?|"
                   r"fields?(?: are)?|things like|with)\s*:?\s+(?=\S+[^.?!]*,)", re.IGNORECASE)
AFTER = re.compile(r"[.!?]\s+|\s+(?:and|so)\s+(?=(?:i\s+|we\s+)?(?:want|need|would like|'d like)\b)", re.IGNORECASE)
# fmt: on


def read_create(text: str) -> dict[str, Any] | None:
    """{"topic", "name", "columns"} for a request to create a table; None when it is not one. The request
    may come after a sentence about something else ("I'm a teacher. Make a table of my classes …")."""
    text = LATER.sub(": ", text)  # "… for my book club? We need book, author, …"
    for start in [0, *(m.end() for m in AFTER.finditer(text))]:
        if (found := _read_create(text[start:])) is not None:
            return found
    return None


def _read_create(text: str) -> dict[str, Any] | None:
    text = re.sub(r"\s*\n\s*(?:[-*•]|\d+[.)])?\s*", ", ", text.strip())  # a list one column a line
    text = POLITE.sub("", " ".join(re.sub(r"([:(]),\s*", r"\1 ", text).split()))
    stripped = WISH.sub("", text)
    wished = stripped != text
    if re.match(r"^(?:can|could|would|will)\b", text, re.IGNORECASE) or not re.search(r"\w\?$", stripped):
        stripped = re.sub(r"[.!?]+$", "", stripped)  # a question mark ends the sentence, not a yes/no column
    stripped = re.sub(r"\.+$", "", stripped).strip()
    tracking = re.match(r"^(?:track|keep track|log|record|manage|organi[sz]e|monitor|plan)\b", stripped, re.IGNORECASE)
    m = None if tracking else TABLE.match(stripped)
    fresh = re.match(rf"^(?:new\b|{NOUN}\s*(?:for|of|to|with|:))", stripped, re.IGNORECASE)
    if m and (m.group("verb") or wished or m.group("art") or fresh) and not _no_create(m.group("pre")):
        pre = LEAD.sub("", m.group("pre").strip())
        rest = m.group("rest")
        if rest.strip() and not OPENS.match(rest):
            return None  # "make the table pretty": not a new table
    elif (m := TRACK.match(stripped)) is not None and not re.fullmatch(r"(?:me\s+)?(?:out|in|off|on)", m["rest"]):
        pre, rest = "", " " + m.group("rest")
    else:
        return None
    name = None
    if called := CALLED.match(rest):
        name, rest = called.group("name").strip(), rest[called.end():]
    subject, columns = _subject_and_columns(rest, bool(pre or name))
    subject = LINK.sub("", subject, count=1)
    subject = TAIL.sub("", subject).strip(" ,.")
    if (quoted := re.fullmatch(r"\s*[\"“'‘](.+?)[\"”'’]\s*", subject)) and not name:
        name = subject = quoted.group(1)  # 'a table "Clients" with …'
    for _ in range(2):
        subject = LEAD.sub("", subject).strip()
    rows = r"^(?:(?:new|more|another|an?)\s+)?(?:tables?|rows?|records?|columns?|entry|entries|cells?)\b"
    if (not columns and re.match(rows, subject, re.IGNORECASE)) or any("=" in c["name"] for c in columns or []):
        return None  # "I want a list of my tables", "a list of the rows where …": not a new table
    if pre and not name:  # "a packing list for my trip": the Packing List
        noun = m.group("noun").lower().rstrip("s")
        plain = noun in ("table", "spreadsheet", "sheet", "database", "db", "record")
        name = name_case(pre if plain else f"{pre} {noun}")
        subject = subject or name
    return {"topic": subject or name or "", "name": name, "columns": columns}


def _no_create(pre: str) -> bool:
    """Words before "table" that make the request something else ("describe the table", "list tables")."""
    return bool(re.match(r"^(?:describe|show|list|explain|summari[sz]e|what|which|this|that|current|active)\b",
                         pre.strip(), re.IGNORECASE) or re.search(r"(?<![\w-])(?:a|an|the|to|into|as|this|that|these|those)(?![\w-])", pre, re.IGNORECASE))


def _subject_and_columns(rest: str, named: bool) -> tuple[str, list[dict[str, Any]] | None]:
    for marker, least in ((STRONG, 1), (WEAK, 2), (PAREN, 2)):
        for m in marker.finditer(rest):
            if least > 1 and not named and not rest[: m.start()].strip() and not re.match(
                r"\s*(?:with|including|containing|having)\b", m.group(0), re.IGNORECASE
            ):
                continue  # "a table listing my hiking trails with …": the subject comes first
            listed = rest[m.end():].rstrip(")") if m.group(0).strip() == "(" else rest[m.end():]
            if least == 1 and not named and not rest[: m.start()].strip() and m.group(0).strip() == ":":
                subject, columns = _subject_and_columns(listed, True)  # "new table: podcast episodes with …"
                return ("", read_columns(listed)) if columns is None else (subject, columns)  # "a table: a, b"
            if len(split_columns(listed)) >= least:
                columns = read_columns(listed)
                if len(columns) >= least:
                    return rest[: m.start()], columns
    return rest, None
