"""Reading the first sheet of an XLSX workbook (a zip archive) into a header and rows, or refusing it.

The archive is checked before anything is decompressed: a damaged or truncated zip, a zip that is not
a workbook (no xl/workbook.xml: a .docx, a plain archive), and a zip bomb (more than the unzipped limit
in all, or one member expanding more than BOMB_RATIO times) are refused by name. Rows stream from the
sheet, so the row, column and cell-length limits stop a huge sheet early.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from dataio.limits import HELP, BadFile, ImportLimits, check_field, check_rows, check_width, mb

BOMB_RATIO = 250  # real sheets compress 5-50 times; deflate's ceiling is about 1,030
WORKBOOK = re.compile(r"(^|/)workbook\d*\.xml$", re.IGNORECASE)  # xl/workbook.xml, by every writer seen
BOMB_MIN = 10 * 1024 * 1024  # small members may compress as they like


def _check_archive(data: bytes, filename: str, limits: ImportLimits) -> None:
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadFile(f'"{filename}" is a damaged or incomplete zip archive (truncated?), not a readable Excel '
                      f"workbook ({exc}). Save it again from Excel and upload it again.") from None
    total = sum(i.file_size for i in infos)
    bomb = next((i for i in infos if i.file_size > BOMB_MIN and i.file_size > BOMB_RATIO * max(i.compress_size, 1)),
                None)
    if total > limits.max_unzipped_bytes or bomb is not None:
        raise BadFile(f'"{filename}" expands to {mb(total)} when unzipped ('
                      + (f"{bomb.filename} alone grows {bomb.file_size // max(bomb.compress_size, 1):,} times"
                         if bomb else f"at most {mb(limits.max_unzipped_bytes)} is read")
                      + "): it is refused as a zip bomb.", unzipped=total, limit=limits.max_unzipped_bytes)
    if not any(WORKBOOK.search(i.filename) for i in infos):
        raise BadFile(f'"{filename}" is a zip archive but not an Excel workbook (.xlsx): it has no '
                      f"xl/workbook.xml. {HELP}")


def read_xlsx(data: bytes, filename: str, limits: ImportLimits) -> tuple[list[str], list[list[Any]], list[str]]:
    """The header (text), the rows (padded to the header's width, cells in their native types) and notes."""
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_archive(data, filename, limits)
    # what openpyxl raises, while opening or while streaming rows, for a zip that is not a sound workbook
    broken = (zipfile.BadZipFile, InvalidFileException, ParseError, KeyError, ValueError, TypeError,
              IndexError, AttributeError, OSError)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except broken as exc:
        raise BadFile(f'"{filename}" is a damaged Excel workbook ({type(exc).__name__}: {exc}). {HELP}') from None
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
            check_width(width, filename, limits)
            for col, v in enumerate(row, start=1):
                if isinstance(v, str):
                    check_field(v, filename, f"row {len(raw) + 1}, column {col}", limits)
            raw.append(row)
            check_rows(len(raw) - 1, filename, limits)
    except broken as exc:
        raise BadFile(f'"{filename}" is a damaged Excel workbook ({type(exc).__name__}: {exc}). {HELP}') from None
    finally:
        book.close()
    if not raw:
        raise BadFile(f'"{filename}" has no data in its first sheet. {HELP}')
    header = ["" if v is None else str(v) for v in raw[0]] + [""] * (width - len(raw[0]))
    rows = [r + [None] * (width - len(r)) for r in raw[1:]]
    return header, rows, notes
