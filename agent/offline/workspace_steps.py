"""Requests about the workspace and whole tables: share this workspace with someone, rename it, delete or
rename a table (found by name with list_tables)."""

from __future__ import annotations

import re

from agent.offline.conversation import Done, Step, error_text
from agent.offline.words import Intent, clean
from core.markdown import md_text

SHARE = re.compile(
    r"^(?:share|give)\s+(?:this|the|my|our)\s+workspace\s+(?:with|to)\s+(?:the\s+user\s+|user\s+)?@?([\w.@+-]+)"
    r"(?:\s+as\s+(?:an?\s+)?(editor|viewer|owner|reader|writer)s?)?(?:\s+(?:access|rights|role))?$", re.IGNORECASE)
RENAME_WORKSPACE = re.compile(r"^(?:rename|call)\s+(?:this|the|my|our)\s+workspace\s+(?:to|as|into)?\s*(.+)$",
                              re.IGNORECASE)
RENAME_TABLE = re.compile(r"^rename\s+(?:the\s+)?(?:table\s+(.+?)|(.+?)\s+table)\s+(?:to|as|into)\s+(.+)$",
                          re.IGNORECASE)
DELETE_TABLE = re.compile(r"^(?:delete|remove|drop|trash|get rid of)\s+(?:the\s+)?(?:whole\s+|entire\s+)?"
                          r"(?:table\s+(.+)|(.+?)\s+table)$", re.IGNORECASE)
ROLE_WORDS = {"reader": "viewer", "writer": "editor"}


def read_workspace_request(t: str) -> Intent | None:
    """The workspace and whole-table requests, or None."""
    if m := SHARE.match(t):
        role = (m.group(2) or "viewer").lower()
        return Intent("share_workspace", {"user": m.group(1), "role": ROLE_WORDS.get(role, role)})
    if m := RENAME_WORKSPACE.match(t):
        return Intent("table_change", {"action": "rename_workspace", "new": clean(m.group(1))})
    if m := RENAME_TABLE.match(t):
        return Intent("table_change", {"action": "rename_table", "name": clean(m.group(1) or m.group(2)),
                                       "new": clean(m.group(3))})
    if (m := DELETE_TABLE.match(t)) and not re.match(r"^(?:this|that|the)?\s*(?:rows?|records?|columns?)\b",
                                                     (m.group(1) or m.group(2) or ""), re.IGNORECASE):
        return Intent("table_change", {"action": "delete_table", "name": clean(m.group(1) or m.group(2))})
    return None


def share_workspace(intent: Intent, done: list[Done], tools: set) -> Step:
    got = next((d for d in done if d.name == "share_workspace"), None)
    if got is None:
        return Step("", [("share_workspace", {"user": intent.args["user"], "role": intent.args["role"]})])
    if got.is_error:
        return Step(f"I couldn't share this workspace: {md_text(error_text(got.text), limit=None)}")
    data = got.data() or {}
    return Step(f"Done: {md_text(data.get('done', 'the workspace is shared'), limit=None)}")


def _this_or_active(name: str) -> bool:
    return name.lower() in ("this", "the", "this table", "current", "active", "")


def table_change(intent: Intent, done: list[Done], tools: set) -> Step:
    args = intent.args
    action = args["action"]
    if action == "rename_workspace":
        return Step(f"Here is the rename of this workspace to **{md_text(args['new'])}**: click **Apply** in the "
                    "preview to rename it, or **Dismiss**.",
                    [("propose_table_change", {"action": action, "new_name": args["new"],
                                               "reasoning": "Rename the workspace as asked."})])
    listed = next((d for d in done if d.name == "list_tables"), None)
    if listed is None and not _this_or_active(args["name"]):
        return Step("", [("list_tables", {})])
    table_id = None
    if listed is not None:
        tables = (listed.data() or {}).get("tables", [])
        found = [t for t in tables if t["name"].casefold() == args["name"].casefold()]
        if not found:
            names = ", ".join(md_text(t["name"]) for t in tables) or "none yet"
            return Step(f"There is no table named “{md_text(args['name'])}” in this workspace (its tables: {names}). "
                        "Tables of your other workspaces: /tables.")
        table_id = found[0].get("id")
    call = {"action": action, **({"table_id": table_id} if table_id else {})}
    if action == "delete_table":
        text = (f"Here is the deletion of **{md_text(args['name'])}**, shown in red with what would be lost: "
                "click **Delete** to delete it, or **Dismiss** to keep it.")
        call["reasoning"] = "Delete the table as asked."
    else:
        call |= {"new_name": args["new"], "reasoning": "Rename the table as asked."}
        text = (f"Here is the rename of **{md_text(args['name'])}** to **{md_text(args['new'])}**: click **Apply** "
                "to rename it, or **Dismiss**.")
    return Step(text, [("propose_table_change", call)])
