"""The one check against AI columns reading each other in a circle (pure: no database)."""

from db.ai_cycles import column_cycle, describe, find_cycle, reads


def test_a_cycle_is_found_and_named_from_the_column_being_changed():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"a": ["b"], "b": ["a"]}, first=["b"]) == ["b", "a", "b"]
    assert find_cycle({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"], "b": ["zzz"]}) is None  # itself and unknown names are told elsewhere


def test_long_chains_do_not_recurse():
    chain = {i: [i + 1] for i in range(20_000)} | {20_000: []}
    assert find_cycle(chain) is None
    assert find_cycle(chain | {20_000: [0]}, first=[20_000])[:2] == [20_000, 0]


def test_columns_read_through_depends_on_and_prompt_placeholders_case_insensitively():
    title = {"prompt": "A title for {summary}", "depends_on": []}
    summary = {"prompt": "Summarise", "depends_on": ["TITLE"]}
    assert reads(title) == ["summary"] and reads(None) == []
    cols = [("s", "Summary", summary), ("t", "Title", title), ("n", "Name", None)]
    assert describe(column_cycle(cols, first=["s"])) == "Summary → Title → Summary"
    assert column_cycle([("s", "Summary", {"prompt": "x", "depends_on": ["Name"]}), *cols[1:]]) is None
    # a renamed column is still read under its old name
    assert column_cycle([("s", "Brief", summary), ("t", "Title", title)], aliases={"summary": "s"}) == [
        "Brief", "Title", "Brief"]
