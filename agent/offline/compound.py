"""Several requests in one message: split, read each, and join those of one kind into one proposal."""

from __future__ import annotations

import json
import re

from agent.offline.conversation import DATA_GUIDE, SCHEMA_GUIDE, Done, Step, need_table
from agent.offline.handlers import HANDLERS
from agent.offline.intents import Intent, parse_intent
from agent.offline.row_steps import add_rows
from agent.offline.schema_steps import add_column_step, modify, remove_column, rename
from agent.offline.words import clean
from core.markdown import md_text

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
    clauses: list[tuple[str, Intent]] = []
    for part in split_request(text):
        intent = parse_intent(part)
        if intent.kind == "several":  # "add columns Price and Size": one request per column
            clauses += [(part, i) for i in intent.args["intents"]]
        else:
            clauses.append((part, intent))
    if len(clauses) < 2 or any(i.kind in ("help", "accepted", "dismissed") for _, i in clauses):
        return None
    return clauses


def _group(intent: Intent) -> str | None:
    return "schema" if intent.kind in SCHEMA_KINDS else "data" if intent.kind in DATA_KINDS else None


def _quoted(parts: list[str]) -> str:
    return _listing([f"“{md_text(clean(p))}”" for p in parts])


def _listing(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def compound(clauses: list[tuple[str, Intent]], done: list[Done], tools: set) -> Step:
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
        text = f"I've proposed {parts[0]} in “{md_text(table['name'])}”."
    else:
        text = f"I've proposed these changes to “{md_text(table['name'])}”: {'; '.join(parts)}."
    if skipped:
        text += " Left out: " + " ".join(dict.fromkeys(skipped))
    return f"{text} {guide}"


def _schema_compound(intents: list[Intent], done: list[Done]) -> Step:
    """One schema proposal for several column requests, each read against the table as the ones before
    it leave it (so "rename Title to Name, make Name required" finds the renamed column)."""
    table, step = need_table(done)
    if step:
        return step
    work = json.loads(json.dumps(table))
    ops: list[dict] = []
    parts, skipped, reasons = [], [], []
    for intent in intents:
        handler = {
            "add_column": add_column_step,
            "remove_column": remove_column,
            "rename": rename,
            "modify": modify,
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
    table, step = need_table(done)
    lookups: list[tuple[str, dict]] = list(step.calls) if step else []
    if step and not lookups:
        return step  # no table to work on: the reason
    work = json.loads(json.dumps(table)) if table else None
    steps = []
    for intent in intents:
        if intent.kind == "add_rows":
            if work is None:
                continue
            step = add_rows(intent, work)
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

