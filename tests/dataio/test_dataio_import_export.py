"""Import into new and existing tables, and export, on real PostgreSQL: round trips keep values and
types, failures leave nothing behind, exported formulas are inert."""

import csv
import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from dataio.export import export_csv, export_xlsx
from dataio.importer import import_into_table, import_new_table
from dataio.infer import plan_import
from dataio.read import read_table_file
from db import records, tables
from db.engine import transaction
from db.errors import Invalid
from db.schemas import ColumnCreate

MIXED = (
    "Name,Age,Score,Member,Joined,Status,Website,Email,Zip,Bio,Formula\n"
    + "".join(
        f'Person {i},{20 + i},{i * 1.25},{"yes" if i % 2 else "no"},2024-01-{i + 1:02d},'
        f'{["Open", "Closed", "Pending"][i % 3]},https://p{i}.example.com/about,p{i}@example.com,0{i}123,'
        f'"Line {i}\nline two, with a comma and ""quotes""",{"=1+2" if i == 0 else "-minus" if i == 1 else f"@at{i}"}\n'
        for i in range(12)
    )
)
EXPECTED_TYPES = [("Name", "text"), ("Age", "number"), ("Score", "number"), ("Member", "boolean"),
                  ("Joined", "date"), ("Status", "select"), ("Website", "url"), ("Email", "email"),
                  ("Zip", "text"), ("Bio", "long_text"), ("Formula", "text")]


async def _rows(conn, table):
    page = await records.list_records(conn, table, limit=1000)
    return [{c.name: r.cells[str(c.id)].value for c in table.columns} for r in page.items]


async def _table_names(engine, owner):
    async with transaction(owner.id, engine=engine) as conn:
        return [t.name for t in await tables.list_tables(conn)]


async def test_csv_round_trip_keeps_values_and_types(engine, owner):
    parsed = read_table_file(MIXED.encode(), "people.csv")
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_new_table(conn, owner.workspace_id, parsed)
        assert result.table.name == "People" and result.added == 12
        assert [(c.name, c.type) for c in result.table.columns] == EXPECTED_TYPES
        stored = await _rows(conn, result.table)
        out = await export_csv(conn, result.table)
    assert stored[1]["Age"] == 21 and stored[1]["Score"] == 1.25 and stored[1]["Member"] is True
    assert stored[0]["Zip"] == "00123" and stored[0]["Formula"] == "=1+2"
    assert stored[0]["Bio"] == 'Line 0\nline two, with a comma and "quotes"'

    again = plan_import(read_table_file(out, "people.csv"))
    assert [(c.name, c.type) for c in again.columns] == EXPECTED_TYPES
    assert [list(r) for r in again.rows()] == [[row[c] for c, _ in EXPECTED_TYPES] for row in stored]
    assert again.columns[5].options == ["Open", "Closed", "Pending"]


async def test_csv_export_neutralises_formulas(engine, owner):
    parsed = read_table_file(
        b'Label,Amount\n"=HYPERLINK(""http://x"",""y"")",-5\n+cmd,3\n@SUM(A1),-1.5\n-2+3,0\n\tTab,1\nplain,2\n',
        "evil.csv")
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_new_table(conn, owner.workspace_id, parsed)
        out = await export_csv(conn, result.table)
    assert out.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"))))
    assert rows[0] == ["Label", "Amount"]
    labels = [r[0] for r in rows[1:]]
    assert labels == ["'=HYPERLINK(\"http://x\",\"y\")", "'+cmd", "'@SUM(A1)", "'-2+3", "'\tTab", "plain"]
    assert [r[1] for r in rows[1:]] == ["-5", "3", "-1.5", "0", "1", "2"]  # numbers stay numbers
    assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for r in rows[1:] for cell in r[:1])


def _workbook(rows) -> bytes:
    """An .xlsx file; formula-looking text is stored as text, as a spreadsheet app stores typed text."""
    book = Workbook()
    for row in rows:
        book.active.append(row)
    for row in book.active.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(("=", "#")):
                cell.data_type = "s"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


async def test_xlsx_round_trip_keeps_values_and_types(engine, owner):
    rows = [["Name", "Count", "Price", "Paid", "Due", "Site", "Note"]]
    for i in range(12):
        rows.append([f"Item {i}", i, i + 0.5, i % 2 == 0, dt.datetime(2024, 5, i + 1), f"https://s{i}.example.org",
                     "=HYPERLINK(\"http://x\",\"y\")" if i == 3 else ("#N/A" if i == 4 else None)])
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_new_table(conn, owner.workspace_id, read_table_file(_workbook(rows), "items.xlsx"),
                                        "Items")
        types = [(c.name, c.type) for c in result.table.columns]
        stored = await _rows(conn, result.table)
        out = await export_xlsx(conn, result.table)
    assert types == [("Name", "text"), ("Count", "number"), ("Price", "number"), ("Paid", "boolean"),
                     ("Due", "date"), ("Site", "url"), ("Note", "text")]
    assert stored[3]["Due"] == "2024-05-04" and stored[3]["Paid"] is False and stored[3]["Price"] == 3.5

    book = load_workbook(io.BytesIO(out))
    sheet = book.active
    assert sheet.title == "Items"
    got = [[c.value for c in r] for r in sheet.iter_rows()]
    assert got[0] == rows[0]
    assert got[4][:4] == ["Item 3", 3, 3.5, False] and got[4][4] == dt.datetime(2024, 5, 4)
    hyperlink = sheet.cell(row=5, column=7)
    assert hyperlink.value == "=HYPERLINK(\"http://x\",\"y\")" and hyperlink.data_type == "s"
    assert sheet.cell(row=6, column=7).data_type == "s"  # "#N/A" stays text, not an error value
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml  # no formula anywhere in the file

    again = plan_import(read_table_file(out, "items.xlsx"))
    assert [(c.name, c.type) for c in again.columns] == types
    assert [list(r) for r in again.rows()] == [[row[n] for n, _ in types] for row in stored]


async def test_failure_midway_leaves_no_table_and_no_rows(engine, owner):
    from bench import imports as bench

    parsed = read_table_file(bench.make_csv(25_000), "half.csv")
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 20_000:
            raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        async with transaction(owner.id, engine=engine) as conn:
            await import_new_table(conn, owner.workspace_id, parsed, "Half", progress=progress)
    assert seen == [0, 10_000, 20_000]
    assert "Half" not in await _table_names(engine, owner)
    async with transaction(None, engine=engine) as conn:
        left = (await conn.execute(text("SELECT count(*) FROM records WHERE workspace_id = :w"),
                                   {"w": owner.workspace_id})).scalar_one()
    assert left == 0


async def test_progress_is_reported_from_zero_to_total(engine, owner):
    from bench import imports as bench

    parsed = read_table_file(bench.make_csv(23_000), "p.csv")
    seen = []
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_new_table(conn, owner.workspace_id, parsed, progress=lambda d, t: seen.append((d, t)))
        assert await records.count_records(conn, result.table.id) == 23_000
    assert seen == [(0, 23_000), (10_000, 23_000), (20_000, 23_000), (23_000, 23_000)]


async def _tasks(engine, owner):
    async with transaction(owner.id, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=owner.workspace_id, name="Tasks", columns=[
            ColumnCreate(name="Code", type="text", required=True),
            ColumnCreate(name="Points", type="number"),
            ColumnCreate(name="Status", type="select", options=["Open", "Done"]),
            ColumnCreate(name="Tags", type="multi_select", options=["ui", "db"]),
            ColumnCreate(name="Extra", type="json"),
        ])
        await records.create_records(conn, table, [
            {"Code": "A1", "Points": 1, "Status": "Open"}, {"Code": "B2", "Points": 2, "Status": "Open"}])
    return table


async def test_import_adds_rows_to_an_existing_table(engine, owner):
    table = await _tasks(engine, owner)
    data = b'code,Points,Status,Tags,Extra\nC3,3,done,"ui, db","{""k"": [1, 2]}"\nD4,,,,\n'
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_into_table(conn, table, read_table_file(data, "more.csv"))
        rows = await _rows(conn, table)
    assert (result.added, result.updated) == (2, 0)
    assert rows[2:] == [{"Code": "C3", "Points": 3, "Status": "Done", "Tags": ["ui", "db"], "Extra": {"k": [1, 2]}},
                        {"Code": "D4", "Points": None, "Status": None, "Tags": None, "Extra": None}]


async def test_import_updates_rows_matched_on_a_key_column(engine, owner):
    table = await _tasks(engine, owner)
    data = b"Code,Points,Status\nB2,20,Done\nA1,1,\nE5,5,Open\n"
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_into_table(conn, table, read_table_file(data, "upd.csv"), key_column="code",
                                         account_id=owner.id)
        rows = await _rows(conn, table)
        page = await records.list_records(conn, table)
        audit = (await conn.execute(text("SELECT source, old_value, new_value FROM cell_edits WHERE table_id = :t "
                                         "ORDER BY id"), {"t": table.id})).all()
    assert (result.added, result.updated, result.unchanged) == (1, 1, 1)
    assert rows == [
        {"Code": "A1", "Points": 1, "Status": "Open", "Tags": None, "Extra": None},  # empty cell: left as it was
        {"Code": "B2", "Points": 20, "Status": "Done", "Tags": None, "Extra": None},
        {"Code": "E5", "Points": 5, "Status": "Open", "Tags": None, "Extra": None},
    ]
    points = str(table.columns[1].id)
    assert page.items[1].cells[points].version == 1 and page.items[0].cells[points].version == 0
    assert sorted(((a.old_value, a.new_value) for a in audit), key=str) == [("Open", "Done"), (2, 20)]
    assert {a.source for a in audit} == {"import"}


@pytest.mark.parametrize("data, key, message", [
    (b"Code,Points,Colour\nA1,1,red\n", None, "does not: Colour"),
    (b"Code,Points\nA1,lots\n", None, 'Row 1 of the file: Bad value \'lots\' for column "Points"'),
    (b"Code,Points\n,1\n", None, 'no value for the required column "Code"'),
    (b"Code,Points\nX,1\nX,2\n", "Code", 'The key "X" appears twice in the file'),
    (b"Points\n1\n", "Code", 'key column "Code" is not among'),
    (b"Code,Status\nA1,Maybe\n", "Code", "not one of the options"),
])
async def test_bad_rows_import_nothing(engine, owner, data, key, message):
    table = await _tasks(engine, owner)
    with pytest.raises(Invalid) as err:
        async with transaction(owner.id, engine=engine) as conn:
            await import_into_table(conn, table, read_table_file(data, "bad.csv"), key_column=key)
    assert message in err.value.message
    async with transaction(owner.id, engine=engine) as conn:
        assert [r["Code"] for r in await _rows(conn, table)] == ["A1", "B2"]


async def test_key_that_matches_two_rows_is_refused(engine, owner):
    table = await _tasks(engine, owner)
    async with transaction(owner.id, engine=engine) as conn:
        await records.create_records(conn, table, [{"Code": "A1", "Points": 9}])
    with pytest.raises(Invalid) as err:
        async with transaction(owner.id, engine=engine) as conn:
            await import_into_table(conn, table, read_table_file(b"Code,Points\nA1,5\n", "k.csv"), key_column="Code")
    assert "matches 2 rows" in err.value.message


async def test_export_of_an_empty_table_and_of_structured_cells(engine, owner):
    table = await _tasks(engine, owner)
    async with transaction(owner.id, engine=engine) as conn:
        await records.create_records(conn, table, [{"Code": "=X", "Tags": ["db", "ui"], "Extra": {"a": "b"}}])
        out = (await export_csv(conn, table)).decode("utf-8-sig")
        empty = await tables.create_table(conn, workspace_id=owner.workspace_id, name="Nothing",
                                          columns=[ColumnCreate(name="A")])
        assert (await export_csv(conn, empty)).decode("utf-8-sig") == "A\n"
        assert load_workbook(io.BytesIO(await export_xlsx(conn, empty))).active["A1"].value == "A"
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[3] == ["'=X", "", "", "db, ui", '{"a": "b"}']


async def test_widest_file_imports_every_column(engine, owner):
    header = ",".join(f"c{i}" for i in range(1000))
    rows = "".join(",".join(str(i * r) if (i + r) % 7 else "" for i in range(1000)) + "\n" for r in range(1, 4))
    async with transaction(owner.id, engine=engine) as conn:
        result = await import_new_table(conn, owner.workspace_id, read_table_file(f"{header}\n{rows}".encode(), "w.csv"))
        stored = await _rows(conn, result.table)
    assert len(result.table.columns) == 1000 and result.added == 3
    assert stored[1]["c998"] == 1996 and stored[1]["c999"] is None and stored[1]["c5"] is None and stored[2]["c500"] == 1500
    assert all(len([v for v in row.values() if v is not None]) == sum(1 for i in range(1000) if (i + r) % 7)
               for r, row in enumerate(stored, start=1))


async def test_benchmark_runs_and_leaves_nothing_behind(engine):
    from bench.imports import bench_import_100k

    async with transaction(None, engine=engine) as conn:
        before = (await conn.execute(text("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM records), "
                                          "(SELECT count(*) FROM changes)"))).one()
    result = await bench_import_100k(engine, rows=3000)
    assert set(result) == {"import_100k_s", "export_100k_s"} and all(v > 0 for v in result.values())
    async with transaction(None, engine=engine) as conn:
        after = (await conn.execute(text("SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM records), "
                                         "(SELECT count(*) FROM changes)"))).one()
    assert after == before


async def test_xlsx_export_refuses_a_cell_excel_cannot_hold(engine, owner):
    async with transaction(owner.id, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=owner.workspace_id, name="Long",
                                          columns=[ColumnCreate(name="Body", type="long_text")])
        (rid,) = await records.create_records(conn, table, [{"Body": "x" * 40_000}])
        with pytest.raises(Invalid) as err:
            await export_xlsx(conn, table)
        assert f'Row {rid}, column "Body" holds 40,000 characters' in err.value.message
        assert len((await export_csv(conn, table)).decode("utf-8-sig")) > 40_000  # CSV has no such limit
        await records.create_records(conn, table, [{"Body": "bell\x07 and tab\t"}])
        await records.delete_records(conn, table.id, [rid])
        sheet = load_workbook(io.BytesIO(await export_xlsx(conn, table))).active
    assert sheet["A2"].value == "bell and tab\t"  # control characters the format forbids are dropped
