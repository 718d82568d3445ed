"""Steps for row requests and the rest: add, delete or change rows, fill a column, list and describe
tables, and the short answers after a proposal is accepted or dismissed."""

from __future__ import annotations

import re
from typing import Any

from agent.offline.conversation import (
    DATA_GUIDE,
    MAX_MATCHED_ROWS,
    MAX_NEW_ROWS,
    PAGE,
    Done,
    Step,
    error_text,
    find_column,
    need_table,
    no_column,
)
from agent.offline.design import sample_row
from agent.offline.intents import Intent
from agent.offline.words import Cond
from core.markdown import md_text


def add_rows(intent: Intent, table: dict) -> Step:
    given = intent.args["values"]
    for key in given:
        if find_column(table, key) is None:
            return no_column(table, key)
    values = {find_column(table, k)["name"]: v for k, v in given.items()}
    if intent.args.get("label"):  # the row's name goes in the first text column
        first = next((c for c in table["columns"] if c["type"] == "text" and not c.get("ai")), None)
        if first is not None:
            values = {first["name"]: intent.args["label"], **values}
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
        summary = "1 new row (" + ", ".join(f"{md_text(k)} = {_shown(v)}" for k, v in values.items()) + ")"
        text = f"I've proposed {summary} for “{md_text(table['name'])}”. {DATA_GUIDE}"
    else:
        summary = f"{count} new {noun}{capped}"
        text = (
            f"I've proposed {summary} for “{md_text(table['name'])}”, filled with example values you can edit "
            f"later. {DATA_GUIDE}"
        )
    return Step(text, [("propose_data", payload)], summary)


def _shown(value: Any) -> str:
    return "empty" if value is None else f"“{md_text(value)}”" if isinstance(value, str) else md_text(value)


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
            return None, 0, Step(f"I couldn't find those rows: {md_text(error_text(page.text), limit=None)}")
        data = page.data() or {}
        rows += data.get("rows", [])
        total = data.get("total", 0)
    last = pages[-1].data() if pages else None
    if last is None:
        return None, 0, Step("Let me find the matching rows first.", [("query_rows", {**query, "offset": 0})])
    if last.get("next_offset") and len(rows) < MAX_MATCHED_ROWS:
        return None, 0, Step("", [("query_rows", {**query, "offset": last["next_offset"]})])
    return rows, total, None


def delete_rows(intent: Intent, done: list[Done], tools: set) -> Step:
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
        return Step(f"No rows match “{md_text(cond.describe())}”, so there is nothing to delete.")
    more = f" (the first {len(rows)} of {total})" if total > len(rows) else ""
    payload = {
        "reasoning": f"Delete the rows where {cond.describe()}.",
        "operations": [{"action": "delete", "row_id": r["row_id"]} for r in rows],
    }
    summary = f"deleting {len(rows)} row{'s' if len(rows) != 1 else ''} where {md_text(cond.describe())}{more}"
    return Step(f"I've proposed {summary}. {DATA_GUIDE}", [("propose_data", payload)], summary)


def set_values(intent: Intent, done: list[Done], tools: set) -> Step:
    cond: Cond | None = intent.args["cond"]
    column, value = intent.args["column"], intent.args["value"]
    query: dict[str, Any] = {"filter": [cond.as_filter()] if cond else [], "limit": PAGE}
    rows, total, step = _matching_rows(done, query)
    if step:
        return step
    where = f" where {md_text(cond.describe())}" if cond else ""
    if not rows:
        return Step(f"No rows match{where or ' in the table'}, so there is nothing to change.")
    key = next((k for r in rows for k in r if k.casefold() == column.casefold()), column)
    changed = [r for r in rows if r.get(key) != value]
    if not changed:
        return Step(f"{md_text(key)} is already {_shown(value)} in every matching row; nothing to change.")
    more = f" (the first {len(rows)} of {total} matching rows)" if total > len(rows) else ""
    payload = {
        "reasoning": f"Set {key} to {value!r}{' where ' + cond.describe() if cond else ''}.",
        "operations": [{"action": "update", "row_id": r["row_id"], "changes": {key: value}} for r in changed],
    }
    summary = (
        f"setting {md_text(key)} to {_shown(value)} in {len(changed)} row{'s' if len(changed) != 1 else ''}"
        f"{where}{more}"
    )
    return Step(f"I've proposed {summary}. {DATA_GUIDE}", [("propose_data", payload)], summary)


def fill(intent: Intent, done: list[Done], tools: set) -> Step:
    table, step = need_table(done)
    if step:
        return step
    target = find_column(table, intent.args["name"])
    if target is None:
        return no_column(table, intent.args["name"])
    tool = "enrich_column" if intent.args["enrich"] else "fill_column"
    if tool not in tools:
        return Step(
            f"I can't start that here: filling columns with AI needs the background workers, and the "
            f"{tool} tool is not available right now. Your table is unchanged."
        )
    if tool == "fill_column" and not target.get("ai"):
        return Step(
            f"“{md_text(target['name'])}” is not an AI column, so there is nothing to fill. Ask me to “enrich "
            f"column {md_text(target['name'])}” to have AI research values for it, or add an AI column with a prompt."
        )
    args: dict[str, Any] = {"table_id": table["id"], "column_id": target["id"], "scope": intent.args["scope"]}
    if tool == "fill_column" and intent.args.get("mode"):
        args["mode"] = intent.args["mode"]
    if tool == "enrich_column":
        args["sample"] = 5
        shown = md_text(target["name"])
        scale = f"“fill column {shown}”" if target.get("ai") else f"“enrich column {shown}” again"
        return Step(
            f"The background workers are computing “{shown}” for a sample of 5 rows first; the "
            "values come back as a proposal to review before anything is written. After you apply them, "
            f"ask me to {scale} for the rest.",
            [(tool, args)],
        )
    how = "as a batch (half the price)" if args.get("mode") == "batch" else "now"
    return Step(
        f"Filling “{md_text(target['name'])}” ({intent.args['scope']} cells) {how}; progress shows in the chat.",
        [(tool, args)],
    )


def list_tables(intent: Intent, done: list[Done], tools: set) -> Step:
    got = next((d for d in done if d.name == "list_tables"), None)
    if got is None:
        return Step("", [("list_tables", {})])
    data = got.data() or {}
    found = data.get("tables", [])
    others = data.get("other_workspaces") or []
    elsewhere = ""
    if others:
        named = ", ".join(f"**{md_text(w['name'])}** ({w['tables']} table{'s' if w['tables'] != 1 else ''})"
                          for w in others[:5])
        elsewhere = f"\n\nYour other workspaces: {named}. To work on one of their tables, use /tables and Open it."
    if not found:
        return Step("There are no tables yet in this workspace. Ask me to “create a table of …” to start one."
                    + elsewhere)
    lines = [
        f"- **{md_text(t['name'])}** — {t['rows']} rows" + (" (active)" if t.get("active") else "") for t in found
    ]
    return Step("Your tables in this workspace:\n" + "\n".join(lines) + elsewhere)


def describe(intent: Intent, done: list[Done], tools: set) -> Step:
    table, step = need_table(done)
    if step:
        return step
    lines = []
    for c in table["columns"]:
        s = c.get("stats", {})
        extra = f", {s.get('filled', 0)} filled"
        if "min" in s:
            extra += f", from {md_text(s['min'])} to {md_text(s['max'])}"
        if s.get("top"):
            extra += ", mostly " + ", ".join(md_text(v) for v in list(s["top"])[:3])
        lines.append(
            f"- **{md_text(c['name'])}** ({c['type'].replace('_', ' ')}{', AI' if c.get('ai') else ''}{extra})"
        )
    return Step(
        f"“{md_text(table['name'])}” has {table['row_count']} rows and {len(lines)} columns:\n" + "\n".join(lines)
    )


def accepted(intent: Intent, done: list[Done], tools: set) -> Step:
    text = intent.args["text"]
    m = re.search(r"created [\"“]([^\"”]+)[\"”]", text)
    if m:
        return Step(
            f"“{md_text(m.group(1))}” is created and open beside the chat. Next you can ask me to add rows, add a "
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


def thanks(intent: Intent, done: list[Done], tools: set) -> Step:
    return Step("You're welcome. Tell me what to change next, or type “help” to see what I can do.")


def dismissed(intent: Intent, done: list[Done], tools: set) -> Step:
    return Step("OK, nothing was changed.")

