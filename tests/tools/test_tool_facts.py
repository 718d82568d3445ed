"""Each tool's facts (its label in the chat, the proposal kind it shows, whether it ends the turn) are
kept with the registry, for every tool and only there."""

from __future__ import annotations

from tools.base import BUTTONS
from tools.registry import FACTS, TOOLS, facts, proposal_kind, tool_definitions


def test_every_tool_has_its_facts_and_a_label_of_its_own():
    assert set(FACTS) == set(TOOLS) == {d["name"] for d in tool_definitions()}
    labels = [f.label for f in FACTS.values()]
    assert all(labels) and len(set(labels)) == len(labels)
    assert facts("propose_schema").label == "Propose a schema"
    assert facts("no_such_tool").label == "no_such_tool"  # a model's mistake shows under its own name


def test_the_proposing_tools_end_the_turn_and_name_a_kind_with_buttons():
    assert {n for n, f in FACTS.items() if f.ends_turn} == {"propose_schema", "propose_data", "propose_import",
                                                            "propose_table_change", "revert_change"}
    assert {n for n, f in FACTS.items() if f.proposes} == {"propose_schema", "propose_data", "propose_import",
                                                           "enrich_column", "propose_table_change",
                                                           "revert_change"}
    assert proposal_kind("propose_schema", {"mode": "create"}) == "create"
    assert proposal_kind("propose_schema", None) == "update"
    assert proposal_kind("propose_import", {"target": "new_table"}) == "create"
    assert proposal_kind("enrich_column", {"new_column": {"name": "Pitch"}}) == "update"
    assert proposal_kind("list_tables", {}) == "data"
    assert proposal_kind("propose_table_change", {"action": "delete_table"}) == "delete"
    assert proposal_kind("propose_table_change", {"action": "rename_table"}) == "rename"
    assert set(BUTTONS) == {"create", "update", "data", "delete", "rename"}
    assert BUTTONS["delete"] == ("Delete", "Dismiss")
