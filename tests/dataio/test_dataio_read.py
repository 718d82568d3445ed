"""Reading uploaded files: encodings, separators, headers, and a clear refusal of every bad file."""

import io
import os
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from samples_dataio import png_bytes

from dataio.infer import plan_import
from dataio.read import MAX_BYTES, BadFile, FileTooLarge, read_table_file
from db.coerce import coerce

PEOPLE = "Name,City,Note\nJosé,Zürich,crème brûlée\nZoë,Montréal,naïve façade\nFrançois,Besançon,€ 5\n"
PEOPLE_ROWS = [["José", "Zürich", "crème brûlée"], ["Zoë", "Montréal", "naïve façade"],
               ["François", "Besançon", "€ 5"]]


def test_utf8_plain():
    t = read_table_file(PEOPLE.encode(), "people.csv")
    assert t.format == "csv" and t.encoding == "utf-8" and t.delimiter == ","
    assert t.columns == ["Name", "City", "Note"] and t.rows == PEOPLE_ROWS


def test_windows_1252_with_accents_is_read_right():
    t = read_table_file(PEOPLE.encode("cp1252"), "people.csv")
    assert t.encoding == "cp1252" and t.rows == PEOPLE_ROWS


def test_latin1_with_accents_is_read_right():
    text = PEOPLE.replace("€ 5", "5 ¤")  # ¤ is where Latin-1 differs from Windows-1252
    t = read_table_file(text.encode("latin-1"), "people.csv")
    assert t.rows[:2] == PEOPLE_ROWS[:2] and t.rows[2][2] == "5 ¤"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_byte_order_marks(encoding):
    data = PEOPLE.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        data = "\ufeff".encode(encoding) + data
    t = read_table_file(data, "people.csv")
    assert t.columns == ["Name", "City", "Note"], t.columns  # no stray BOM in the first header
    assert t.rows == PEOPLE_ROWS


def test_utf16_without_bom_is_detected():
    t = read_table_file(PEOPLE.encode("utf-16-le"), "people.csv")
    assert t.rows == PEOPLE_ROWS


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_is_sniffed(sep):
    data = f'Name{sep}Price{sep}Note\nA{sep}1,5{sep}"x{sep} y, z"\nB{sep}2{sep}w\n'.encode()
    t = read_table_file(data, "prices.csv")
    assert t.delimiter == sep and t.columns == ["Name", "Price", "Note"]
    assert t.rows == [["A", "1,5", f"x{sep} y, z"], ["B", "2", "w"]]


def test_quotes_line_breaks_and_old_mac_line_ends():
    t = read_table_file(b'a,b\r"say ""hi""","two\nlines"\r3,4\r', "q.csv")
    assert t.rows == [['say "hi"', "two\nlines"], ["3", "4"]]


def test_single_column_file():
    t = read_table_file(b"Email\na@x.io\nb@x.io\n", "one.csv")
    assert t.columns == ["Email"] and t.rows == [["a@x.io"], ["b@x.io"]]


def test_short_row_is_refused_naming_the_line():
    with pytest.raises(BadFile) as err:
        read_table_file(b"a,b,c\n1,2,3\n\n4,5\n6,7,8\n", "ragged.csv")
    assert "line 4" in err.value.message and "2 fields" in err.value.message and "3" in err.value.message
    assert err.value.details["line"] == 4


def test_long_row_is_refused_naming_the_line():
    with pytest.raises(BadFile) as err:
        read_table_file(b"a,b\n1,2\n3,4,5\n", "ragged.csv")
    assert "line 3" in err.value.message and "3 fields" in err.value.message


def test_trailing_separators_and_blank_lines_are_tolerated():
    t = read_table_file(b"a,b,\n1,2,\n\n3,4,,\n", "trail.csv")
    assert t.columns == ["a", "b"] and t.rows == [["1", "2"], ["3", "4"]]
    assert any("no header and no values" in n for n in t.notes)


def test_duplicate_and_empty_headers_are_named():
    t = read_table_file(b"Name,name,,Name 2, Total \n1,2,3,4,5\n", "dups.csv")
    assert t.columns == ["Name", "name 3", "Column 3", "Name 2", "Total"]
    assert len({c.casefold() for c in t.columns}) == 5
    assert any('"Column 3"' in n for n in t.notes)


def test_ten_thousand_columns_are_refused():
    header = ",".join(f"c{i}" for i in range(10_000))
    with pytest.raises(BadFile) as err:
        read_table_file(f"{header}\n{','.join('1' * 10_000)}\n".encode(), "wide.csv")
    assert "10,000 columns" in err.value.message and "1,000" in err.value.message


def test_a_thousand_columns_are_fine():
    header = ",".join(f"c{i}" for i in range(1000))
    assert len(read_table_file(f"{header}\n{','.join('1' * 1000)}\n".encode(), "w.csv").columns) == 1000


def test_file_over_200_mb_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: nothing is written, and reading it would give NUL bytes
    with pytest.raises(FileTooLarge) as err:
        read_table_file(big)
    # a file that was read would have been refused as binary; this one never was
    assert err.value.status == 413 and "200 MB" in err.value.message
    assert err.value.details == {"size": MAX_BYTES + 1, "limit": MAX_BYTES}


def test_size_limit_boundary(tmp_path):
    data = b"a,b\n1,2\n"
    assert read_table_file(data, "x.csv", max_bytes=len(data)).rows == [["1", "2"]]
    with pytest.raises(FileTooLarge):
        read_table_file(data, "x.csv", max_bytes=len(data) - 1)
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    with pytest.raises(FileTooLarge):
        read_table_file(path, max_bytes=len(data) - 1)


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", "\ufeff".encode("utf-8"), "\ufeff".encode("utf-16")])
def test_empty_file_is_refused(data):
    with pytest.raises(BadFile) as err:
        read_table_file(data, "empty.csv")
    assert '"empty.csv" is empty' in err.value.message


def test_png_named_csv_is_refused(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(png_bytes())
    with pytest.raises(BadFile) as err:
        read_table_file(path)
    assert "PNG" in err.value.message and "photo.csv" in err.value.message


def test_binary_without_a_known_signature_is_refused():
    data = bytes(range(256)) * 40
    with pytest.raises(BadFile) as err:
        read_table_file(data, "blob.csv")
    assert "binary" in err.value.message


def test_stray_control_bytes_are_refused():
    with pytest.raises(BadFile):
        read_table_file(b"a,b\n" + b"\x01\x02\x03\x04\x05\x06\x07\x08,\x0e\x0f\x10\x11\x12\x13\x14\n", "c.csv")


def xlsx_bytes(rows, extra_sheet=False) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Data"
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        book.create_sheet("Other").append(["x"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_xlsx_is_read_by_content_with_native_types():
    import datetime as dt

    data = xlsx_bytes([["Name", "Score", "Done", "When", None], ["a", 1.5, True, dt.datetime(2024, 3, 1), None],
                       ["b", 2, False, None, None], [None, None, None, None, None]], extra_sheet=True)
    t = read_table_file(data, "sheet.csv")  # the name lies; the content decides
    assert t.format == "xlsx" and t.columns == ["Name", "Score", "Done", "When"]
    assert t.rows == [["a", 1.5, True, dt.datetime(2024, 3, 1)], ["b", 2, False, None]]
    assert any("Other" not in n and "1 other sheet" in n for n in t.notes)


def test_zip_that_is_not_a_workbook_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(BadFile) as err:
        read_table_file(buf.getvalue(), "archive.xlsx")
    assert "not an Excel workbook" in err.value.message


def test_old_xls_is_refused_with_advice():
    with pytest.raises(BadFile) as err:
        read_table_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(1024), "old.xls")
    assert ".xls" in err.value.message and "CSV" in err.value.message


def test_damaged_workbook_is_refused():
    whole = zipfile.ZipFile(io.BytesIO(xlsx_bytes([["a", "b"], [1, 2]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in whole.namelist():
            data = whole.read(name)
            z.writestr(name, data[: len(data) // 2] if name == "xl/worksheets/sheet1.xml" else data)
    with pytest.raises(BadFile) as err:
        read_table_file(out.getvalue(), "cut.xlsx")
    assert "damaged Excel workbook" in err.value.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=400),
    st.text(alphabet=st.sampled_from(list("ab1,;\t\"'\n\r =-.é\x00")), max_size=200).map(str.encode),
    st.lists(st.sampled_from(["a  b", "a b", " A b", "1", "x"]), min_size=10, max_size=30).map(
        lambda vals: ("H\n" + "\n".join(vals)).encode()),
    st.lists(st.lists(st.text(max_size=6), min_size=1, max_size=4), min_size=1, max_size=6).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-16")),
))
def test_any_bytes_give_a_table_or_a_clear_refusal(data):
    try:
        parsed = read_table_file(data, "fuzz.csv")
    except BadFile as exc:
        assert "fuzz.csv" in exc.message
        return
    assert parsed.columns and all(len(r) == len(parsed.columns) for r in parsed.rows)
    assert len({c.casefold() for c in parsed.columns}) == len(parsed.columns)
    plan = plan_import(parsed)
    assert all(len(c.values) == parsed.row_count for c in plan.columns)
    for col, create in zip(plan.columns, plan.column_creates(), strict=True):
        for value in col.values:
            if value is not None:
                assert coerce(create.model_dump(), value) == value


@pytest.mark.parametrize("data", [
    "ID3,Name\n1,José\n".encode("cp1252"),  # starts like an MP3 tag, and is not UTF-8
    b"BM,Name\n1,x\n",  # starts like a bitmap
    b"[Date],Name\n2024-01-01,x\n",  # starts like JSON
    "Name,City\nJosé,Zürich\n".encode("utf-16-le"),  # NUL bytes, as UTF-16 without a byte-order mark has them
])
def test_text_that_looks_like_something_else_at_first_is_still_a_table(data):
    t = read_table_file(data, "fine.csv")
    assert len(t.columns) == 2 and len(t.rows) == 1


def test_limits_are_settings(monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("TABLECHAT_IMPORT_MAX_ROWS", "2")
    monkeypatch.setenv("TABLECHAT_IMPORT_MAX_COLUMNS", "3")
    monkeypatch.setenv("TABLECHAT_IMPORT_MAX_FIELD_CHARS", "5")
    get_settings.cache_clear()
    try:
        assert read_table_file(b"a,b,c\n1,2,3\n4,5,6\n", "ok.csv").row_count == 2
        for data, says in ((b"a\n1\n2\n3\n", "more than 2 rows"), (b"a,b,c,d\n1,2,3,4\n", "4 columns"),
                           (b"a,b\n1,123456\n", "6 characters")):
            with pytest.raises(BadFile, match=says):
                read_table_file(data, "x.csv")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
