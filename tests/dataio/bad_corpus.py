"""A corpus of files that no import path may accept, generated here (no binaries are committed).

Each entry: file name → (bytes, a phrase the error message must contain). The message must also name the
file. Limits are the defaults of core.settings (the bombs are sized from them).
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import zipfile
import zlib
from functools import lru_cache

from openpyxl import Workbook
from samples_dataio import png_bytes

MB = 1024 * 1024


def xlsx(rows: list[list[object]], *, title: str = "Data") -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _rezip(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """A copy of a zip with some members replaced (None: left out)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in src.namelist():
            body = change.get(name, src.read(name))
            if body is not None:
                z.writestr(name, body)
        for name, body in change.items():
            if name not in src.namelist() and body is not None:
                z.writestr(name, body)
    return out.getvalue()


def _zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


def _deflated_repeat(head: bytes, unit: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + unit*times + tail without building it: a fully flushed segment decodes the
    same wherever it stands, so one compressed copy of `unit` is repeated. Returns (data, size, crc)."""
    def part(body: bytes) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(body) + c.flush(zlib.Z_FULL_FLUSH)

    seg = part(unit)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = part(head) + seg * times + last.compress(tail) + last.flush()
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(unit, crc)
    return data, len(head) + len(unit) * times + len(tail), zlib.crc32(tail, crc)


def _zip_raw(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of already deflated members (name, data, size, crc), written by hand (sizes < 4 GB)."""
    out, central = io.BytesIO(), []
    for name, data, size, crc in members:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0))
        out.write(raw + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                                   len(raw), 0, 0, 0, 0, 0, offset) + raw)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


def zip_bomb(expanded: int) -> bytes:
    """A zip (not a workbook) holding one file of `expanded` zero bytes."""
    data, size, crc = _deflated_repeat(b"", bytes(MB), expanded // MB + 1, b"")
    return _zip_raw([("zeros.csv", data, size, crc)])


def xlsx_bomb(expanded: int) -> bytes:
    """A sound workbook whose one sheet expands to more than `expanded` bytes of identical rows."""
    base = zipfile.ZipFile(io.BytesIO(xlsx([["A"], ["x"]])))
    head = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><sheetData>')
    unit = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20_000
    data, size, crc = _deflated_repeat(head, unit, expanded // len(unit) + 1, b"</sheetData></worksheet>")
    members = []
    for name in base.namelist():
        if name == "xl/worksheets/sheet1.xml":
            members.append((name, data, size, crc))
        else:
            body = base.read(name)
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            members.append((name, c.compress(body) + c.flush(), len(body), zlib.crc32(body)))
    return _zip_raw(members)


def _no_sheets() -> bytes:
    good = xlsx([["a"], [1]])
    book = zipfile.ZipFile(io.BytesIO(good)).read("xl/workbook.xml").decode()
    start, end = book.index("<sheets>"), book.index("</sheets>") + len("</sheets>")
    return _rezip(good, {"xl/workbook.xml": (book[:start] + "<sheets/>" + book[end:]).encode(),
                         "xl/worksheets/sheet1.xml": None})


def _laughs() -> bytes:
    lol = ['<!ENTITY l0 "lollollollollollollollollollol">'] + [
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    sheet = ('<?xml version="1.0"?><!DOCTYPE lolz [' + "".join(lol) + ']><worksheet xmlns="http://schemas.'
             'openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
             "&l9;</t></is></c></row></sheetData></worksheet>")
    return _rezip(xlsx([["a"], [1]]), {"xl/worksheets/sheet1.xml": sheet.encode()})


def _sheet_xlsx(cells: str) -> bytes:
    """A workbook whose sheet XML is written here, so it can hold what openpyxl would not write."""
    sheet = ('<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f"<sheetData>{cells}</sheetData></worksheet>")
    return _rezip(xlsx([["a"], [1]]), {"xl/worksheets/sheet1.xml": sheet.encode()})


def _inline(row: int, text: str) -> str:
    return f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>{text}</t></is></c></row>'


def _docx() -> bytes:
    return _zip_of({"[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    b'package/2006/content-types"/>', "word/document.xml": b"<w:document/>"})


def _pdf(binary: bool) -> bytes:
    body = (b"%PDF-1.4\n" + (b"%\xe2\xe3\xcf\xd3\n" if binary else b"") + b"1 0 obj << /Type /Catalog /Pages 2 0 R >> "
            b"endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    return body


@lru_cache
def bad_corpus() -> dict[str, tuple[bytes, str]]:
    from core.settings import Settings

    limits = Settings()
    rng = random.Random(7)
    wide = ",".join(f"c{i}" for i in range(limits.import_max_columns * 3))
    good = xlsx([["Name", "Score"], ["a", 1], ["b", 2]])
    return {
        # the file of the issue: 16 bytes that imported as an empty table
        "Bad.csv": (b"\x00\x01\x02PK\x03\x04garbage\xff\xfe", "binary"),
        "empty.csv": (b"", "is empty"),
        "blank.csv": (b"\r\n \n\t\n", "is empty"),
        "bom-only.csv": (b"\xef\xbb\xbf", "is empty"),
        "photo.csv": (png_bytes(), "PNG"),
        "photo.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(300), "JPG"),
        "anim.csv": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(range(256)), "GIF"),
        "report.pdf": (_pdf(True), "PDF"),
        "plain-text.pdf": (_pdf(False), "PDF"),
        "blob.csv": (bytes(range(256)) * 40, "binary"),
        "noise.csv": (rng.randbytes(8192), "binary"),
        "program.csv": (b"\x7fELF\x02\x01\x01\x00" + rng.randbytes(2000), "ELF"),
        "store.csv": (b"SQLite format 3\x00" + bytes(4080), "SQLITE"),
        "archive.xlsx": (_zip_of({"readme.txt": b"hello"}), "not an Excel workbook"),
        "nothing.zip": (b"PK\x05\x06" + bytes(18), "not an Excel workbook"),
        "letter.xlsx": (_docx(), "not an Excel workbook"),
        "data.csv.gz": (gzip.compress(b"a,b\n1,2\n", mtime=0), "GZ"),
        "bomb.zip": (zip_bomb(limits.import_max_unzipped_mb * MB), "expands to"),
        "bomb.xlsx": (xlsx_bomb(limits.import_max_unzipped_mb * MB), "expands to"),
        "laughs.xlsx": (_laughs(), "damaged Excel workbook"),
        "truncated.xlsx": (good[: len(good) // 2], "damaged or incomplete"),
        "cut-sheet.xlsx": (_rezip(good, {"xl/worksheets/sheet1.xml": zipfile.ZipFile(io.BytesIO(good)).read(
            "xl/worksheets/sheet1.xml")[:150]}), "damaged Excel workbook"),
        "no-sheets.xlsx": (_no_sheets(), "no worksheet"),
        "blank-sheet.xlsx": (xlsx([]), "no data"),
        "header-only.xlsx": (xlsx([["Name", "Score"]]), "no rows"),
        "wide.xlsx": (xlsx([[f"c{i}" for i in range(limits.import_max_columns + 1)], [1]]), "columns"),
        "huge-cell.xlsx": (_sheet_xlsx(_inline(1, "Note") + _inline(2, "x" * (limits.import_max_field_chars + 1))),
                           "characters"),
        "old.xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old-style Excel"),
        "huge-field.csv": (b"Name,Note\nAda," + b"y" * (limits.import_max_field_chars + 1) + b"\n", "characters"),
        "wide.csv": (f"{wide}\n{','.join(['1'] * limits.import_max_columns * 3)}\n".encode(), "columns"),
        "header-only.csv": (b"Name,Email,Phone\n", "no rows"),
        "too-many-rows.csv": (b"N\n" + b"1\n" * (limits.import_max_rows + 1), "rows"),
        "mixed-encodings.csv": ("Name,City\nJosé,Zürich\n".encode() + "Zoë,Besançon\n".encode("cp1252"), "encodings"),
        "nul-bytes.csv": (b"Name,City\nAda,Paris\x00\nBob,Rome\n", "NUL"),
        "control-chars.csv": (b"a,b\n" + b"\x01\x02\x03\x04\x05\x06\x07\x08,\x0e\x0f\x10\x11\x12\x13\x14\n",
                              "binary"),
        "bad-utf16.csv": (b"\xff\xfe" + "a,b\n".encode("utf-16-le") + b"\x00\xd8", "UTF-16"),
        "ragged.csv": (b"a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields"),
        "unclosed-quote.csv": (b'a,b\n"1,2\n3,4\n', "quote"),
        "page.csv": (b"<!DOCTYPE html>\n<html><body><table><tr><td>a</td></tr></table></body></html>\n", "HTML"),
        "drawing.csv": (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>\n', "XML"),
        "data.csv": (b'[{"name": "Ada", "score": 3}, {"name": "Bob", "score": 4}]\n', "JSON"),
        "memo.csv": (b"{\\rtf1\\ansi{\\fonttbl\\f0\\fswiss Helvetica;}\\f0\\pard Hello}\n", "RTF"),
    }
