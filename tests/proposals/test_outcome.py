"""The words of a decided proposal come from one module, and every path that shows them agrees."""

from __future__ import annotations

from proposals import outcome
from proposals.decisions import shown


def test_a_preview_decided_without_changes_says_why():
    assert outcome.banner("data", "dismissed", "", 0) == "Dismissed — nothing was changed."
    assert outcome.banner("data", "superseded", "", 0) == "Superseded by a newer proposal — nothing was changed."
    line = outcome.summary("stale", 0, 3)
    assert line == "Nothing applied: the table changed since this proposal was made"
    assert outcome.banner("data", "stale", line, 0) == "Not applied: the table changed since this proposal was made."


def test_applied_counts_and_a_created_table():
    assert outcome.summary("applied", 2, 2) == "All 2 changes applied"
    assert outcome.summary("applied", 1, 1) == "All 1 change applied"
    assert outcome.summary("applied", 2, 3) == "Applied 2 of 3 — 1 failed"
    assert outcome.summary("applied", 1, 1, created="Books") == 'Created table "Books" with 1 column'
    assert outcome.summary("dismissed", 0, 0) == "This proposal was dismissed; nothing changed"


def test_the_banner_of_a_new_table_says_where_it_is_and_what_came_with_it():
    line = 'Created table "Books" with 5 columns'
    assert outcome.banner("schema_create", "applied", line, 5, 3) == \
        'Created table "Books" with 5 columns and 3 sample rows — it is open in the live view.'
    assert outcome.banner("schema_create", "applied", line, 5) == line + " — it is open in the live view."
    assert outcome.banner("schema_create", "failed", "Applied 0 of 5 — 5 failed", 0) == "Applied 0 of 5 — 5 failed"
    assert outcome.banner("data", "applied", "All 2 changes applied", 2) == "All 2 changes applied"


def test_the_outcome_prop_of_a_proposal_decided_elsewhere():
    assert shown("superseded") == {"applied": 0, "failed": 0, "total": 0, "sample_rows": 0,
                                   "text": "Superseded by a newer proposal — nothing was changed."}
    done = shown("applied", [{"index": 0, "ok": True}, {"index": 1, "ok": False}], "data")
    assert (done["applied"], done["failed"], done["text"]) == (1, 1, "Applied 1 of 2 — 1 failed")


def test_the_notes_to_the_agent():
    assert outcome.created_note("Books", 3) == ('[User accepted and created "Books" with 3 sample rows. '
                                                "It is now the active table, open in the live view.]")
    assert outcome.created_note("Books", 0) == ('[User accepted and created "Books". '
                                                "It is now the active table, open in the live view.]")
    assert outcome.imported_note("Cars", 1200, "cars.csv") == (
        '[User accepted and created "Cars" with all 1,200 rows of cars.csv imported. '
        "It is now the active table, open in the live view.]")
    assert outcome.updated_note("Books") == '[User accepted the schema proposal and applied changes to "Books".]'
    assert outcome.data_note(2, 2) == "[User accepted the data proposal and applied all changes.]"
    assert outcome.data_note(1, 2) == "[User accepted the data proposal and applied 1 of 2 changes.]"
