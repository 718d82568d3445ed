"""`analyze_table`: a fixed vocabulary of pandas steps over a table, described by pydantic models.

The model never writes code: it picks steps (filter, group_by, pivot, describe, top_n, value_counts,
correlation) and an optional chart. The table is read in a bounded way (at most `MAX_ROWS` rows, only
the columns the steps name), the model gets at most `MODEL_ROWS` result rows, and the UI gets the whole
small result as a table and, where a picture says more, a Plotly chart.

Long because each step's model and its pandas meaning sit side by side: a step changes in one place.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from db.records import count_records
from db.schemas import TablePublic
from db.stats import column_texts
from tools.base import AnalysisEvent, ToolContext, ToolError, ToolResult, tool
from tools.tables import resolve_table, short

MAX_ROWS = 200_000
MODEL_ROWS = 50
UI_ROWS = 1_000
MAX_PIVOT_COLUMNS = 50
Func = Literal["count", "sum", "mean", "min", "max", "median"]
LABELS = {"count": "Count", "sum": "Total", "mean": "Average", "min": "Min", "max": "Max", "median": "Median"}


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(_Step):
    """Keep the rows where `column op value` holds (contains: case-insensitive text match)."""

    step: Literal["filter"]
    column: str
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "empty", "not_empty"]
    value: Any = None


class Aggregation(_Step):
    column: str | None = Field(default=None, description="Left out for count: the number of rows")
    func: Func


class GroupBy(_Step):
    """One row per group of `columns`, with the aggregations (default: the row count)."""

    step: Literal["group_by"]
    columns: list[str] = Field(min_length=1, max_length=3)
    aggregations: list[Aggregation] = Field(default_factory=list, max_length=10)


class Pivot(_Step):
    step: Literal["pivot"]
    index: str
    columns: str
    values: str | None = Field(default=None, description="Left out for count")
    func: Func = "mean"


class Describe(_Step):
    step: Literal["describe"]
    columns: list[str] | None = None


class TopN(_Step):
    step: Literal["top_n"]
    column: str
    n: int = Field(default=10, ge=1, le=1000)
    ascending: bool = False


class ValueCounts(_Step):
    step: Literal["value_counts"]
    column: str
    n: int = Field(default=20, ge=1, le=1000)


class Correlation(_Step):
    step: Literal["correlation"]
    columns: list[str] | None = None


Step = Annotated[Filter | GroupBy | Pivot | Describe | TopN | ValueCounts | Correlation, Field(discriminator="step")]


class Chart(_Step):
    kind: Literal["bar", "line", "scatter", "pie", "histogram"]
    x: str
    y: str | None = Field(default=None, description="A result column (or the source column it aggregates)")
    title: str | None = None


class AnalyzeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table_id: str | None = Field(default=None, description="The active table when left out")
    operations: list[Step] = Field(min_length=1, max_length=10)
    chart: Chart | None = None


# ------------------------------------------------------------------------------------------- loading


def _needed(args: AnalyzeInput) -> set[str] | None:
    """The source columns the steps name (None: every column, for describe/correlation without names)."""
    names: set[str] = set()
    for s in args.operations:
        if isinstance(s, (Filter, TopN, ValueCounts)):
            names.add(s.column)
        elif isinstance(s, GroupBy):
            names |= set(s.columns) | {a.column for a in s.aggregations if a.column}
        elif isinstance(s, Pivot):
            names |= {s.index, s.columns} | ({s.values} if s.values else set())
        elif isinstance(s, (Describe, Correlation)):
            if not s.columns:
                return None
            names |= set(s.columns)
    if args.chart:
        names |= {args.chart.x} | ({args.chart.y} if args.chart.y else set())
    return names


def _find(table: TablePublic, name: str) -> Any:
    key = name.strip().casefold()
    return next((c for c in table.columns if c.name.casefold() == key or str(c.id) == name.strip()), None)


async def load_frame(ctx: ToolContext, conn: Any, table: TablePublic, names: set[str] | None) -> tuple[pd.DataFrame, int]:
    """The named columns of at most MAX_ROWS rows (in row order) as typed pandas columns, and the row count."""
    if names is None:
        cols = list(table.columns)
    else:
        cols = [c for c in table.columns if any(_find(table, n) is c for n in names)]
    rows = await column_texts(conn, table.id, [c.id for c in cols], MAX_ROWS)
    total = await count_records(conn, table.id)
    data = {c.name: _typed(c.type, [r[i + 1] for r in rows]) for i, c in enumerate(cols)}
    frame = pd.DataFrame(data)  # the Series share a RangeIndex; row ids become the index afterwards
    frame.index = pd.Index([r[0] for r in rows], name="row_id")
    return frame, total


def _typed(ctype: str, raw: list[str | None]) -> pd.Series:
    """Text from JSONB as the column's pandas type: numbers, booleans, dates; lists joined with ", "."""
    s = pd.Series(raw, dtype=object)
    if ctype == "number":
        return pd.to_numeric(s, errors="coerce")
    if ctype == "boolean":
        return s.map({"true": True, "false": False}).astype("boolean")
    if ctype == "date":
        return pd.to_datetime(s, errors="coerce", format="ISO8601", utc=False)
    if ctype in ("multi_select", "json"):
        return s.map(lambda v: v if v is None else _joined(v))
    return s


def _joined(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return ", ".join(map(str, value)) if isinstance(value, list) else raw


# ------------------------------------------------------------------------------------------- steps


class _Run:
    """The steps applied in order to one frame; the columns a step may name are the current frame's."""

    def __init__(self, frame: pd.DataFrame, table: TablePublic) -> None:
        self.df = frame
        self.table = table
        self.types = {c.name: c.type for c in table.columns}
        self.shaped: str | None = None  # the step that replaced the table's columns with its own


    def col(self, name: str) -> str:
        key = name.strip().casefold()
        found = next((c for c in self.df.columns if str(c).casefold() == key), None)
        if found is None:
            col = _find(self.table, name)
            found = col.name if col is not None and col.name in self.df.columns else None
        if found is None:
            source = self.shaped is None
            known = ", ".join(c.name for c in self.table.columns) if source else ", ".join(map(str, self.df.columns))
            where = f'"{self.table.name}"' if source else f"the result of {self.shaped}"
            raise ToolError(f'Unknown column "{name}" in {where}; its columns are: {known}.')
        return found

    def numeric(self, name: str, what: str) -> str:
        c = self.col(name)
        if not (pd.api.types.is_numeric_dtype(self.df[c]) and not pd.api.types.is_bool_dtype(self.df[c])):
            kind = self.types.get(c, "text").replace("_", " ")
            raise ToolError(f'Cannot take the {what} of "{c}": it is a {kind} column, not a number. '
                            "Use count, value_counts, or a number column.")
        return c

    def apply(self, s: Any) -> None:
        self.df = getattr(self, "_" + s.step)(s)
        if s.step not in ("filter", "top_n"):
            self.shaped = s.step

    def _filter(self, s: Filter) -> pd.DataFrame:
        c = self.col(s.column)
        series = self.df[c]
        if s.op == "empty":
            return self.df[series.isna() | (series.astype(str).str.strip() == "")]
        if s.op == "not_empty":
            return self.df[series.notna() & (series.astype(str).str.strip() != "")]
        if s.value is None:
            raise ToolError(f'filter on "{c}" with op {s.op} needs a value.')
        if s.op == "contains":
            return self.df[series.astype("string").str.contains(str(s.value), case=False, regex=False, na=False)]
        if s.op == "in":
            values = s.value if isinstance(s.value, list) else [s.value]
            return self.df[series.isin([self._value(series, c, v) for v in values])]
        value = self._value(series, c, s.value)
        if s.op in ("eq", "ne") and series.dtype == object:
            match = series.astype("string").str.casefold() == str(value).casefold()
            return self.df[match.fillna(False) if s.op == "eq" else ~match.fillna(False)]
        compare = {"eq": series.eq, "ne": series.ne, "gt": series.gt, "gte": series.ge,
                   "lt": series.lt, "lte": series.le}[s.op]
        try:
            return self.df[compare(value).fillna(False).astype(bool)]
        except TypeError:
            raise ToolError(f'Cannot compare "{c}" with {s.value!r} using {s.op}.') from None

    def _value(self, series: pd.Series, c: str, value: Any) -> Any:
        """A filter value in the column's type, or a clear error."""
        try:
            if pd.api.types.is_datetime64_any_dtype(series):
                return pd.Timestamp(str(value))
            if pd.api.types.is_bool_dtype(series):
                return str(value).strip().lower() in ("true", "yes", "1")
            if pd.api.types.is_numeric_dtype(series):
                return float(value)
        except (ValueError, TypeError):
            kind = self.types.get(c, "text").replace("_", " ")
            raise ToolError(f'"{value}" is not a value of the {kind} column "{c}".') from None
        return value

    def _aggregate(self, grouped: Any, aggs: list[Aggregation]) -> pd.DataFrame:
        out = {}
        for a in aggs or [Aggregation(func="count")]:
            if a.column is None:
                if a.func != "count":
                    raise ToolError(f"The aggregation {a.func} needs a column.")
                out["Count"] = grouped.size()
                continue
            c = self.col(a.column) if a.func == "count" else self.numeric(a.column, a.func)
            out[f"{LABELS[a.func]} {c}" if a.func != "count" else f"Count of {c}"] = grouped[c].agg(a.func)
        return pd.DataFrame(out)

    def _group_by(self, s: GroupBy) -> pd.DataFrame:
        keys = [self.col(c) for c in s.columns]
        result = self._aggregate(self.df.groupby(keys, dropna=False, sort=False), s.aggregations)
        result = result.sort_values(result.columns[0], ascending=False, kind="stable")
        return result.reset_index()

    def _pivot(self, s: Pivot) -> pd.DataFrame:
        index, columns = self.col(s.index), self.col(s.columns)
        if self.df[columns].nunique() > MAX_PIVOT_COLUMNS:
            raise ToolError(f'"{columns}" has more than {MAX_PIVOT_COLUMNS} distinct values: too many to be '
                            "pivot columns; group_by it instead.")
        if s.values is None:
            if s.func != "count":
                raise ToolError(f"pivot with {s.func} needs `values`.")
            table = pd.crosstab(self.df[index], self.df[columns])
        else:
            values = self.col(s.values) if s.func == "count" else self.numeric(s.values, s.func)
            table = pd.pivot_table(self.df, index=index, columns=columns, values=values, aggfunc=s.func)
        table.columns = [str(c) for c in table.columns]
        return table.reset_index()

    def _describe(self, s: Describe) -> pd.DataFrame:
        cols = [self.col(c) for c in s.columns] if s.columns else list(self.df.columns)
        if not cols:
            raise ToolError("There are no columns to describe.")
        result = self.df[cols].describe(include="all").T
        result.index.name = "column"
        return result.reset_index()

    def _top_n(self, s: TopN) -> pd.DataFrame:
        c = self.col(s.column)
        return self.df.sort_values(c, ascending=s.ascending, na_position="last", kind="stable").head(s.n).reset_index()

    def _value_counts(self, s: ValueCounts) -> pd.DataFrame:
        c = self.col(s.column)
        series = self.df[c]
        if self.types.get(c) == "multi_select":  # each tag of a row counts once
            series = series.dropna().str.split(", ").explode()
        counts = series.value_counts(dropna=False).head(s.n)
        return pd.DataFrame({c: counts.index, "Count": counts.to_numpy()})

    def _correlation(self, s: Correlation) -> pd.DataFrame:
        if s.columns:
            cols = [self.numeric(c, "correlation") for c in s.columns]
        else:
            cols = [c for c in self.df.columns if pd.api.types.is_numeric_dtype(self.df[c])
                    and not pd.api.types.is_bool_dtype(self.df[c])]
        if len(cols) < 2:
            raise ToolError("correlation needs at least two number columns.")
        result = self.df[cols].corr().round(3)
        result.index.name = "column"
        return result.reset_index()


# ------------------------------------------------------------------------------------------- output


def _chart_column(df: pd.DataFrame, name: str) -> str:
    key = name.strip().casefold()
    cols = [str(c) for c in df.columns]
    found = next((c for c in cols if c.casefold() == key), None)
    # "Rating" names the aggregate made of it ("Average Rating") when the result holds no "Rating"
    found = found or next((c for c in cols if c.casefold().endswith(" " + key)), None)
    if found is None:
        raise ToolError(f'The chart names "{name}", which is not a column of the result ({", ".join(cols)}).')
    return found


def make_figure(df: pd.DataFrame, chart: Chart | None, last: Any, title: str) -> Any:
    """A Plotly figure of the result: the one asked for, else a bar chart of a one-key group_by."""
    if chart is None:
        if not (isinstance(last, GroupBy) and len(df.columns) == 2 and len(df) > 1):
            return None
        chart = Chart(kind="bar", x=str(df.columns[0]), y=str(df.columns[1]))
    x = _chart_column(df, chart.x)
    y = _chart_column(df, chart.y) if chart.y else None
    if chart.kind not in ("histogram", "pie") and y is None:
        raise ToolError(f"A {chart.kind} chart needs y.")
    import plotly.express as px  # ~1 s to import: only when a chart is drawn

    plot = df.head(UI_ROWS).copy()
    plot[x] = plot[x].astype(str) if chart.kind in ("bar", "pie") else plot[x]
    title = chart.title or title
    if chart.kind == "bar":
        fig = px.bar(plot, x=x, y=y, title=title)
    elif chart.kind == "line":
        fig = px.line(plot, x=x, y=y, title=title, markers=True)
    elif chart.kind == "scatter":
        fig = px.scatter(plot, x=x, y=y, title=title)
    elif chart.kind == "pie":
        fig = px.pie(plot, names=x, values=y, title=title)
    else:
        fig = px.histogram(plot, x=x, y=y, title=title)
    fig.update_layout(margin={"l": 40, "r": 20, "t": 50, "b": 40})
    return fig


def _cell(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    if hasattr(value, "item"):
        value = value.item()
        return round(value, 4) if isinstance(value, float) else value
    return short(value)


def _title(args: AnalyzeInput, table: TablePublic) -> str:
    last = args.operations[-1]
    if isinstance(last, GroupBy):
        aggs = last.aggregations or [Aggregation(func="count")]
        what = ", ".join(f"{LABELS[a.func].lower()} {a.column}" if a.column else "count" for a in aggs)
        return f"{what[:1].upper()}{what[1:]} by {', '.join(last.columns)} — {table.name}"
    return f"{last.step.replace('_', ' ').capitalize()} — {table.name}"


async def run_analysis(ctx: ToolContext, args: AnalyzeInput) -> tuple[dict[str, Any], AnalysisEvent]:
    """The small result for the model and the event for the UI."""
    async with ctx.transaction() as conn:
        table = await resolve_table(ctx, conn, args.table_id)
        names = _needed(args)
        frame, total = await load_frame(ctx, conn, table, names)
    run = _Run(frame, table)
    for s in args.operations:
        run.apply(s)
    df = run.df
    if "row_id" in df.columns and not isinstance(args.operations[-1], TopN):
        df = df.drop(columns="row_id")
    title = _title(args, table)
    figure = make_figure(df, args.chart, args.operations[-1], title)
    rows = [[_cell(v) for v in row] for row in df.head(MODEL_ROWS).itertuples(index=False)]
    out: dict[str, Any] = {
        "columns": [str(c) for c in df.columns],
        "rows": rows,
        "row_count": len(df),
        "rows_analysed": len(frame),
    }
    if len(df) > MODEL_ROWS:
        out["note"] = f"Only the first {MODEL_ROWS} of {len(df)} result rows are listed here."
    if total > len(frame):
        out["sampled"] = f"The table has {total:,} rows; the first {len(frame):,} were analysed."
    out["shown"] = "The result table" + (" and a chart are" if figure is not None else " is") + \
        " shown to the user in the conversation."
    event = AnalysisEvent(title=title, frame=df.head(UI_ROWS), figure=figure, total_rows=len(df))
    return out, event


@tool(AnalyzeInput, name="analyze_table")
async def analyze_table(ctx: ToolContext, args: AnalyzeInput) -> ToolResult:
    """Analyse a table with pandas through a fixed set of steps, applied in order (table_id: the active
    table when left out). Steps ("step" names each): filter {column, op: eq|ne|gt|gte|lt|lte|contains|in|
    empty|not_empty, value}; group_by {columns: [..], aggregations: [{column, func: count|sum|mean|min|
    max|median}]} (no aggregations = row count); pivot {index, columns, values, func}; describe
    {columns?}; top_n {column, n, ascending?}; value_counts {column, n?}; correlation {columns?}. A step
    after group_by or pivot names the result's columns (e.g. "Average Rating"). Optional chart {kind:
    bar|line|scatter|pie|histogram, x, y} over the result (y may name the source column of an
    aggregate); a one-key group_by gets a bar chart anyway. The user sees the whole result table and the
    chart in the conversation; you get at most 50 rows of it: describe what it shows in a sentence or two."""
    out, event = await run_analysis(ctx, args)
    await ctx.emit(event)
    return ToolResult(out)
