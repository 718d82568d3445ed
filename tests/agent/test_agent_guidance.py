"""SPEC §7: a reply that carries a proposal names its buttons and asks no permission."""

from __future__ import annotations

import pytest

from agent.guidance import asks_permission, enforce, kind_of, names_buttons, without_permission


def sentences_asking(text: str) -> list[str]:
    return [s for s in text.replace("?", "?\n").splitlines() if s.strip().endswith("?")]


def test_a_reply_that_asks_and_never_names_the_buttons_gets_guidance_instead():
    shown = enforce("I've designed a 4-column table for your books. Would you like me to proceed?", "create")
    assert "**Create Table**" in shown and "**Dismiss**" in shown
    assert sentences_asking(shown) == [] and "Would you like" not in shown
    assert shown.startswith("I've designed a 4-column table for your books.")
    assert "uncheck" in shown.lower()  # says what the controls do, not only their names


@pytest.mark.parametrize("question", [
    "Shall I create it?", "Do you want me to apply these?", "Ready to continue?",
    "Let me know if you'd like any changes.", "Should I go ahead?", "Does this look good?",
    "**Would you like me to add more rows?**",
])
def test_permission_questions_are_removed(question):
    shown = enforce(f"I've proposed 3 new rows. {question} Click **Apply** or **Dismiss**.", "data")
    assert question.strip("*") not in shown
    assert shown == "I've proposed 3 new rows. Click **Apply** or **Dismiss**."


def test_a_reply_that_already_guides_is_left_alone():
    text = ("I've proposed 2 new rows and 1 update. They are highlighted in the table: new rows in green, "
            "updates in amber. Uncheck any you don't want, then click **Apply** or **Dismiss**.")
    assert enforce(text, "data") == text


def test_the_buttons_depend_on_the_kind():
    assert "**Create Table**" in enforce("Here is the table.", "create")
    for kind in ("update", "data"):
        shown = enforce("Here are the changes.", kind)
        assert "**Apply**" in shown and "**Dismiss**" in shown and "Create Table" not in shown
    assert not names_buttons("Click Apply or Dismiss.", "create")
    assert names_buttons("Click **Create Table** or **Dismiss**.", "create")


def test_an_empty_reply_says_what_was_proposed_and_what_to_do():
    shown = enforce("", "update")
    assert shown.startswith("I've proposed changes to the table's columns.")
    assert "**Apply**" in shown and "**Dismiss**" in shown


def test_questions_that_are_not_about_permission_stay():
    assert not asks_permission("Which genres matter to you?")
    assert asks_permission("  Would you like me to add a Rating column?")
    text = "Which genres matter to you? Click **Apply** or **Dismiss**."
    assert enforce(text, "data") == text


def test_code_and_lists_keep_their_layout():
    text = "Columns:\n\n- Name\n- Pages\n\n    indented code\n\nClick **Apply** or **Dismiss**."
    assert enforce(text, "update") == text


def test_kind_of_a_proposing_call():
    assert kind_of("propose_import", {"target": "new_table"}) == "create"  # guided as Create Table
    assert kind_of("propose_import", {"target": "active_table"}) == "data"
    assert kind_of("propose_schema", {"mode": "create"}) == "create"
    assert kind_of("propose_schema", {"mode": "update"}) == "update"
    assert kind_of("propose_data", {}) == "data"
    assert kind_of("enrich_column", {"column_id": "Out"}) == "data"  # a sample of values to apply
    assert kind_of("enrich_column", {"new_column": {"name": "Pitch"}}) == "update"  # the column to add


def test_while_streaming_permission_questions_and_the_unfinished_sentence_are_held_back():
    assert without_permission("Done. Shall I add more?") == "Done."
    assert without_permission("Done. Shall I", partial=True) == "Done."
    assert without_permission("Done. Here it", partial=True) == "Done."
    assert without_permission("Done. Here it is.", partial=False) == "Done. Here it is."
    assert without_permission("Done.\nShall I add more?\nNext.") == "Done.\n\nNext."
