"""The offline model's data requests: an uploaded file becomes an import proposal, "chart X by Y" and
"average X by Y" become `analyze_table` calls, "export this table [as xlsx]" becomes `export_table`.

`plan_data(ask, done)` returns this turn's (text, tool calls), or None when the request is not one of
these; `done` holds the tool calls made since the request (objects with name, input, text, is_error,
data())."""

from __future__ import annotations

import re
from typing import Any

from core.markdown import md_text

Calls = list[tuple[str, dict[str, Any]]]
Plan = tuple[str, Calls]

UPLOAD = re.compile(r'\[User uploaded the file "(?P<file>[^"]*)" \(upload_id: (?P<id>[0-9a-f-]{36})\): '
                    r"(?P<rows>[\d,]+) rows, (?P<cols>\d+) columns: [^\]]*?"
                    r'(?:A table is open: "(?P<table>[^"]*)"[^\]]*)?\]')
KEY = re.compile(r"\b(?:update|match(?:ed|ing)?|merge|upsert)\b(?:\s+\w+){0,3}?\s+(?:by|on|using)\s+(?:the\s+)?"
                 r"[\"“']?(?P<key>[^\"”'.,;\n]+?)[\"”']?(?:\s+column)?\s*(?:[.,;\n]|$)", re.IGNORECASE)
NEW_TABLE = re.compile(r"\b(?:new|separate|another)\s+table\b|\bcreate\s+(?:a\s+)?table\b", re.IGNORECASE)
CHART = re.compile(r"^(?:please\s+)?(?:(?:draw|make|show|give)\s+(?:me\s+)?(?:an?\s+)?)?"
                   r"(?:(?P<kind>bar|line|pie|scatter)\s+)?(?:chart|plot|graph|visuali[sz]e)\s+(?:of\s+)?(?:the\s+)?"
                   r"(?P<y>.+?)\s+(?:by|per|over|across|for each)\s+(?P<x>.+?)$", re.IGNORECASE)
AGGREGATE = re.compile(r"^(?:(?:what(?:'s| is| are)|show(?: me)?|give me|compute)\s+)?(?:the\s+)?"
                       r"(?P<func>average|mean|avg|total|sum|median|max|maximum|highest|min|minimum|lowest)\s+"
                       r"(?:of\s+)?(?:the\s+)?(?P<y>.+?)\s+(?:by|per|for each|across)\s+(?P<x>.+?)$", re.IGNORECASE)
COUNT = re.compile(r"^(?:count|how many)\s+(?:rows|records|entries|items)?\s*(?:are there\s+)?(?:by|per|for each|in each)"
                   r"\s+(?P<x>.+?)$", re.IGNORECASE)
EXPORT = re.compile(r"^(?:please\s+)?(?:export|download|save)\s+(?:this|the|my|current|active|\s)*(?:table|data|sheet)?"
                    r"(?:\s+(?:as|to|in(?:to)?)\s+(?:an?\s+)?(?P<fmt>csv|xlsx|excel|spreadsheet)(?:\s+file)?)?$",
                    re.IGNORECASE)
FUNCS = {"average": "mean", "mean": "mean", "avg": "mean", "total": "sum", "sum": "sum", "median": "median",
         "max": "max", "maximum": "max", "highest": "max", "min": "min", "minimum": "min", "lowest": "min"}
WORDS = {"mean": "average", "sum": "total", "median": "median", "max": "highest", "min": "lowest", "count": "number of rows"}


def _clean(text: str) -> str:
    return text.strip().strip("\"'“”‘’`*").rstrip(".!?").strip()


def _error(text: str) -> str:
    return re.sub(r"^Error:\s*", "", text.strip())


def _last(done: list[Any], name: str) -> Any:
    return next((d for d in reversed(done) if d.name == name), None)


def plan_data(ask: str, done: list[Any]) -> Plan | None:
    """This turn's text and tool calls for a data request, or None when `ask` is not one."""
    if (m := UPLOAD.search(ask)) is not None:
        return _import(m, (ask[: m.start()] + ask[m.end():]).strip())
    text = " ".join(ask.split())
    text = re.sub(r"[.!?]+$", "", text)
    if (m := EXPORT.match(text)) is not None:
        return _export(m.group("fmt"), done)
    if (m := CHART.match(text)) is not None:
        return _analysis(_clean(m.group("y")), _clean(m.group("x")), None, (m.group("kind") or "bar").lower(), done)
    if (m := AGGREGATE.match(text)) is not None:
        return _analysis(_clean(m.group("y")), _clean(m.group("x")), FUNCS[m.group("func").lower()], None, done)
    if (m := COUNT.match(text)) is not None:
        return _analysis(None, _clean(m.group("x")), "count", None, done)
    return None


# --------------------------------------------------------------------------------------------- import


def _import(m: re.Match[str], said: str) -> Plan:
    file, rows, table = m.group("file"), m.group("rows"), m.group("table")
    key = KEY.search(said)
    if table and not NEW_TABLE.search(said):
        args: dict[str, Any] = {"upload_id": m.group("id"), "target": "active_table"}
        if key:
            args["key_column"] = _clean(key.group("key"))
            what = (f"updating the rows of “{md_text(table)}” whose {md_text(args['key_column'])} matches a row of "
                    f"“{md_text(file)}”, and "
                    "adding the file's other rows")
        else:
            what = f"adding the {rows} rows of “{md_text(file)}” to “{md_text(table)}”"
        text = (f"I've proposed {what}. You can review them in the preview: new rows in green, changed cells in "
                "amber with the old value shown. Uncheck any rows you don't want, then click **Apply** to make the "
                "checked changes, or **Dismiss** to cancel.")
        return text, [("propose_import", args)]
    text = (f"I've prepared a new table from “{md_text(file)}”: {m.group('cols')} columns with types inferred from the "
            f"values. The preview in the conversation shows the columns and the first rows. Uncheck any column "
            f"you don't need, then click **Create Table** to create it and import all {rows} rows, or "
            "**Dismiss** to discard the file.")
    return text, [("propose_import", {"upload_id": m.group("id"), "target": "new_table"})]


# --------------------------------------------------------------------------------------------- export


def _export(fmt: str | None, done: list[Any]) -> Plan:
    fmt = "xlsx" if fmt and fmt.lower() in ("xlsx", "excel", "spreadsheet") else "csv"
    got = _last(done, "export_table")
    if got is None:
        return "", [("export_table", {"format": fmt})]
    if got.is_error:
        return f"I couldn't export it: {md_text(_error(got.text), limit=None)}", []
    info = got.data() or {}
    rows = info.get("rows", 0)
    return (f"Here is the table as **{md_text(info.get('file'))}** ({rows:,} row{'s' if rows != 1 else ''}, "
            f"{info.get('columns', 0)} columns): the download link is attached to this reply."), []


# ------------------------------------------------------------------------------------------- analysis


def _column(table: dict[str, Any], name: str) -> dict[str, Any] | None:
    key = name.casefold()
    cols = table.get("columns", [])
    return next((c for c in cols if c["name"].casefold() == key), None) or next(
        (c for c in cols if c["name"].casefold().replace(" ", "") == key.replace(" ", "")), None)


def _analysis(y: str | None, x: str, func: str | None, chart: str | None, done: list[Any]) -> Plan:
    """Group by `x`: `func` of `y` (None: the mean of a number column, else the count), maybe charted."""
    got = _last(done, "analyze_table")
    if got is not None:
        return _described(got, x), []
    table_call = _last(done, "get_table")
    if table_call is None:
        return "Let me look at the table first.", [("get_table", {"sample_rows": 1})]
    if table_call.is_error:
        return ("I need a table to analyse, but there is no active table. Open one of your tables, or upload "
                "a file to import first."), []
    table = table_call.data() or {}
    names = [x] + ([y] if y else [])
    found = {n: _column(table, n) for n in names}
    missing = [n for n, c in found.items() if c is None]
    if missing:
        known = ", ".join(md_text(c["name"]) for c in table.get("columns", []))
        return (f"“{md_text(table.get('name'))}” has no column named “{md_text(missing[0])}”. Its columns are: "
                f"{known}."), []
    xcol = found[x]["name"]
    ycol = found[y] if y else None
    if ycol is not None and func is None:
        func = "mean" if ycol["type"] == "number" else "count"
    if ycol is not None and func != "count" and ycol["type"] != "number":
        return (f"“{md_text(ycol['name'])}” is a {ycol['type'].replace('_', ' ')} column, so I can't take its "
                f"{WORDS[func]}; try “chart {md_text(ycol['name'])} by {md_text(xcol)}” to count its rows instead."), []
    agg = {"func": "count"} if func == "count" else {"column": ycol["name"], "func": func}
    args: dict[str, Any] = {"table_id": table["id"],
                            "operations": [{"step": "group_by", "columns": [xcol], "aggregations": [agg]}]}
    if chart:
        args["chart"] = {"kind": chart, "x": xcol, "y": "Count" if func == "count" else ycol["name"]}
    return "", [("analyze_table", args)]


def _described(got: Any, x: str) -> str:
    if got.is_error:
        return f"I couldn't analyse that: {md_text(_error(got.text), limit=None)}"
    data = got.data() or {}
    cols, rows = data.get("columns", []), data.get("rows", [])
    if not rows or len(cols) < 2:
        return "There are no rows to analyse."
    measure = cols[-1]
    ranked = [r for r in rows if r[-1] is not None]
    text = f"Here is the {md_text(measure[:1].lower() + measure[1:])} by {md_text(cols[0])} over {data.get('rows_analysed', 0):,} rows"
    if ranked:
        top, low = ranked[0], ranked[-1]
        text += f": the highest is {md_text(top[0])} ({top[-1]:g})"
        if len(ranked) > 1:
            text += f" and the lowest {md_text(low[0])} ({low[-1]:g})"
    shown = "table and chart are" if "chart" in data.get("shown", "") else "table is"
    return f"{text}. The result {shown} shown above ({data.get('row_count', len(rows))} groups)."
