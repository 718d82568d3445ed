"""Exporting a table as CSV or XLSX, read page by page in row order.

CSV: a text cell starting with = + - @ TAB or CR gets a leading `'` (OWASP's advice against formula
injection), so a spreadsheet shows it as text instead of running it; numbers and booleans are written
plainly, so -5 stays a number. The importer takes the `'` off again, so a round trip keeps the value.
XLSX: text is always written as a string cell, never as a formula or an error value.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.errors import Invalid
from db.schemas import ColumnPublic, TablePublic

PAGE = 10_000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_CELL_MAX = 32_767
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


def neutralise(value: str) -> str:
    """A text cell made safe for spreadsheets: formula-looking text gets a leading `'`."""
    return "'" + value if value.startswith(FORMULA_START) else value


async def _pages(conn: AsyncConnection, table: TablePublic, fields: str,
                 params: dict[str, Any]) -> AsyncIterator[list[Any]]:
    """Rows in id order, a page at a time (keyset paging: each page is an index range scan)."""
    last = 0
    while True:
        rows = (await conn.execute(
            text(f"SELECT id, {fields} FROM records WHERE table_id = :t AND id > :last ORDER BY id LIMIT :n"),
            {**params, "t": table.id, "last": last, "n": PAGE},
        )).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if len(rows) < PAGE:
            return


STRUCTURED = ("multi_select", "json")


def _csv_cell(col: ColumnPublic) -> Any:
    """How one column's value becomes CSV text (see `_csv_field` for what Postgres hands over)."""
    if col.type in ("number", "boolean"):
        return lambda v: "" if v is None else v
    if col.type == "multi_select":
        return lambda v: "" if v is None else neutralise(", ".join(v) if isinstance(v, list) else str(v))
    if col.type == "json":
        return lambda v: "" if v is None else neutralise(json.dumps(v, ensure_ascii=False))
    return lambda v: "" if v is None else neutralise(v)


def _csv_field(i: int, col: ColumnPublic) -> str:
    # Postgres renders scalar cells as text (->>: strings bare, numbers and booleans in JSON spelling),
    # which skips decoding every row document; lists and JSON values come decoded (->)
    return f"data -> :c{i}" if col.type in STRUCTURED else f"data ->> :c{i}"


async def csv_chunks(conn: AsyncConnection, table: TablePublic) -> AsyncIterator[bytes]:
    """The table as UTF-8 CSV (with a BOM, so that Excel reads the accents right), page by page."""
    cols = table.columns
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([neutralise(c.name) for c in cols])
    yield "\ufeff".encode() + buf.getvalue().encode()
    fields = ", ".join(_csv_field(i, c) for i, c in enumerate(cols)) or "NULL"
    params = {f"c{i}": str(c.id) for i, c in enumerate(cols)}
    cells = [_csv_cell(c) for c in cols]
    async for page in _pages(conn, table, fields, params):
        buf.seek(0)
        buf.truncate()
        writer.writerows([[f(v) for f, v in zip(cells, row[1:])] for row in page])
        yield buf.getvalue().encode()


async def export_csv(conn: AsyncConnection, table: TablePublic) -> bytes:
    """The whole table as CSV bytes."""
    return b"".join([chunk async for chunk in csv_chunks(conn, table)])


def _xlsx_value(col: ColumnPublic, value: Any) -> Any:
    """A stored value in the form a spreadsheet cell should hold."""
    if value is None:
        return None
    if col.type == "date" and isinstance(value, str):
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
            moment = dt.datetime.fromisoformat(value)
            return moment if moment.tzinfo is None else value  # Excel has no time zones: keep the text
        except ValueError:
            return value
    if col.type == "multi_select" and isinstance(value, list):
        return ", ".join(value)
    if col.type == "json" and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return value


async def export_xlsx(conn: AsyncConnection, table: TablePublic) -> bytes:
    """The whole table as an .xlsx workbook with one sheet; text never turns into a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(table.name))
    cols = table.columns
    plain = {"text", "long_text", "number", "boolean", "select", "url", "email"}

    def cell(value: Any, row: int | None, column: str) -> Any:
        if not isinstance(value, str):
            return value
        if len(value) > XLSX_CELL_MAX:
            where = f'Row {row}, column "{column[:40]}"' if row else f'The column name "{column[:40]}"'
            raise Invalid(f"{where} holds {len(value):,} characters; an Excel cell holds at most "
                          f"{XLSX_CELL_MAX:,}. Export as CSV instead.", limit=XLSX_CELL_MAX, row=row)
        if ILLEGAL_CHARACTERS_RE.search(value):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters are not allowed in the format
        if value.startswith("=") or value in ERROR_CODES:
            # openpyxl would write "=…" as a formula and "#N/A" as an error value: force a text cell
            forced = WriteOnlyCell(sheet, value=value)
            forced.data_type = "s"
            return forced
        return value

    def append(rows: list[Any]) -> None:
        for row in rows:
            sheet.append([cell(v if c.type in plain else _xlsx_value(c, v), row[0], c.name)
                          for c, v in zip(cols, row[1:])])

    def save() -> bytes:
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    sheet.append([cell(c.name, None, c.name) for c in cols])
    fields = ", ".join(f"data -> :c{i}" for i in range(len(cols))) or "NULL"
    params = {f"c{i}": str(c.id) for i, c in enumerate(cols)}
    # openpyxl is slow pure Python: each page is written in a worker thread, one after the other,
    # so that a large export does not hold up the event loop (the chat shares it)
    async for page in _pages(conn, table, fields, params):
        await asyncio.to_thread(append, page)
    return await asyncio.to_thread(save)


def _sheet_title(name: str) -> str:
    """A worksheet title Excel accepts: at most 31 characters, none of []:*?/\\."""
    title = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'")[:31]
    return title or "Sheet1"


def export_filename(table: TablePublic, fmt: str) -> str:
    """A safe download name for the table: letters, digits, spaces, dashes and underscores."""
    stem = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in table.name).strip() or "table"
    return f"{stem[:100]}.{fmt}"
