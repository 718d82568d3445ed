"""Column types for an imported file, inferred with pandas, and every value in its stored form.

A column gets the first type that every non-empty value fits, in this order: boolean (true/false,
yes/no), number (plain or with thousands commas; a leading zero or more than 15 digits keeps an
integer as text: zip codes, phone numbers, ids), date (ISO dates and date-times, M/D/YYYY, D.M.YYYY),
url (http/https), email, select (at most 20 distinct short values over at least 10 rows, each
repeated on average), long_text (a value over 255 characters or with a line break), else text.
Types are tried on a sample first so that text columns are rejected cheaply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dataio.read import ParsedTable, unquote_formula
from db.coerce import EMAIL
from db.schemas import ColumnCreate

SAMPLE = 500
SELECT_MAX_OPTIONS = 20
SELECT_MIN_ROWS = 10
SELECT_MAX_LEN = 100
LONG_TEXT_AT = 255
MAX_INT_DIGITS = 15
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False}
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
THOUSANDS = re.compile(r",")
INTEGER_ID = re.compile(rf"[+-]?0\d+|[+-]?\d{{{MAX_INT_DIGITS + 1},}}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_ANY = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
SLASH_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{4}")
DOT_DATE = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}")
URL = re.compile(r"https?://(?:[^\s/?#]+\.[^\s/?#]+|localhost)(?::\d+)?(?:[/?#]\S*)?", re.IGNORECASE)
EMAIL_RE = re.compile(EMAIL.pattern.strip("^$"))


@dataclass(frozen=True)
class InferredColumn:
    """A column of the file: its name, type, options (select) and one stored value per row."""

    name: str
    type: str
    values: list[Any]
    options: list[str] | None = None

    def create(self) -> ColumnCreate:
        return ColumnCreate(name=self.name, type=self.type, options=self.options)


@dataclass(frozen=True)
class ImportPlan:
    """What importing a file would create: typed columns, the row count, a few sample rows."""

    columns: list[InferredColumn]
    row_count: int
    notes: list[str]

    def column_creates(self) -> list[ColumnCreate]:
        return [c.create() for c in self.columns]

    def rows(self) -> Iterator[list[Any]]:
        """Row by row, the stored values in column order (None = empty)."""
        return zip(*(c.values for c in self.columns), strict=True)  # type: ignore[return-value]

    def sample_rows(self, n: int = 5) -> list[dict[str, Any]]:
        """The first rows keyed by column name, empty cells left out."""
        out = []
        for row in list(zip(*(c.values[:n] for c in self.columns), strict=True)):
            out.append({c.name: v for c, v in zip(self.columns, row) if v is not None})
        return out

    def schema_proposal(self, table_name: str, description: str = "", sample: int = 5) -> dict[str, Any]:
        """A create-table `schema_proposal` payload (seeds/002 §1.1) for this file."""
        ops = []
        for c in self.columns:
            column: dict[str, Any] = {"name": c.name, "type": c.type}
            if c.options:
                column["options"] = c.options
            ops.append({"action": "add", "column": column})
        return {
            "mode": "create", "table_name": table_name, "table_description": description,
            "reasoning": f"Imported from a file with {self.row_count:,} rows and {len(self.columns)} columns; "
                         "column types were inferred from the values.",
            "operations": ops, "sample_rows": self.sample_rows(sample),
        }


def plan_import(parsed: ParsedTable) -> ImportPlan:
    """Infer every column of `parsed`."""
    return ImportPlan(columns=infer_columns(parsed), row_count=parsed.row_count, notes=list(parsed.notes))


def infer_columns(parsed: ParsedTable) -> list[InferredColumn]:
    out = []
    for i, name in enumerate(parsed.columns):
        raw = [r[i] for r in parsed.rows]
        if parsed.format == "xlsx":
            raw = [_as_text(v) for v in raw]
        out.append(infer_column(name, raw, unquote=parsed.format == "csv"))
    return out


def _as_text(value: Any) -> str | None:
    """A spreadsheet cell as the text a CSV would hold, so that both formats infer alike."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) and value.tzinfo is None else (
            value.isoformat())
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def infer_column(name: str, raw: list[str | None], *, unquote: bool = False) -> InferredColumn:
    """The type of one column of text cells (None or blank = empty) and its stored values."""
    stripped = [v.strip() if v else None for v in raw]
    if all(stripped):  # the common case, a column without gaps, skips the bookkeeping of positions
        filled, vals = range(len(raw)), stripped
    else:
        filled = [i for i, v in enumerate(stripped) if v]
        vals = [stripped[i] for i in filled]
    if not vals:
        return InferredColumn(name, "text", [None] * len(raw))
    sample = vals[:SAMPLE]
    for kind, check, convert in RULES:
        if check(sample) and (len(vals) == len(sample) or check(vals)):
            result = convert(vals)
            if result is not None:
                return InferredColumn(name, kind, _spread(len(raw), filled, result[0]), result[1])
    originals: list[str] = raw if len(filled) == len(raw) else [raw[i] for i in filled]  # type: ignore[assignment]
    if unquote:
        originals = [unquote_formula(v) for v in originals]
    long = any(len(v) > LONG_TEXT_AT or "\n" in v for v in originals)
    return InferredColumn(name, "long_text" if long else "text", _spread(len(raw), filled, originals))


def _spread(size: int, filled: Sequence[int], values: list[Any]) -> list[Any]:
    """Values of the filled cells put back in row order, None in the empty ones."""
    if len(filled) == size:
        return list(values)
    out: list[Any] = [None] * size
    for pos, value in zip(filled, values, strict=True):
        out[pos] = value
    return out


def _all(pattern: re.Pattern[str], vals: list[str], max_len: int | None = None) -> bool:
    return all(map(pattern.fullmatch, vals)) and (max_len is None or max(map(len, vals)) <= max_len)


def _is_bool(vals: list[str]) -> bool:
    return set(map(str.lower, vals)) <= BOOL_WORDS.keys()


def _is_number(vals: list[str]) -> bool:
    if not _all(NUMBER, vals):
        return False
    # an integer with a leading zero or too many digits for a float is an identifier, not a quantity
    return not any(map(INTEGER_ID.fullmatch, vals))


def _numbers(vals: list[str]) -> tuple[list[Any], None]:
    """Integers as int (as db.coerce stores them), the rest as float."""
    if any(map(THOUSANDS.search, vals)):
        vals = [v.replace(",", "") for v in vals]
    nums = pd.to_numeric(pd.Series(vals, dtype=object)).to_numpy()
    if nums.dtype.kind in "iu":
        return nums.tolist(), None
    whole = (nums % 1 == 0) & (abs(nums) < 2**53)
    if not whole.any():
        return nums.tolist(), None
    if whole.all():
        return nums.astype("int64").tolist(), None
    return [int(n) if w else n for n, w in zip(nums.tolist(), whole.tolist())], None


def _date_format(vals: list[str]) -> str | None:
    """The one date format every value is written in, or None."""
    if _all(ISO_DATE, vals):
        return "%Y-%m-%d"
    if _all(ISO_ANY, vals):
        return "ISO8601"
    if _all(SLASH_DATE, vals):
        for fmt in ("%m/%d/%Y", "%d/%m/%Y"):
            if pd.to_datetime(pd.Series(vals), format=fmt, errors="coerce").notna().all():
                return fmt
    if _all(DOT_DATE, vals):
        return "%d.%m.%Y"
    return None


def _to_dates(vals: list[str]) -> tuple[list[str], None] | None:
    """ISO forms of the dates, or None when one of them is not a real date (February 30th)."""
    fmt = _date_format(vals)
    if fmt is None:
        return None
    if fmt == "ISO8601":
        try:
            # date-only values stay dates; date-times keep their offset (pandas refuses mixed offsets)
            return [v if len(v) == 10 else dt.datetime.fromisoformat(v).isoformat() for v in vals], None
        except ValueError:
            return None
    parsed = pd.to_datetime(pd.Series(vals), format=fmt, errors="coerce")
    if parsed.isna().any():
        return None
    return (vals if fmt == "%Y-%m-%d" else parsed.dt.strftime("%Y-%m-%d").tolist()), None


def _is_select(vals: list[str]) -> bool:
    distinct = pd.Series(vals).nunique()
    return (len(vals) >= SELECT_MIN_ROWS and distinct <= SELECT_MAX_OPTIONS and distinct * 2 <= len(vals)
            and max(map(len, vals)) <= SELECT_MAX_LEN and not any("\n" in v for v in vals))


def _options(vals: list[str]) -> tuple[list[str], list[str]]:
    # options are stored with runs of white space collapsed (db.schemas): the values must match them
    tidy = [" ".join(v.split()) for v in vals]
    return tidy, list(dict.fromkeys(tidy))


Rule = tuple[str, Callable[[list[str]], bool], Callable[[list[str]], "tuple[list[Any], Any] | None"]]
RULES: tuple[Rule, ...] = (
    ("boolean", _is_bool, lambda v: ([BOOL_WORDS[x.lower()] for x in v], None)),
    ("number", _is_number, _numbers),
    ("date", lambda v: _date_format(v) is not None, _to_dates),
    ("url", lambda v: _all(URL, v, 2048), lambda v: (v, None)),
    ("email", lambda v: _all(EMAIL_RE, v, 320), lambda v: (v, None)),
    ("select", _is_select, _options),
)
