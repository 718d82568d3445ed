"""Column types inferred from the values, and the values in their stored form."""

import pytest

from dataio.infer import infer_column, plan_import
from dataio.read import read_table_file


def kind(values, **kw):
    col = infer_column("C", values, **kw)
    return col.type, col.values


@pytest.mark.parametrize(
    "values, expected_type, expected_values",
    [
        (["1", "2", "", "-3"], "number", [1, 2, None, -3]),
        (["1.5", "2", "1e3", " 4 "], "number", [1.5, 2, 1000, 4]),
        (["1,200.50", "3"], "number", [1200.5, 3]),
        (["01234", "12345"], "text", ["01234", "12345"]),  # zip codes keep their zero
        (["1234567890123456", "1"], "text", ["1234567890123456", "1"]),  # too long for a number
        (["yes", "No", "TRUE", None], "boolean", [True, False, True, None]),
        (["2024-01-05", "2024-02-29"], "date", ["2024-01-05", "2024-02-29"]),
        (["2024-02-30", "2024-01-01"], "text", ["2024-02-30", "2024-01-01"]),  # no such day
        (["2024-01-05T10:30:00Z", "2024-01-05 08:00"], "date", ["2024-01-05T10:30:00+00:00", "2024-01-05T08:00:00"]),
        (["3/14/2024", "12/1/2024"], "date", ["2024-03-14", "2024-12-01"]),
        (["14/3/2024", "1/12/2024"], "date", ["2024-03-14", "2024-12-01"]),
        (["14.03.2024"], "date", ["2024-03-14"]),
        (["https://a.example.com/x?y=1", "http://b.org"], "url", ["https://a.example.com/x?y=1", "http://b.org"]),
        (["www.example.com"], "text", ["www.example.com"]),
        (["a@x.io", " b@y.org "], "email", ["a@x.io", "b@y.org"]),
        (["a", "b"], "text", ["a", "b"]),
        (["x" * 300], "long_text", ["x" * 300]),
        (["one\ntwo", "three"], "long_text", ["one\ntwo", "three"]),
        (["", None, "  "], "text", [None, None, None]),
        ([" padded "], "text", [" padded "]),
    ],
)
def test_types(values, expected_type, expected_values):
    assert kind(values) == (expected_type, expected_values)


def test_select_needs_few_values_over_many_rows():
    col = infer_column("Status", ["Open", "Closed", "Open", "Open", "Pending"] * 4)
    assert col.type == "select" and col.options == ["Open", "Closed", "Pending"]
    assert kind(["Open", "Closed", "Open"])[0] == "text"  # too few rows to tell
    assert kind([f"v{i % 25}" for i in range(100)])[0] == "text"  # 25 distinct values: too many


def test_type_must_hold_for_every_row_not_just_the_first_ones():
    values = [str(i) for i in range(2000)] + ["n/a"]
    assert kind(values)[0] == "text"


def test_csv_formula_quote_is_taken_off_text():
    assert kind(["'=1+1", "'-x", "'plain"], unquote=True)[1] == ["=1+1", "-x", "'plain"]


def test_plan_of_a_csv():
    data = b"Name,Age,Member\nAl,30,yes\nBo,,no\n"
    plan = plan_import(read_table_file(data, "people.csv"))
    assert [(c.name, c.type) for c in plan.columns] == [("Name", "text"), ("Age", "number"), ("Member", "boolean")]
    assert plan.row_count == 2 and list(plan.rows()) == [("Al", 30, True), ("Bo", None, False)]
    assert plan.sample_rows(1) == [{"Name": "Al", "Age": 30, "Member": True}]
    payload = plan.schema_proposal("People")
    assert payload["mode"] == "create" and payload["table_name"] == "People"
    assert payload["operations"][1] == {"action": "add", "column": {"name": "Age", "type": "number"}}
    assert payload["sample_rows"][1] == {"Name": "Bo", "Member": False}
