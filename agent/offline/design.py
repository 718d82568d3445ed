"""Table design: a topic ("Italian restaurants in Chicago") → a create proposal with sample rows."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from agent.offline.templates import (
    CHICAGO_ITALIAN,
    CITY_AREAS,
    CUISINES,
    GENERIC,
    RESTAURANTS,
    SMALL_WORDS,
    TEMPLATES,
)


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


def slug(text: str) -> str:
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
            f"https://example.com/{slug(n)}",
        )
        for i, n in enumerate(names)
    ]


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
            row[name] = f"https://example.com/{slug(thing)}-{n}"
        elif t == "email":
            row[name] = f"{slug(thing)}{n}@example.com"
    return row


def design_table(topic: str, columns: list[dict[str, Any]] | None = None, name: str | None = None) -> dict[str, Any]:
    """A schema proposal (mode create) with 3 sample rows: the `columns` asked for, else those of the
    template that fits the topic; named `name`, else after the topic."""
    topic = re.sub(r"^(?:my|our|all|the|some|all of my|all the)\s+", "", topic.strip(), flags=re.IGNORECASE)
    topic = re.sub(r"^(?:tracking|managing|listing|keeping)\s+", "", topic, flags=re.IGNORECASE) or "items"
    name = (name or (title(topic) if topic != "items" else "New Table"))[:200]
    if columns:
        table = {"name": name, "columns": columns}
        samples = [sample_row(table, i + 1, i) for i in range(3)]
        why = "The columns asked for"
    else:
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
        samples = [{c["name"]: v for c, v in zip(columns, row)} for row in rows]
        why = f"Columns chosen for {topic}"
    return {
        "mode": "create",
        "table_name": name,
        "table_description": f"A table of {topic}."[:10_000],
        "reasoning": f"{why}: " + ", ".join(f"{c['name']} ({c['type']})" for c in columns),
        "operations": [{"action": "add", "column": c} for c in columns],
        "sample_rows": samples,
    }
