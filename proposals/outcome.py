"""Every word about a decided proposal: the line its preview shows, and the note the agent gets of the
user's decision (a user turn the chat does not show). The preview element shows these texts as they
come; nothing else words an outcome."""

from __future__ import annotations

from core.markdown import md_text

FINAL = {  # what a preview decided without anything applied says
    "dismissed": "Dismissed — nothing was changed.",
    "superseded": "Superseded by a newer proposal — nothing was changed.",
    "stale": "Not applied: the table changed since this proposal was made.",
}
IN_LIVE_VIEW = " — it is open in the live view."


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def summary(status: str, applied: int, total: int, *, created: str | None = None) -> str:
    """The one line of an apply's result (`ApplyResult.message`): what was applied, or why nothing was."""
    if status == "dismissed":
        return "This proposal was dismissed; nothing changed"
    if status == "superseded":
        return "This proposal was replaced by a newer one; nothing changed"
    if status == "stale" and not applied:
        return "Nothing applied: the table changed since this proposal was made"
    if created is not None and applied:
        return f'Created table "{created}" with {_n(applied, "column")}'
    if applied == total:
        return f"All {_n(applied, 'change')} applied"
    return f"Applied {applied} of {total} — {total - applied} failed"


def banner(kind: str, status: str, line: str, applied: int, samples: int = 0) -> str:
    """What the preview says once decided: why nothing changed, or the line, with the sample rows and
    where a table it created now is."""
    if status in FINAL and not applied:
        return FINAL[status]
    if kind != "schema_create" or not applied:
        return line
    return line + (f" and {_n(samples, 'sample row')}" if samples else "") + IN_LIVE_VIEW


def import_line(status: str, line: str) -> str:
    """The last word of an import's progress message: a markdown chat message, where the created table's
    name (in `line`) must stay literal text. The preview and the note to the agent take `line` as it is."""
    shown = md_text(line, limit=None)
    return shown if status == "applied" else f"Nothing was imported: {shown}"


def table_change_summary(change: dict) -> str:
    """What a table_change proposal proposes, as its preview says it."""
    if change["action"] == "delete_table":
        lost = f"{_n(change.get('rows', 0), 'row')} will be lost" if change.get("rows") else "it has no rows"
        return f'Delete the table "{change["name"]}": {lost}'
    what = "workspace" if change["action"] == "rename_workspace" else "table"
    return f'Rename the {what} "{change["name"]}" to "{change.get("new_name")}"'


def table_change_line(change: dict) -> str:
    """The line of an applied table_change."""
    if change["action"] == "delete_table":
        return f'Deleted the table "{change["name"]}" and its {_n(change.get("rows", 0), "row")}'
    what = "workspace" if change["action"] == "rename_workspace" else "table"
    return f'Renamed the {what} "{change["name"]}" to "{change.get("new_name")}"'


# the notes to the agent: in square brackets, as the system prompt describes them


def table_change_note(line: str) -> str:
    return f"[User accepted: {line}.]"


def created_note(name: str, samples: int) -> str:
    extra = f" with {_n(samples, 'sample row')}" if samples else ""
    return f'[User accepted and created "{name}"{extra}. It is now the active table, open in the live view.]'


def imported_note(name: str, rows: int, filename: str) -> str:
    return (f'[User accepted and created "{name}" with all {rows:,} rows of {filename} imported. '
            "It is now the active table, open in the live view.]")


def updated_note(name: str) -> str:
    return f'[User accepted the schema proposal and applied changes to "{name}".]'


def data_note(applied: int, total: int) -> str:
    if applied == total:
        return "[User accepted the data proposal and applied all changes.]"
    return f"[User accepted the data proposal and applied {applied} of {total} changes.]"


def revert_text(summary: str) -> str:
    """The message above a revert preview: what it does, where to look, the controls, the buttons."""
    return (f"Here is the revert ({summary}). In the preview, what comes back is green, what goes is red, and "
            "changed cells are amber with “Was: …” showing their current value. Rows left unchecked keep their "
            "current value. Click **Apply** to revert or **Dismiss** to keep everything as it is.")
