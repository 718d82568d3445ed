"""Steps for column requests: design a new table, add, remove, rename or change a column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.offline.conversation import SCHEMA_GUIDE, Done, Step, find_column, need_table, no_column
from agent.offline.design import design_table
from agent.offline.intents import Intent
from core.markdown import md_text


def create(intent: Intent, done: list[Done], tools: set) -> Step:
    args = intent.args
    if not (args["topic"] or args.get("columns") or args.get("name")):
        return Step(
            "What should the new table hold? Tell me its subject and, if you like, its columns, e.g. "
            "“create a table to track my houseplants: name, species, last watered date, light needs”."
        )
    payload = design_table(args["topic"], args.get("columns"), args.get("name"))
    cols = [op["column"] for op in payload["operations"]]
    listing = ", ".join(f"{md_text(c['name'])} ({c['type'].replace('_', ' ')})" for c in cols)
    text = (
        f"I've designed a table for {md_text(payload['table_name'])} with {len(cols)} columns: {listing}, and "
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
        f"I've proposed {summary} in “{md_text(table['name'])}”. {SCHEMA_GUIDE}",
        [("propose_schema", payload)],
        summary,
    )


def on_table(fn: Callable[[Intent, dict], Step]) -> Callable[[Intent, list[Done], set], Step]:
    """A handler for a request on the active table: it looks at the table first."""

    def handler(intent: Intent, done: list[Done], tools: set) -> Step:
        table, step = need_table(done)
        return step or fn(intent, table)

    return handler


def add_column_step(intent: Intent, table: dict) -> Step:
    column = dict(intent.args["column"])
    if find_column(table, column["name"]):
        return Step(
            f"“{md_text(table['name'])}” already has a column named “{md_text(column['name'])}”. Pick another "
            f"name, or ask me to change that column (e.g. “change {md_text(column['name'])} to number”)."
        )
    if column.get("ai"):
        deps = []
        for dep in column["ai"]["depends_on"]:
            found = find_column(table, dep)
            if found is None:
                return no_column(table, dep)
            deps.append(found["name"])
        column["ai"] = {**column["ai"], "depends_on": deps}
    op: dict[str, Any] = {"action": "add", "column": column}
    position = intent.args.get("position")
    if position:
        where, ref = position
        target = find_column(table, ref)
        if target is None:
            return no_column(table, ref)
        ids = [c["id"] for c in table["columns"]]
        if where == "after":
            op["after_column_id"] = target["id"]
        elif ids.index(target["id"]) > 0:
            op["after_column_id"] = ids[ids.index(target["id"]) - 1]
        else:
            op = {**op, "after_column_id": None}
    kind = "AI column" if column.get("ai") else f"{column['type'].replace('_', ' ')} column"
    extra = f" with options {', '.join(md_text(o) for o in column['options'])}" if column.get("options") else ""
    ops = [op]
    if position and op.get("after_column_id") is None:
        # "before the first column": add it, then move it to the front
        op.pop("after_column_id")
        ops.append({"action": "reorder", "column_id": column["name"], "after_column_id": None})
    return _schema_update(
        table,
        ops,
        f"a new {kind} “{md_text(column['name'])}”{extra}",
        f"Add {column['name']} ({column['type']}) as asked.",
    )


def remove_column(intent: Intent, table: dict) -> Step:
    target = find_column(table, intent.args["name"])
    if target is None:
        return no_column(table, intent.args["name"])
    filled = target.get("stats", {}).get("filled", 0)
    loss = f" ({filled} filled cells would be lost)" if filled else ""
    return _schema_update(
        table,
        [{"action": "remove", "column_id": target["id"]}],
        f"removing the column “{md_text(target['name'])}”{loss}",
        f"Remove {target['name']} as asked.",
    )


def rename(intent: Intent, table: dict) -> Step:
    target = find_column(table, intent.args["name"])
    if target is None:
        return no_column(table, intent.args["name"])
    new = intent.args["new"]
    return _schema_update(
        table,
        [{"action": "modify", "column_id": target["id"], "changes": {"name": new}}],
        f"renaming “{md_text(target['name'])}” to “{md_text(new)}”",
        f"Rename {target['name']} to {new} as asked.",
    )


def modify(intent: Intent, table: dict) -> Step:
    target = find_column(table, intent.args["name"])
    if target is None:
        return no_column(table, intent.args["name"])
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
        f"making “{md_text(target['name'])}” {what}",
        f"Make {target['name']} {what} as asked.",
    )

