"""Undoing a change: "undo that", "undo the last change", "revert the import from this morning"."""

from __future__ import annotations

from agent.offline.conversation import Done, Step
from agent.offline.words import Intent

WHAT = {"import": "the import", "fill": "the AI fill", "edit": "the edit", "revert": "the revert",
        "proposal": "the applied proposal"}
WHEN = {"this_morning": " from this morning", "this_afternoon": " from this afternoon", "today": " from today",
        "yesterday": " from yesterday"}


def revert(intent: Intent, done: list[Done], tools: set) -> Step:
    if "revert_change" not in tools:
        return Step("I can't undo changes here: the revert_change tool is not available right now. "
                    "Your table is unchanged.")
    args = {k: v for k, v in intent.args.items() if k in ("kind", "when")}
    what = WHAT.get(args.get("kind", ""), "the last change") + WHEN.get(args.get("when", ""), "")
    return Step(
        f"Here is what reverting {what} of this table would do, previewed in the conversation: what comes back is "
        "green, what goes is red, and changed cells are amber with “Was: …” showing their current value. Rows "
        "left unchecked (cells changed since) keep their current value. Click **Apply** to revert or **Dismiss** "
        "to keep everything as it is.",
        [("revert_change", args)],
        summary=f"a revert of {what}",
    )
