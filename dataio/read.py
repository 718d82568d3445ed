"""Reading an uploaded CSV or XLSX file into a header and rows, with clear errors for bad files.

The format is told by the content, never by the name: an XLSX workbook is a zip archive (dataio.xlsx),
anything else must be the text of a table (dataio.sniff decodes it or says what it is instead). Limits
(size, rows, columns, characters in a cell) come from the settings (dataio.limits).

Decisions a user will notice:
- The first row is the header. Empty header cells become "Column N" (N = position); repeated names
  become "Name", "Name 2", "Name 3" (compared case-insensitively, as column names are).
- A column with an empty header and no values at all (trailing separators) is dropped.
- A file with a header and no rows is refused: it would make an empty table, which is more often a
  wrong file than a wish (a table is made empty in the chat or with POST /tables).
- Ragged rows are refused, naming the first bad line: a row with fewer fields than the header is
  more often a shifted row than a short one, and padding it would silently file values under the
  wrong columns. Extra fields that are all empty (a trailing separator) are tolerated. In XLSX
  files short rows are simply empty trailing cells.
- Blank lines are skipped.

Long because both formats must reach the same decisions above, which read best side by side.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from dataio.limits import (
    HELP,
    BadFile,
    FileTooLarge,
    ImportLimits,
    check_field,
    check_rows,
    check_size,
    check_width,
)
from dataio.sniff import BOMS, decode
from dataio.xlsx import read_xlsx

__all__ = ["BadFile", "FileTooLarge", "ImportLimits", "ParsedTable", "check_size", "read_table_file"]

MAX_BYTES = ImportLimits().max_bytes  # the default of TABLECHAT_IMPORT_MAX_MB
MAX_COLUMNS = ImportLimits().max_columns
NAME_MAX = 200
SNIFF_LINES = 50
DELIMITERS = ",;\t|"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# cells are measured against the field limit below; the csv module's own limit (128 KB) would stop
# earlier with a message that names no file
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class ParsedTable:
    """A header and rows of equal length. CSV cells are strings ("" = empty); XLSX cells keep their
    native type (str, int, float, bool, datetime, None)."""

    filename: str
    format: Literal["csv", "xlsx"]
    columns: list[str]
    rows: list[list[Any]]
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.rows)


def _load(source: str | os.PathLike[str] | bytes | bytearray, max_bytes: int) -> bytes:
    """The file's bytes; a file over the limit is refused before it is read."""
    check_size(len(source) if isinstance(source, (bytes, bytearray)) else os.stat(source).st_size, max_bytes)
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    return Path(source).read_bytes()


def read_table_file(
    source: str | os.PathLike[str] | bytes | bytearray,
    filename: str | None = None,
    *,
    max_bytes: int | None = None,
    max_columns: int | None = None,
    limits: ImportLimits | None = None,
) -> ParsedTable:
    """Read a CSV or XLSX file (told apart by content) into a ParsedTable, or raise BadFile.
    Limits: `limits`, else the settings; `max_bytes` and `max_columns` override theirs."""
    if filename is None:
        filename = "upload" if isinstance(source, (bytes, bytearray)) else Path(source).name
    limits = limits or ImportLimits.from_settings()
    if max_bytes is not None:
        limits = replace(limits, max_bytes=max_bytes)
    if max_columns is not None:
        limits = replace(limits, max_columns=max_columns)
    data = _load(source, limits.max_bytes)
    if not data.strip(b" \t\r\n\x00") or data in {bom for bom, _ in BOMS}:
        raise BadFile(f'"{filename}" is empty. {HELP}')
    if data.startswith(ZIP_MAGIC):
        header, rows, notes = read_xlsx(data, filename, limits)
        columns, rows, more = _tidy(header, rows, unquote=False)
        return _with_rows(ParsedTable(filename, "xlsx", columns, rows, notes=notes + more))
    if data.startswith(OLE_MAGIC):
        raise BadFile(f'"{filename}" is an old-style Excel (.xls) or a password-protected workbook. '
                      "Save it as .xlsx (without a password) or as CSV and upload it again.")
    text, encoding = decode(data, filename)
    return _with_rows(_read_csv(text, filename, encoding, limits))


def _with_rows(parsed: ParsedTable) -> ParsedTable:
    if not parsed.rows:
        raise BadFile(f'"{parsed.filename}" has only a header row ({", ".join(parsed.columns[:5])}'
                      f'{" …" if len(parsed.columns) > 5 else ""}) and no rows of data. {HELP}')
    return parsed


def _sniff_delimiter(text: str) -> str:
    """The field separator: csv.Sniffer over the first lines, else the one that splits the header most."""
    lines = text[:65536].splitlines()[:SNIFF_LINES]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    header = lines[0] if lines else ""
    counts = {d: len(next(csv.reader([header], delimiter=d), [])) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 1 else ","


def _read_csv(text: str, filename: str, encoding: str, limits: ImportLimits) -> ParsedTable:
    delimiter = _sniff_delimiter(text)
    # the Sniffer's guesses about quoting are unreliable (it turns off doubled quotes): keep the excel rules
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise BadFile(f'"{filename}" is empty. {HELP}')
        check_width(len(header), filename, limits)
        for col, name in enumerate(header, start=1):
            check_field(name, filename, f"header, column {col}", limits)
        width = len(header)
        rows: list[list[Any]] = []
        for row in reader:
            if len(row) != width:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) > width and not any(cell.strip() for cell in row[width:]):
                    row = row[:width]
                else:
                    raise BadFile(
                        f'"{filename}" line {reader.line_num} has {len(row)} fields but the header has '
                        f"{width}. Check for a missing or extra separator (or an unclosed quote) on that line.",
                        line=reader.line_num, fields=len(row), expected=width,
                    )
            rows.append(row)
            if len(rows) > limits.max_rows:
                check_rows(len(rows), filename, limits)
    except csv.Error as exc:
        raise BadFile(f'"{filename}" line {reader.line_num} cannot be read as CSV: {exc}.',
                      line=reader.line_num) from None
    _check_fields(rows, filename, limits)
    columns, rows, notes = _tidy(header, rows, unquote=True)
    return ParsedTable(filename, "csv", columns, rows, encoding=encoding, delimiter=delimiter, notes=notes)


def _check_fields(rows: list[list[str]], filename: str, limits: ImportLimits) -> None:
    """BadFile naming the first cell over the length limit (one pass in C over every cell first)."""
    if rows and max(map(len, chain.from_iterable(rows)), default=0) > limits.max_field_chars:
        n, cell = next((n, c) for n, r in enumerate(rows, start=2) for c in r if len(c) > limits.max_field_chars)
        check_field(cell, filename, f"data row {n - 1}", limits)


def unquote_formula(value: str) -> str:
    """Undo the `'` that a formula-safe CSV export puts before = + - @ (see dataio.export)."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def _tidy(header: Sequence[Any], rows: list[list[Any]], *, unquote: bool) -> tuple[list[str], list[list[Any]], list[str]]:
    """Clean header names (fill empty, de-duplicate, shorten) and drop empty unnamed columns."""
    names = [" ".join(str(h).split()) for h in header]
    if unquote:
        names = [unquote_formula(n) for n in names]
    keep = [i for i, n in enumerate(names) if n or any(_filled(r[i]) for r in rows)]
    notes = []
    if len(keep) < len(names):
        notes.append(f"Dropped {len(names) - len(keep)} column(s) with no header and no values.")
        names = [names[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
        header_pos = keep
    else:
        header_pos = list(range(len(names)))
    out: list[str] = []
    seen: set[str] = set()
    taken = {n.casefold() for n in names if n}
    for pos, name in zip(header_pos, names):
        original = name
        if not name:
            name = f"Column {pos + 1}"
        name = name[:NAME_MAX]
        if name.casefold() in seen:
            n = 2
            while f"{name} {n}".casefold() in seen | taken:
                n += 1
            name = f"{name[:NAME_MAX - len(str(n)) - 1]} {n}"
        if name != original:
            notes.append(f'Column {pos + 1} is named "{name}"' + (f' (was "{original}")' if original else ""))
        seen.add(name.casefold())
        out.append(name)
    return out, rows, notes


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())
