"""The props of a Proposal element: another page of its preview replaces the preview's part and keeps
the rest (the user's choices, a revert's title and conflicts, the change its Apply made)."""

from __future__ import annotations

from ui.proposal_view import proposal_props


def test_another_page_keeps_what_the_element_knows_beside_its_preview():
    revert = {"summary": '3 rows updated in "Parts"', "conflicts": [{"record_id": 4, "column": "Stock"}]}
    shown = {"kind": "data", "page": 0, "rows": [{"id": 1, "op": 0}], "status": "applied", "proposal_id": "p"}
    first = proposal_props(shown, element_id="e") | {"revert": revert, "change_id": "c1", "revert_requested": True,
                                                     "fill_estimates": [{"column": "Blurb"}], "unselected": [2]}
    second = proposal_props({**shown, "page": 1, "rows": [{"id": 60, "op": 50}]}, element_id="e", keep=first)
    assert second["page"] == 1 and second["rows"] == [{"id": 60, "op": 50}]
    assert second["revert"] == revert and second["change_id"] == "c1" and second["revert_requested"] is True
    assert second["fill_estimates"] == [{"column": "Blurb"}] and second["unselected"] == [2]


def test_a_new_preview_has_nothing_of_another():
    props = proposal_props({"kind": "data", "rows": []}, element_id="e")
    assert "revert" not in props and "change_id" not in props and props["unselected"] == []
