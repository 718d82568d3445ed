"""Proposals without a database: payload parsing, validation problems, the preview of every op kind,
paging, and the apply plan (conflicts, selection, column order)."""

import uuid

import pytest

from db.errors import Invalid
from db.schemas import CellPublic, ColumnPublic, RecordPublic, TablePublic
from proposals.conflicts import Since
from proposals.plan import data_refs, final_order, plan_create, plan_data, plan_schema, selection
from proposals.preview import diff, page_row_ids, show
from proposals.snapshot import TableSnapshot
from proposals.validate import ProposalInvalid, normalize, parse, validate


def _col(name, type_="text", pos=0, **kw):
    return ColumnPublic(
        id=uuid.uuid4(), name=name, type=type_, position=pos, required=kw.pop("required", False), **kw
    )


@pytest.fixture
def bugs() -> TableSnapshot:
    """A bug tracker: 8 rows; Summary is an AI column reading Name."""
    cols = [
        _col("Name", required=True),
        _col("Status", "select", 1, options=["Open", "Resolved"]),
        _col("Points", "number", 2),
        _col(
            "Summary",
            "text",
            3,
            ai={"prompt": "Summarize {Name}", "depends_on": ["Name"], "auto_update": False},
        ),
    ]
    table = TablePublic(
        id=uuid.uuid4(), workspace_id=uuid.uuid4(), name="Bugs", description="Known bugs", columns=cols
    )
    name, status, points, summary = (str(c.id) for c in cols)
    rows = [
        RecordPublic(
            id=n,
            cells={
                name: CellPublic(value=f"bug {n}"),
                status: CellPublic(value="Open"),
                points: CellPublic(value=n),
                summary: CellPublic(value=None),
            },
        )
        for n in range(1, 9)
    ]
    return TableSnapshot(table=table, rows=rows, total_rows=8)


def _ids(snap):
    return {c.name: str(c.id) for c in snap.table.columns}


RESTAURANTS = {
    "mode": "create",
    "table_name": "Italian Restaurants in Chicago",
    "table_description": "A curated list of Italian restaurants",
    "reasoning": "Based on your request, I've designed a table...",
    "operations": [
        {"action": "add", "column": {"name": "Name", "type": "text", "required": True}},
        {
            "action": "add",
            "column": {
                "name": "Neighborhood",
                "type": "select",
                "options": ["River North", "Lincoln Park", "West Loop"],
                "filterDisplay": "tab",
            },
        },
        {"action": "add", "column": {"name": "Rating", "type": "number"}},
        {
            "action": "add",
            "column": {"name": "Price Range", "type": "select", "options": ["$", "$$", "$$$", "$$$$"]},
        },
    ],
    "sample_rows": [
        {"Name": "RPM Italian", "Neighborhood": "river north", "Rating": 4.5, "Price Range": "$$$"},
        {"Name": "Monteverde", "Neighborhood": "West Loop", "Rating": "4.7", "Price Range": "$$$"},
    ],
}


# --- create ---------------------------------------------------------------------------------------


def test_create_preview_has_name_badges_checkboxes_and_sample_rows():
    p = parse(RESTAURANTS, "schema")
    assert validate(p, None) == []
    pv = diff(None, normalize(p, None))
    assert pv.kind == "schema_create" and pv.table_name == "Italian Restaurants in Chicago"
    assert pv.table_description.startswith("A curated list")
    assert [(c.name, c.type, c.op) for c in pv.columns] == [
        ("Name", "text", 0),
        ("Neighborhood", "select", 1),
        ("Rating", "number", 2),
        ("Price Range", "select", 3),
    ]
    assert pv.columns[0].required and pv.columns[1].options == ["River North", "Lincoln Park", "West Loop"]
    assert pv.has_sample_rows and len(pv.rows) == 2
    first = pv.rows[0].cells
    # values are shown as they will be stored: the option's own spelling, numbers as numbers
    assert [first[c.key] for c in pv.columns] == ["RPM Italian", "River North", "4.5", "$$$"]
    assert pv.rows[1].cells[pv.columns[2].key] == "4.7"
    assert pv.summary == "New table with 4 columns and 2 sample rows"
    assert pv.model_dump(mode="json")  # the element gets it as JSON props


def test_create_respects_after_column_id_between_new_columns():
    payload = {
        "mode": "create",
        "table_name": "T",
        "operations": [
            {"action": "add", "column": {"name": "A"}},
            {"action": "add", "column": {"name": "B"}},
            {"action": "add", "column": {"name": "C"}, "after_column_id": "a"},
        ],
    }
    p = normalize(parse(payload, "schema"), None)
    assert [c.name for c in diff(None, p).columns] == ["A", "C", "B"]


# --- schema update --------------------------------------------------------------------------------


def test_schema_update_shows_current_table_with_changes_in_place(bugs):
    ids = _ids(bugs)
    payload = {
        "mode": "update",
        "reasoning": "Adding a Priority column",
        "table_name": None,
        "table_description": None,
        "operations": [
            {
                "action": "add",
                "column": {
                    "name": "Priority",
                    "type": "select",
                    "options": ["P0", "P1", "P2", "P3"],
                    "filterDisplay": "tab",
                },
                "after_column_id": ids["Name"],
            },
            {"action": "modify", "column_id": ids["Status"], "changes": {"required": True}},
            {"action": "remove", "column_id": ids["Points"]},
        ],
    }
    p = parse(payload, "schema")
    assert validate(p, bugs) == []
    pv = diff(bugs, normalize(p, bugs))
    assert pv.kind == "schema_update" and pv.table_name == "Bugs"
    cols = {c.name: c for c in pv.columns}
    assert [c.name for c in pv.columns] == ["Name", "Priority", "Status", "Points", "Summary"]
    assert (cols["Priority"].state, cols["Priority"].type, cols["Priority"].op) == ("added", "select", 0)
    assert (cols["Status"].state, cols["Status"].subtitle, cols["Status"].op) == ("modified", "→ required", 1)
    assert (cols["Points"].state, cols["Points"].subtitle, cols["Points"].op) == (
        "removed",
        "Data will be lost",
        2,
    )
    assert cols["Name"].state == "unchanged" and cols["Name"].op is None
    row = pv.rows[2]
    assert row.id == 3
    assert row.cells[cols["Priority"].key] == "—"
    assert row.cells[cols["Points"].key] == "3"  # the data that will be lost is still visible
    assert row.cells[cols["Name"].key] == "bug 3"
    assert pv.summary == "1 new column, 1 removed, 1 modified"
    assert pv.total_rows == 8 and len(pv.rows) == 8


def test_modify_subtitles_name_each_change(bugs):
    ids = _ids(bugs)
    p = parse(
        {
            "mode": "update",
            "operations": [
                {
                    "action": "modify",
                    "column_id": ids["Points"],
                    "changes": {"type": "text", "name": "Estimate"},
                },
                {
                    "action": "modify",
                    "column_id": "status",
                    "changes": {"options": ["Open", "Resolved", "Wontfix"]},
                },
            ],
        },
        "schema",
    )
    assert validate(p, bugs) == []
    cols = {c.key: c for c in diff(bugs, normalize(p, bugs)).columns}
    assert cols[ids["Points"]].subtitle == "→ renamed: Estimate · → type: text"
    assert cols[ids["Status"]].subtitle == "→ options: Open, Resolved, Wontfix"


def test_reorder_moves_the_column_and_says_so(bugs):
    ids = _ids(bugs)
    p = normalize(
        parse(
            {
                "mode": "update",
                "operations": [
                    {"action": "reorder", "column_id": "Summary", "after_column_id": None},
                    {"action": "reorder", "column_id": ids["Name"], "after_column_id": "Points"},
                ],
            },
            "schema",
        ),
        bugs,
    )
    pv = diff(bugs, p)
    assert [c.name for c in pv.columns] == ["Summary", "Status", "Points", "Name"]
    assert {c.name for c in pv.columns if c.moved} == {"Summary", "Name"}
    assert pv.summary == "2 moved"
    assert all(c.state == "unchanged" for c in pv.columns)


def test_update_with_new_table_name_is_shown(bugs):
    p = normalize(
        parse(
            {
                "mode": "update",
                "table_name": "Defects",
                "operations": [{"action": "add", "column": {"name": "Owner", "type": "email"}}],
            },
            "schema",
        ),
        bugs,
    )
    pv = diff(bugs, p)
    assert pv.table_name == "Defects" and pv.renamed_from == "Bugs"
    assert pv.columns[-1].name == "Owner" and pv.summary == "1 new column, table renamed"


# --- data -----------------------------------------------------------------------------------------


def test_data_preview_adds_on_top_updates_with_was_deletes_flagged(bugs):
    ids = _ids(bugs)
    payload = {
        "reasoning": "Adding 2 bugs, resolving row 5, deleting row 7",
        "operations": [
            {"action": "add", "data": {"Name": "Login timeout", "Status": "open"}},
            {"action": "add", "data": {"Name": "CSS misalignment", "Points": "2"}},
            {"action": "update", "row_id": 5, "changes": {"Status": "Resolved"}},
            {"action": "delete", "row_id": 7},
        ],
        "research_log": [
            "Looked at the tracker",
            {"step": 2, "query": "css bugs", "source": "https://x.test"},
        ],
    }
    p = parse(payload, "data")
    assert validate(p, bugs) == []
    pv = diff(bugs, normalize(p, bugs))
    assert pv.kind == "data" and pv.summary == "2 new rows, 1 update, 1 deletion"
    assert pv.counts == {"added": 2, "updated": 1, "deleted": 1} and pv.total_ops == 4
    top = pv.rows[:2]
    assert [(r.id, r.state, r.op) for r in top] == [(-1, "added", 0), (-2, "added", 1)]
    assert top[0].cells[ids["Status"]] == "Open" and top[1].cells[ids["Points"]] == "2"
    rest = {r.id: r for r in pv.rows[2:]}
    assert [r.id for r in pv.rows[2:]] == list(range(1, 9))  # the page's other rows, in order
    assert rest[5].state == "updated" and rest[5].op == 2
    assert rest[5].changes[ids["Status"]].model_dump() == {"new": "Resolved", "was": "Open"}
    assert rest[5].cells[ids["Status"]] == "Resolved" and ids["Name"] not in rest[5].changes
    assert rest[7].state == "deleted" and rest[7].cells[ids["Name"]] == "bug 7"
    assert rest[1].state == "unchanged" and rest[1].op is None
    assert [e.note for e in pv.research_log][:1] == ["Looked at the tracker"]
    assert pv.research_log[1].query == "css bugs"


def test_data_preview_pages_thousands_of_ops(bugs):
    ops = [{"action": "add", "data": {"Name": f"new {n}"}} for n in range(100)]
    ops += [{"action": "update", "row_id": n, "changes": {"Points": n * 10}} for n in (8, 2, 6)]
    p = parse({"operations": ops}, "data")
    assert validate(p, bugs) == []
    first = diff(bugs, p, page_size=40)
    assert (first.page, first.pages, first.total_ops) == (0, 3, 103)
    assert sum(r.op is not None for r in first.rows) == 40
    last = diff(bugs, p, page=2, page_size=40)
    assert [r.id for r in last.rows if r.state == "added"] == [-(n + 1) for n in range(80, 100)]
    # updated rows come after the added ones, by row id, and untouched rows only show on page 0
    assert [(r.id, r.state) for r in last.rows if r.state != "added"] == [
        (2, "updated"),
        (6, "updated"),
        (8, "updated"),
    ]
    assert page_row_ids(p, 2, 40) == [2, 6, 8] and page_row_ids(p, 0, 40) == []
    assert diff(bugs, p, page=99, page_size=40).page == 2


def test_show_renders_text_never_markup():
    assert show(True) == "Yes" and show(["a", "b"]) == "a, b" and show({"k": 1}) == '{"k": 1}'
    assert show(None) == "" and len(show("x" * 5000)) == 200


# --- validation ------------------------------------------------------------------------------------


def _problems(payload, what, snap):
    try:
        p = parse(payload, what)
    except ProposalInvalid as exc:
        return exc.problems
    return validate(p, snap)


@pytest.mark.parametrize(
    "payload, what, expect",
    [
        (
            {"operations": [{"action": "add", "data": {"Name": "x", "Statuss": "Open"}}]},
            "data",
            'Unknown column "Statuss"',
        ),
        (
            {"operations": [{"action": "add", "data": {"Name": "x", "Status": "Closed"}}]},
            "data",
            "not one of the options",
        ),
        (
            {"operations": [{"action": "add", "data": {"Status": "Open"}}]},
            "data",
            'Column "Name" is required',
        ),
        (
            {"operations": [{"action": "add", "data": {"Name": "x", "Points": "many"}}]},
            "data",
            "expected a number",
        ),
        (
            {"operations": [{"action": "update", "row_id": 99, "changes": {"Name": "x"}}]},
            "data",
            "row 99 does not exist",
        ),
        (
            {
                "operations": [
                    {"action": "delete", "row_id": 3},
                    {"action": "update", "row_id": 3, "changes": {"Name": "y"}},
                ]
            },
            "data",
            "row 3 is already in operations[0]",
        ),
        ({"operations": [{"action": "update", "row_id": 3, "changes": {"Name": ""}}]}, "data", "required"),
        (
            {"operations": [{"action": "add", "column": {"name": "X", "type": "numbr"}}], "mode": "update"},
            "schema",
            "operations[0].column.type",
        ),
        (
            {"mode": "update", "operations": [{"action": "add", "column": {"name": "status"}}]},
            "schema",
            "already exists",
        ),
        (
            {
                "mode": "update",
                "operations": [{"action": "add", "column": {"name": "Tag", "type": "select"}}],
            },
            "schema",
            "needs a list of options",
        ),
        (
            {
                "mode": "update",
                "operations": [
                    {"action": "add", "column": {"name": "Due", "type": "date", "required": True}}
                ],
            },
            "schema",
            "cannot be required: the table has 8 rows",
        ),
        (
            {"mode": "update", "operations": [{"action": "remove", "column_id": "Name"}]},
            "schema",
            "used by AI column(s) Summary",
        ),
        (
            {
                "mode": "update",
                "operations": [{"action": "modify", "column_id": "Nope", "changes": {"required": True}}],
            },
            "schema",
            'unknown column "Nope"',
        ),
        (
            {
                "mode": "update",
                "operations": [{"action": "modify", "column_id": "Status", "changes": {"options": ["New"]}}],
            },
            "schema",
            "existing value in row 1 does not fit",
        ),
        (
            {
                "mode": "update",
                "operations": [
                    {
                        "action": "modify",
                        "column_id": "Summary",
                        "changes": {"ai": {"prompt": "Rate {Severity}", "depends_on": ["Severity"]}},
                    }
                ],
            },
            "schema",
            'unknown column "Severity"',
        ),
        (
            {
                "mode": "update",
                "operations": [{"action": "reorder", "column_id": "Name", "after_column_id": "Zip"}],
            },
            "schema",
            'after_column_id "Zip" names no column',
        ),
        (
            {
                "mode": "update",
                "operations": [
                    {"action": "remove", "column_id": "Points"},
                    {"action": "modify", "column_id": "Points", "changes": {"name": "P"}},
                ],
            },
            "schema",
            "already changed by operations[0]",
        ),
        (
            {
                "mode": "update",
                "operations": [
                    {"action": "remove", "column_id": "Points"},
                    {"action": "reorder", "column_id": "Points", "after_column_id": None},
                ],
            },
            "schema",
            "being removed; moving it does nothing",
        ),
        (
            {
                "mode": "create",
                "table_name": "T",
                "operations": [
                    {"action": "add", "column": {"name": "A"}},
                    {"action": "add", "column": {"name": "a"}},
                ],
            },
            "schema",
            'two columns are named "a"',
        ),
        (
            {"mode": "create", "table_name": "T", "operations": [{"action": "remove", "column_id": "A"}]},
            "schema",
            '"add" operations only',
        ),
        (
            {
                "mode": "create",
                "table_name": "T",
                "operations": [{"action": "add", "column": {"name": "A", "required": True}}],
                "sample_rows": [{"B": 1}],
            },
            "schema",
            'unknown column "B"',
        ),
        (
            {
                "mode": "create",
                "table_name": "T",
                "operations": [{"action": "add", "column": {"name": "A", "required": True}}],
                "sample_rows": [{"A": ""}],
            },
            "schema",
            'required column "A" has no value',
        ),
        ({"operations": []}, "data", "operations: List should have at least 1 item"),
        (
            {
                "mode": "update",
                "operations": [{"action": "modify", "column_id": "Name", "changes": {"type": None}}],
            },
            "schema",
            "type cannot be null; leave it out to keep it",
        ),
    ],
)
def test_validation_names_the_problem(bugs, payload, what, expect):
    problems = _problems(payload, what, None if payload.get("mode") == "create" else bugs)
    assert any(expect in p for p in problems), problems


def test_unknown_column_lists_the_real_ones_once(bugs):
    problems = _problems(
        {
            "operations": [
                {"action": "add", "data": {"Name": "x", "Sev": 1}},
                {"action": "add", "data": {"Name": "y", "Sev": 2}},
            ]
        },
        "data",
        bugs,
    )
    assert len(problems) == 2
    assert "columns are: Name, Status, Points, Summary" in problems[0]
    assert "columns are" not in problems[1]


def test_missing_table_and_long_problem_lists(bugs):
    assert "no table" in validate(parse({"operations": [{"action": "delete", "row_id": 1}]}, "data"), None)[0]
    p = parse({"operations": [{"action": "delete", "row_id": 100 + n} for n in range(40)]}, "data")
    problems = validate(p, bugs)
    exc = ProposalInvalid(problems)
    assert len(problems) == 40 and "…and 15 more" in exc.message and len(exc.details["problems"]) == 25


def test_normalize_pins_names_to_ids(bugs):
    ids = _ids(bugs)
    p = normalize(
        parse(
            {"operations": [{"action": "update", "row_id": "2", "changes": {"status": "resolved"}}]}, "data"
        ),
        bugs,
    )
    assert p.table_id == str(bugs.table.id)
    assert p.operations[0].row_id == 2 and p.operations[0].changes == {ids["Status"]: "resolved"}
    s = normalize(
        parse(
            {
                "mode": "update",
                "operations": [
                    {
                        "action": "add",
                        "column": {
                            "name": "Short",
                            "ai": {"prompt": "Shorten {name} ({points})", "depends_on": []},
                        },
                        "after_column_id": "name",
                    },
                    {"action": "remove", "column_id": "status"},
                ],
            },
            "schema",
        ),
        bugs,
    )
    assert s.operations[0].after_column_id == ids["Name"]
    assert s.operations[0].column.ai.depends_on == ["Name", "Points"]
    assert s.operations[1].column_id == ids["Status"]


# --- apply plans (what apply will do, decided without a database) ----------------------------------


def test_plan_data_for_every_op_kind_and_conflict(bugs):
    ids = _ids(bugs)
    p = normalize(
        parse(
            {
                "operations": [
                    {"action": "add", "data": {"Name": "new", "Status": "open"}},  # 0 add
                    {"action": "update", "row_id": 1, "changes": {"Status": "Resolved"}},  # 1 update
                    {"action": "delete", "row_id": 2},  # 2 delete
                    {
                        "action": "update",
                        "row_id": 3,
                        "changes": {"Points": 5},
                    },  # 3 cell edited since → conflict
                    {"action": "update", "row_id": 4, "changes": {"Points": 6}},  # 4 other cell edited → fine
                    {"action": "delete", "row_id": 5},  # 5 row edited since → conflict
                    {
                        "action": "update",
                        "row_id": 6,
                        "changes": {"Name": "x"},
                    },  # 6 row deleted since → conflict
                    {
                        "action": "add",
                        "data": {"Name": "y", "Points": 1},
                    },  # 7 column removed since → conflict
                ]
            },
            "data",
        ),
        bugs,
    )
    rows, keys = data_refs(p, range(8))
    assert rows == [1, 2, 3, 4, 5, 6] and ids["Points"] in keys
    since = Since(
        deleted_rows={6},
        changed_rows={3, 4, 5},
        changed_cells={(3, ids["Points"]), (4, ids["Name"]), (5, ids["Name"])},
        removed_columns=set(),
    )
    plan = plan_data(p, bugs.table, range(7), since)
    assert plan.adds == [(0, {ids["Name"]: "new", ids["Status"]: "Open"})]
    assert plan.updates == {1: (1, {ids["Status"]: "Resolved"}), 4: (4, {ids["Points"]: 6})}
    assert plan.deletes == {2: 2}
    assert {i: r.conflict for i, r in plan.results.items()} == {3: True, 5: True, 6: True}
    assert "Points changed after" in plan.results[3].error and "deleted" in plan.results[6].error
    gone = plan_data(p, bugs.table, [7], Since(removed_columns={ids["Points"]}))
    assert gone.results[7].conflict and not gone.adds
    only_one = plan_data(p, bugs.table, [1], Since())
    assert list(only_one.updates) == [1] and not only_one.adds and not only_one.deletes


def test_plan_schema_for_every_op_kind_and_conflict(bugs):
    ids = _ids(bugs)
    p = normalize(
        parse(
            {
                "mode": "update",
                "operations": [
                    {
                        "action": "add",
                        "column": {"name": "Owner", "type": "email"},
                        "after_column_id": "Name",
                    },
                    {"action": "modify", "column_id": "Status", "changes": {"required": True}},
                    {"action": "remove", "column_id": "Points"},
                    {"action": "reorder", "column_id": "Summary", "after_column_id": None},
                ],
            },
            "schema",
        ),
        bugs,
    )
    plan = plan_schema(p, bugs.table, range(4), Since())
    assert [(i, c.name, c.type) for i, c in plan.adds] == [(0, "Owner", "email")]
    assert [(i, c.name, ch) for i, c, ch in plan.modifies] == [(1, "Status", {"required": True})]
    assert [(i, c.name) for i, c in plan.removes] == [(2, "Points")]
    assert [(i, c.name) for i, c in plan.reorders] == [(3, "Summary")]
    assert not plan.results
    changed = plan_schema(p, bugs.table, range(4), Since(redefined_columns={ids["Status"], ids["Summary"]}))
    assert changed.results[1].conflict and not changed.modifies
    assert [i for i, _ in changed.reorders] == [3]  # moving a redefined column is still fine
    new_id = uuid.uuid4()
    order = final_order(p, bugs.table, [0, 1, 2, 3], {0: new_id})
    assert order == [
        uuid.UUID(ids["Summary"]),
        uuid.UUID(ids["Name"]),
        new_id,
        uuid.UUID(ids["Status"]),
        uuid.UUID(ids["Points"]),
    ]


def test_plan_schema_reports_columns_removed_since(bugs):
    gone = str(uuid.uuid4())
    p = parse(
        {"mode": "update", "operations": [{"action": "modify", "column_id": gone, "changes": {"name": "X"}}]},
        "schema",
    )
    plan = plan_schema(p, bugs.table, [0], Since(removed_columns={gone}))
    assert plan.results[0].conflict and "removed after" in plan.results[0].error


def test_plan_create_selected_columns_and_samples():
    p = normalize(
        parse(
            {
                **RESTAURANTS,
                "operations": [
                    *RESTAURANTS["operations"],
                    {
                        "action": "add",
                        "column": {
                            "name": "Blurb",
                            "ai": {"prompt": "Describe {Name} in {Neighborhood}", "depends_on": []},
                        },
                    },
                ],
            },
            "schema",
        ),
        None,
    )
    plan = plan_create(p, [0, 2, 4], include_sample_rows=True)
    assert [c.name for _, c in plan.columns] == ["Name", "Rating"]
    assert "Neighborhood" in plan.results[4].error  # the AI column reads a column left out
    assert plan.sample_rows == [
        {"Name": "RPM Italian", "Rating": 4.5},
        {"Name": "Monteverde", "Rating": "4.7"},
    ]
    assert plan_create(p, [0, 1], include_sample_rows=False).sample_rows == []


def test_selection_is_checked():
    assert selection(None, 3) == [0, 1, 2] and selection([2, 0, 2], 3) == [0, 2]
    with pytest.raises(Invalid):
        selection([3], 3)
    with pytest.raises(Invalid):
        selection([], 3)
