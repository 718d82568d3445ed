"""analyze_table on a real table: every step kind, charts, errors the model can fix, bounded results."""

from __future__ import annotations

import statistics

import pandas as pd
import pytest

from tools import analyze
from tools.base import AnalysisEvent
from tools.registry import TOOLS, run_tool


def _bugs(bug_row, n):
    return [bug_row(i) for i in range(1, n + 1)]


async def _analyze(ctx, table, operations, chart=None):
    body = {"table_id": str(table.id), "operations": operations}
    if chart:
        body["chart"] = chart
    return await run_tool(ctx, "analyze_table", body)


def test_registered_with_a_discriminated_schema():
    schema = TOOLS["analyze_table"].definition()["input_schema"]
    assert "operations" in schema["properties"]
    assert "group_by" in str(schema) and "correlation" in str(schema)


async def test_group_by_mean_matches_python_and_draws_a_bar_chart(ctx, make_bugs, events, bug_row):
    table = await make_bugs(60)
    result = await _analyze(ctx, table, [{"step": "group_by", "columns": ["Status"],
                                          "aggregations": [{"column": "Points", "func": "mean"}]}])
    assert not result.is_error, result.text()
    out = result.content
    assert out["columns"] == ["Status", "Average Points"]
    rows = _bugs(bug_row, 60)
    want = {s: statistics.mean(r["Points"] for r in rows if r["Status"] == s and r["Points"] is not None)
            for s in ("Open", "In progress", "Resolved")}
    got = {s: v for s, v in out["rows"]}
    assert got == pytest.approx(want, abs=1e-3)
    assert [v for _, v in out["rows"]] == sorted(got.values(), reverse=True)  # biggest first
    event = events[-1]
    assert isinstance(event, AnalysisEvent)
    assert list(event.frame.columns) == ["Status", "Average Points"]
    assert event.figure is not None and event.figure.data[0].type == "bar"
    assert sorted(event.figure.data[0].x) == sorted(want)


async def test_filter_then_count_group_by_two_keys(ctx, make_bugs, bug_row):
    table = await make_bugs(40)
    result = await _analyze(ctx, table, [
        {"step": "filter", "column": "points", "op": "gte", "value": 6},
        {"step": "group_by", "columns": ["Status", "Priority"]},
    ])
    assert not result.is_error, result.text()
    rows = [r for r in _bugs(bug_row, 40) if r["Points"] is not None and r["Points"] >= 6]
    assert sum(r[2] for r in result.content["rows"]) == len(rows)
    assert result.content["columns"] == ["Status", "Priority", "Count"]


async def test_filter_ops_on_text_dates_and_emptiness(ctx, make_bugs, bug_row):
    table = await make_bugs(30)
    rows = _bugs(bug_row, 30)
    cases = [
        ({"column": "Status", "op": "eq", "value": "open"}, sum(r["Status"] == "Open" for r in rows)),
        ({"column": "Title", "op": "contains", "value": "bug 1"}, sum("Bug 1" in r["Title"] for r in rows)),
        ({"column": "Points", "op": "empty"}, sum(r["Points"] is None for r in rows)),
        ({"column": "Due", "op": "lt", "value": "2026-03-01"}, sum(r["Due"] < "2026-03-01" for r in rows)),
        ({"column": "Priority", "op": "in", "value": ["P0", "P1"]}, sum(r["Priority"] in ("P0", "P1") for r in rows)),
    ]
    for flt, want in cases:
        result = await _analyze(ctx, table, [{"step": "filter", **flt}, {"step": "group_by", "columns": ["Status"]}])
        assert not result.is_error, (flt, result.text())
        assert sum(r[1] for r in result.content["rows"]) == want, flt


async def test_pivot_describe_top_n_value_counts_correlation(ctx, make_bugs, bug_row, events):
    table = await make_bugs(50)
    rows = _bugs(bug_row, 50)

    pivot = await _analyze(ctx, table, [{"step": "pivot", "index": "Status", "columns": "Priority",
                                         "values": "Points", "func": "sum"}])
    assert not pivot.is_error, pivot.text()
    assert pivot.content["columns"] == ["Status", "P0", "P1", "P2", "P3"]
    open_p1 = sum(r["Points"] or 0 for r in rows if r["Status"] == "Open" and r["Priority"] == "P1")
    assert {r[0]: r[2] for r in pivot.content["rows"]}["Open"] == open_p1

    describe = await _analyze(ctx, table, [{"step": "describe", "columns": ["Points"]}])
    stats = dict(zip(describe.content["columns"], describe.content["rows"][0]))
    points = [r["Points"] for r in rows if r["Points"] is not None]
    assert stats["count"] == len(points) and stats["max"] == max(points)
    assert stats["mean"] == pytest.approx(statistics.mean(points), abs=1e-3)

    top = await _analyze(ctx, table, [{"step": "top_n", "column": "Points", "n": 3}])
    assert [r[top.content["columns"].index("Points")] for r in top.content["rows"]] == sorted(points)[-3:][::-1]

    counts = await _analyze(ctx, table, [{"step": "value_counts", "column": "Tags"}])
    tags = {r[0]: r[1] for r in counts.content["rows"]}
    assert tags == {"ui": sum("ui" in r["Tags"] for r in rows), "api": sum("api" in r["Tags"] for r in rows),
                    "db": sum("db" in r["Tags"] for r in rows)}  # each tag once per row; untagged rows add none

    async def add_number_twin():
        from db import tables
        from db.engine import transaction
        from db.schemas import ColumnCreate
        async with transaction(ctx.account_id, engine=ctx.engine) as conn:
            await tables.create_column(conn, table.id, ColumnCreate(name="Double", type="number"))
            await conn.exec_driver_sql(
                "UPDATE records SET data = data || jsonb_build_object("
                f"(SELECT id::text FROM columns WHERE table_id = '{table.id}' AND name = 'Double'), "
                f"(data ->> (SELECT id::text FROM columns WHERE table_id = '{table.id}' AND name = 'Points'))::numeric * 2)"
                f" WHERE table_id = '{table.id}' AND data ? (SELECT id::text FROM columns "
                f"WHERE table_id = '{table.id}' AND name = 'Points')")
    await add_number_twin()
    corr = await _analyze(ctx, table, [{"step": "correlation"}])
    assert not corr.is_error, corr.text()
    matrix = {r[0]: dict(zip(corr.content["columns"][1:], r[1:])) for r in corr.content["rows"]}
    assert matrix["Points"]["Double"] == pytest.approx(1.0)


async def test_charts_of_each_kind_and_by_source_column_name(ctx, make_bugs, events):
    table = await make_bugs(30)
    group = {"step": "group_by", "columns": ["Priority"], "aggregations": [{"column": "Points", "func": "sum"}]}
    for kind in ("bar", "line", "scatter", "pie"):
        result = await _analyze(ctx, table, [group], {"kind": kind, "x": "Priority", "y": "Points"})
        assert not result.is_error, (kind, result.text())
        fig = events[-1].figure
        assert fig.data[0].type == kind if kind != "line" else fig.data[0].type == "scatter"
    result = await _analyze(ctx, table, [{"step": "filter", "column": "Points", "op": "not_empty"}],
                            {"kind": "histogram", "x": "Points"})
    assert not result.is_error, result.text()
    assert events[-1].figure.data[0].type == "histogram"


async def test_errors_name_the_problem(ctx, make_bugs, events):
    table = await make_bugs(10)
    unknown = await _analyze(ctx, table, [{"step": "group_by", "columns": ["Colour"]}])
    assert unknown.is_error and '"Colour"' in unknown.text() and "Status" in unknown.text()
    not_number = await _analyze(ctx, table, [{"step": "group_by", "columns": ["Priority"],
                                              "aggregations": [{"column": "Status", "func": "mean"}]}])
    assert not_number.is_error and "Status" in not_number.text() and "not a number" in not_number.text()
    bad_step = await _analyze(ctx, table, [{"step": "eval", "code": "__import__('os')"}])
    assert bad_step.is_error and "operations[0]" in bad_step.text()
    bad_value = await _analyze(ctx, table, [{"step": "filter", "column": "Points", "op": "gt", "value": "lots"}])
    assert bad_value.is_error and "lots" in bad_value.text()
    bad_chart = await _analyze(ctx, table, [{"step": "value_counts", "column": "Status"}],
                               {"kind": "bar", "x": "Status", "y": "Colour"})
    assert bad_chart.is_error and "Colour" in bad_chart.text()
    assert events == []  # nothing half-shown


async def test_results_to_the_model_stay_small_and_reads_are_bounded(ctx, make_bugs, events, monkeypatch):
    table = await make_bugs(130)
    result = await _analyze(ctx, table, [{"step": "top_n", "column": "Title", "n": 120}])
    assert len(result.content["rows"]) == analyze.MODEL_ROWS
    assert result.content["row_count"] == 120 and "first 50" in result.content["note"]
    assert len(events[-1].frame) == 120  # the user sees all of it
    assert len(result.text()) < 12_000

    monkeypatch.setattr(analyze, "MAX_ROWS", 100)
    capped = await _analyze(ctx, table, [{"step": "group_by", "columns": ["Status"]}])
    assert capped.content["rows_analysed"] == 100
    assert "130 rows" in capped.content["sampled"]
    assert sum(r[1] for r in capped.content["rows"]) == 100


async def test_only_named_columns_are_read(ctx, make_bugs):
    table = await make_bugs(5)
    async with ctx.transaction() as conn:
        frame, total = await analyze.load_frame(ctx, conn, table, {"Status", "Points"})
    assert list(frame.columns) == ["Status", "Points"] and total == 5
    assert pd.api.types.is_numeric_dtype(frame["Points"])
