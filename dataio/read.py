"""Reading an uploaded CSV or XLSX file into a header and rows, with clear errors for bad files.

The format is told by the content, never by the name: an XLSX workbook is a zip archive, anything else
must be text. Text is decoded by its byte-order mark (UTF-8, UTF-16, UTF-32), else as strict UTF-8,
else by charset_normalizer, preferring Windows-1252 when that reads the bytes equally well (the
encoding Excel writes CSV in across Western Europe and the Americas; short texts are otherwise
ambiguous between the Latin code pages).

Decisions a user will notice:
- The first row is the header. Empty header cells become "Column N" (N = position); repeated names
  become "Name", "Name 2", "Name 3" (compared case-insensitively, as column names are).
- A column with an empty header and no values at all (trailing separators) is dropped.
- Ragged rows are refused, naming the first bad line: a row with fewer fields than the header is
  more often a shifted row than a short one, and padding it would silently file values under the
  wrong columns. Extra fields that are all empty (a trailing separator) are tolerated. In XLSX
  files short rows are simply empty trailing cells.
- Blank lines are skipped.

Long because both formats must reach the same decisions above, which read best side by side.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from db.errors import Invalid

MAX_BYTES = 200 * 1024 * 1024
MAX_COLUMNS = 1000
NAME_MAX = 200
SNIFF_LINES = 50
DELIMITERS = ",;\t|"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
HELP = "Upload a CSV (comma, semicolon or tab separated) or an Excel .xlsx file."

# A long text cell may hold up to a megabyte (db.coerce.LONG_TEXT_MAX); the csv module stops at 128 KB.
csv.field_size_limit(max(csv.field_size_limit(), 2_000_000))


class BadFile(Invalid):
    """The file cannot be read as a table; the message says why and what to do."""

    code = "bad_file"


class FileTooLarge(BadFile):
    code, status = "file_too_large", 413


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


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.0f} MB"


def check_size(size: int, max_bytes: int = MAX_BYTES) -> None:
    """FileTooLarge when a file of `size` bytes is over the limit."""
    if size > max_bytes:
        raise FileTooLarge(f"The file is {_mb(size)}; the most tablechat imports is {_mb(max_bytes)}. "
                           "Split it into smaller files.", size=size, limit=max_bytes)


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
    max_bytes: int = MAX_BYTES,
    max_columns: int = MAX_COLUMNS,
) -> ParsedTable:
    """Read a CSV or XLSX file (told apart by content) into a ParsedTable, or raise BadFile."""
    if filename is None:
        filename = "upload" if isinstance(source, (bytes, bytearray)) else Path(source).name
    data = _load(source, max_bytes)
    if not data.strip(b" \t\r\n\x00") or data in {bom for bom, _ in BOMS}:
        raise BadFile(f'"{filename}" is empty. {HELP}')
    if data.startswith(ZIP_MAGIC):
        return _read_xlsx(data, filename, max_columns)
    if data.startswith(OLE_MAGIC):
        raise BadFile(f'"{filename}" is an old-style Excel (.xls) or a password-protected workbook. '
                      "Save it as .xlsx (without a password) or as CSV and upload it again.")
    text, encoding = _decode(data, filename)
    return _read_csv(text, filename, encoding, max_columns)


def _decode(data: bytes, filename: str) -> tuple[str, str]:
    """The text of the file and the encoding used; BadFile for binary or undecodable content."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                raise BadFile(f'"{filename}" starts with a {encoding.upper()} byte-order mark but is not '
                              f"valid {encoding.upper()} (byte {exc.start + len(bom)}). Re-save it as UTF-8.",
                              encoding=encoding) from None
            return _check_text(text, filename), encoding + ("-sig" if encoding == "utf-8" else "")
    if b"\x00" not in data:
        try:
            return _check_text(data.decode("utf-8"), filename), "utf-8"
        except UnicodeDecodeError:
            pass
    import filetype

    kind = filetype.guess(data[:8192])
    if kind is not None:
        raise BadFile(f'"{filename}" is a {kind.extension.upper()} file ({kind.mime}), not a table. {HELP}',
                      detected=kind.mime)
    encoding = _detect_encoding(data)
    if encoding is None:
        raise BadFile(f'"{filename}" is a binary file, not text. {HELP}')
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise BadFile(f'"{filename}" could not be read as text in any known encoding. Re-save it as UTF-8.'
                      ) from None
    return _check_text(text, filename), encoding


def _detect_encoding(data: bytes) -> str | None:
    """charset_normalizer's choice, except that Windows-1252 (then Latin-1) wins among equals."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    for m in matches:
        could_be = set(m.could_be_from_charset)
        if m.chaos <= least and could_be & {"cp1252", "latin_1"}:
            try:
                data.decode("cp1252")
                return "cp1252"
            except UnicodeDecodeError:
                return "latin-1"
    return matches[0].encoding


def _check_text(text: str, filename: str) -> str:
    text = text.lstrip("\ufeff")  # a second byte-order mark, left by tools that add one regardless
    sample = text[:65536]
    if "\x00" in sample or len(CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise BadFile(f'"{filename}" contains binary data, not text. {HELP}')
    if not text.strip():
        raise BadFile(f'"{filename}" is empty. {HELP}')
    return text


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


def _read_csv(text: str, filename: str, encoding: str, max_columns: int) -> ParsedTable:
    delimiter = _sniff_delimiter(text)
    # the Sniffer's guesses about quoting are unreliable (it turns off doubled quotes): keep the excel rules
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise BadFile(f'"{filename}" is empty. {HELP}')
        _check_width(len(header), filename, max_columns)
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
    except csv.Error as exc:
        raise BadFile(f'"{filename}" line {reader.line_num} cannot be read as CSV: {exc}.',
                      line=reader.line_num) from None
    columns, rows, notes = _tidy(header, rows, unquote=True)
    return ParsedTable(filename, "csv", columns, rows, encoding=encoding, delimiter=delimiter, notes=notes)


def _check_width(width: int, filename: str, max_columns: int) -> None:
    if width > max_columns:
        raise BadFile(f'"{filename}" has {width:,} columns; a table holds at most {max_columns:,}. '
                      "Remove the columns you do not need and upload it again.",
                      columns=width, limit=max_columns)


def _read_xlsx(data: bytes, filename: str, max_columns: int) -> ParsedTable:
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # what openpyxl raises, while opening or while streaming rows, for a zip that is not a sound workbook
    broken = (zipfile.BadZipFile, InvalidFileException, ParseError, KeyError, ValueError, TypeError,
              IndexError, AttributeError, OSError)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except broken as exc:
        raise BadFile(f'"{filename}" is a zip archive but not an Excel workbook (.xlsx) that can be read '
                      f"({type(exc).__name__}). {HELP}") from None
    try:
        sheets = book.worksheets
        if not sheets:
            raise BadFile(f'"{filename}" has no worksheet. {HELP}')
        sheet = book.active if book.active in sheets else sheets[0]
        notes = [f'Read the sheet "{sheet.title}"; {len(sheets) - 1} other sheet(s) were not imported.'
                 ] if len(sheets) > 1 else []
        raw: list[list[Any]] = []
        width = 0
        for values in sheet.iter_rows(values_only=True):
            row = [None if (isinstance(v, str) and not v.strip()) else v for v in values]
            while row and row[-1] is None:
                row.pop()
            if not row:
                continue
            width = max(width, len(row))
            _check_width(width, filename, max_columns)
            raw.append(row)
    except broken as exc:
        raise BadFile(f'"{filename}" is a damaged Excel workbook ({type(exc).__name__}: {exc}). {HELP}') from None
    finally:
        book.close()
    if not raw:
        raise BadFile(f'"{filename}" has no data in its first sheet. {HELP}')
    header = ["" if v is None else str(v) for v in raw[0]] + [""] * (width - len(raw[0]))
    rows = [r + [None] * (width - len(r)) for r in raw[1:]]
    columns, rows, more = _tidy(header, rows, unquote=False)
    return ParsedTable(filename, "xlsx", columns, rows, notes=notes + more)


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
