"""A page's filter, search and sort, checked against the table's columns and turned into SQL on the rows'
JSONB layout. Every problem is a `BadQuery` naming the query parameter and the clause, so the API can
answer 422 before anything runs.

Column ids are written into the SQL as literals (they are UUIDs from the table's own metadata, never
client text), so each sort expression is one fixed text an expression index could match; values are
always bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from db.coerce import coerce
from db.errors import Invalid
from db.schemas import ColumnPublic

FilterOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "gte", "lte", "contains", "empty", "not_empty", "status"]
ALIASES = {"gte": "ge", "lte": "le"}
STATUSES = ("error", "stale", "pending", "computing", "completed", "idle", "pinned")
TEXT_LIKE = frozenset({"text", "long_text", "email", "url", "select", "multi_select"})

_ORDERED = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "empty", "not_empty"})
_UNORDERED = frozenset({"eq", "ne", "contains", "empty", "not_empty"})
OPS_BY_TYPE: dict[str, frozenset[str]] = {
    **{t: _ORDERED | {"contains"} for t in ("text", "long_text", "email", "url", "select")},
    "multi_select": _UNORDERED, "json": _UNORDERED,
    "number": _ORDERED, "date": _ORDERED,
    "boolean": frozenset({"eq", "ne", "empty", "not_empty"}),
}
_SQL_OPS = {"eq": "=", "ne": "IS DISTINCT FROM", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class Filter(BaseModel):
    column: str
    op: FilterOp = "eq"
    value: Any = None


class Sort(BaseModel):
    column: str
    direction: Literal["asc", "desc"] = "asc"


class BadQuery(Invalid):
    """A filter, sort or search the table cannot answer: `param` is the query parameter, `clause` the
    position of the offending clause in it (None for the parameter as a whole)."""

    def __init__(self, param: str, clause: int | None, problem: str):
        super().__init__(problem, param=param, clause=clause)
        self.param, self.clause, self.problem = param, clause, problem


def kind_of_type(type_: str) -> str:
    """How values of a column type compare: text case-insensitively, ISO dates by their characters (which
    is by date), numbers, booleans and JSON by jsonb's own ordering (numbers numerically, false < true)."""
    return "text" if type_ in TEXT_LIKE else "date" if type_ == "date" else "jsonb"


def sort_kind(col: ColumnPublic) -> str:
    return kind_of_type(col.type)


# each kind's sort key; `{row}` is the table's alias and a dot (or nothing, in an index definition)
KEY_SQL = {
    "text": "lower({row}data ->> {key})",
    "date": '(({row}data ->> {key}) COLLATE "C")',
    "jsonb": "NULLIF({row}data -> {key}, 'null'::jsonb)",
}


def sort_key(col: ColumnPublic) -> str:
    """The SQL of `sort_kind`: the same text as the expression of the sort indexes (db/sort_indexes.py)."""
    return KEY_SQL[sort_kind(col)].format(row="r.", key=_literal(str(col.id)))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _like(needle: Any) -> str:
    s = str(needle).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{s}%"


@dataclass
class Query:
    """The WHERE and ORDER BY of a page, with their parameters."""

    where: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    sorted_by: list[tuple[ColumnPublic, str]] = field(default_factory=list)

    @property
    def first_sort(self) -> tuple[ColumnPublic, str, bool] | None:
        """(column, sort kind, descending) of the first sort key: what a sort index serves."""
        if not self.sorted_by:
            return None
        col, direction = self.sorted_by[0]
        return col, sort_kind(col), direction == "desc"

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"


def _status(q: Query, col: ColumnPublic, value: Any, n: int) -> str:
    wanted = value if isinstance(value, list) else [value]
    bad = [w for w in wanted if w not in STATUSES]
    if not wanted or bad:
        raise BadQuery("filter", n, f'status must be one of {", ".join(STATUSES)} (or a list of them), '
                                    f"not {json.dumps(bad[0] if bad else value)}")
    cell = f"(r.meta -> {_literal(str(col.id))})"
    parts = []
    states = [w for w in wanted if w != "pinned"]
    if states:
        parts.append(f"coalesce({cell} ->> 's', 'idle') = ANY({q.bind(states)})")
    if "pinned" in wanted:
        parts.append(f"coalesce({cell} -> 'p', 'false') = 'true'")
    return "(" + " OR ".join(parts) + ")"


def _condition(q: Query, col: ColumnPublic, f: Filter, n: int) -> str:
    op = ALIASES.get(f.op, f.op)
    if op == "status":
        if col.ai is None:
            raise BadQuery("filter", n, f'"status" applies to AI columns only; "{col.name}" is not one')
        return _status(q, col, f.value, n)
    allowed = OPS_BY_TYPE.get(col.type, _UNORDERED)
    if op not in allowed:
        raise BadQuery("filter", n, f'"{op}" does not apply to the {col.type} column "{col.name}"; '
                                    f"it takes {', '.join(sorted(allowed | ({'status'} if col.ai else set())))}")
    key = _literal(str(col.id))
    cell = f"(r.data -> {key})"
    if op in ("empty", "not_empty"):
        cond = f"({cell} IS NULL OR {cell} IN ('null', '\"\"', '[]'))"
        return cond if op == "empty" else f"NOT {cond}"
    if f.value is None:
        if op in ("eq", "ne"):  # "equals nothing" is what a cleared filter box sends
            return _condition(q, col, Filter(column=f.column, op="empty" if op == "eq" else "not_empty"), n)
        raise BadQuery("filter", n, f'"{op}" on "{col.name}" needs a value')
    if op == "contains":
        if isinstance(f.value, (dict, list)):
            raise BadQuery("filter", n, f'"contains" on "{col.name}" takes text, not {type(f.value).__name__}')
        return f"(r.data ->> {key}) ILIKE {q.bind(_like(f.value))}"
    try:
        value = coerce(col.model_dump(), f.value, check_required=False)
    except Invalid as exc:
        raise BadQuery("filter", n, exc.message) from None
    if col.type == "multi_select" and op == "eq":
        return f"{cell} @> CAST({q.bind(json.dumps(value))} AS jsonb)"
    if op in ("lt", "le", "gt", "ge"):
        # the expression the column sorts by, so a range agrees with the order the grid shows
        kind = sort_kind(col)
        bound = q.bind(json.dumps(value) if kind == "jsonb" else value.lower() if kind == "text" else value)
        return f"{sort_key(col)} {_SQL_OPS[op]} " + (f"CAST({bound} AS jsonb)" if kind == "jsonb" else bound)
    return f"{cell} {_SQL_OPS[op]} CAST({q.bind(json.dumps(value))} AS jsonb)"


def build(columns: Sequence[ColumnPublic], *, filters: Sequence[Filter] = (), sort: Sequence[Sort] = (),
          search: str | None = None) -> Query:
    """The conditions (all must hold) and order of a page; raises BadQuery naming the bad clause."""
    by_id = {str(c.id): c for c in columns}
    by_name = {c.name.casefold(): c for c in columns}
    q = Query()

    def column(param: str, n: int, key: str) -> ColumnPublic:
        col = by_id.get(key) or by_name.get(key.strip().casefold())
        if col is None:
            known = ", ".join(f'"{c.name}"' for c in columns)
            raise BadQuery(param, n, f'Unknown column "{key}" (the table has {known})')
        return col

    for n, f in enumerate(filters):
        q.where.append(_condition(q, column("filter", n, f.column), f, n))
    if search is not None and search.strip():
        texts = [c for c in columns if c.type in TEXT_LIKE]
        needle = q.bind(_like(search.strip()))
        q.where.append("(" + " OR ".join(f"(r.data ->> {_literal(str(c.id))}) ILIKE {needle}"
                                         for c in texts) + ")" if texts else "false")
    for n, s in enumerate(sort):
        col = column("sort", n, s.column)
        q.sorted_by.append((col, s.direction))
        q.order.append(f"{sort_key(col)} {s.direction.upper()} NULLS LAST")
    q.order.append("r.id")
    return q


def parse_sort_names(raw: str) -> list[Sort]:
    """`-Points,Name` → Points descending, then Name ascending (`+Name` is also ascending)."""
    out = []
    for part in raw.split(","):
        name = part.strip()
        direction: Literal["asc", "desc"] = "asc"
        if name[:1] in "-+" and name:
            direction = "desc" if name[0] == "-" else "asc"
            name = name[1:].strip()
        out.append(Sort(column=name, direction=direction))
    return out
