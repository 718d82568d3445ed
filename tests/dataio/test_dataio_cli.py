"""`tablechat import FILE` and `tablechat export TABLE`, run as the command runs them: in a new process."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook
from samples_dataio import png_bytes
from sqlalchemy import text

from db import accounts
from db.engine import transaction

ROOT = Path(__file__).resolve().parents[2]
# `cli.main` gets the commands through `register`; until it calls it, this driver does
DRIVER = """
import argparse, sys
from cli import main as m
from cli.io_commands import register
build = m.build_parser
def build_parser():
    parser = build()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "import" not in sub.choices:
        register(sub)
    return parser
m.build_parser = build_parser
sys.exit(m.main(sys.argv[1:]))
"""


def tablechat(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=cwd, env=env, capture_output=True,
                          timeout=120, check=False)


async def test_import_then_export_by_name(database_url, engine, unique, tmp_path):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"cli{unique}", password="secret-pw")
    src = tmp_path / "team scores.csv"
    src.write_text("Name,Points,Formula\nAda,3,=HYPERLINK(\"http://x\";\"y\")\nBob,4.5,plain\n", encoding="cp1252")

    done = tablechat("import", str(src), "--user", f"cli{unique}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    table_id, rows, name = done.stdout.decode().strip().split("\t")
    assert (rows, name) == ("2 rows", "Team scores")
    async with transaction(acc, engine=engine) as conn:
        owner = (await conn.execute(text("SELECT w.owner_id FROM data_tables t JOIN workspaces w "
                                         "ON w.id = t.workspace_id WHERE t.id = :t"), {"t": table_id})).scalar_one()
    assert owner == acc

    out = tablechat("export", "TEAM SCORES", "--user", f"cli{unique}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr.decode()
    assert list(csv.reader(io.StringIO(out.stdout.decode("utf-8-sig")))) == [
        ["Name", "Points", "Formula"], ["Ada", "3", "'=HYPERLINK(\"http://x\";\"y\")"], ["Bob", "4.5", "plain"]]

    out = tablechat("export", table_id, "--user", f"cli{unique}", "-o", "scores.xlsx", cwd=tmp_path)
    assert out.returncode == 0, out.stderr.decode()
    assert "wrote 2 rows" in out.stderr.decode()
    sheet = load_workbook(tmp_path / "scores.xlsx").active
    assert [c.value for c in sheet[2]] == ["Ada", 3, "=HYPERLINK(\"http://x\";\"y\")"]
    assert sheet["C2"].data_type == "s"


async def test_bad_file_and_unknown_table_fail_clearly(database_url, engine, unique, tmp_path):
    async with transaction(None, engine=engine) as conn:
        await accounts.create_account(conn, name=f"clb{unique}", password="secret-pw")
    photo = tmp_path / "photo.csv"
    photo.write_bytes(png_bytes())
    done = tablechat("import", str(photo), "--user", f"clb{unique}", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == b""
    assert 'error: "photo.csv" is a PNG file' in done.stderr.decode()

    done = tablechat("export", "Nope", "--user", f"clb{unique}", cwd=tmp_path)
    assert done.returncode == 1 and f"clb{unique} has no table 'Nope'" in done.stderr.decode()
    done = tablechat("import", str(tmp_path / "missing.csv"), cwd=tmp_path)
    assert done.returncode == 1 and "no file" in done.stderr.decode()
    done = tablechat("export", "x", "--user", f"nobody{unique}", cwd=tmp_path)
    assert done.returncode == 1 and f"No user 'nobody{unique}'" in done.stderr.decode()


async def test_default_user_is_the_first_account(database_url, engine, tmp_path):
    src = tmp_path / "defaults.csv"
    src.write_text("A\n1\n")
    done = tablechat("import", str(src), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    table_id = done.stdout.decode().split("\t")[0]
    async with transaction(None, engine=engine) as conn:
        first, owner = (await conn.execute(text(
            "SELECT (SELECT id FROM accounts ORDER BY created_at, name LIMIT 1), w.owner_id FROM data_tables t "
            "JOIN workspaces w ON w.id = t.workspace_id WHERE t.id = :t"), {"t": table_id})).one()
    assert owner == first


async def test_import_into_a_table_queues_its_ai_cells(database_url, engine, unique, tmp_path):
    from db import tables
    from db.schemas import AiConfig, ColumnCreate

    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"cli{unique}", password="secret-pw")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    async with transaction(acc, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=ws["id"], name="Leads", columns=[
            ColumnCreate(name="Company", type="text"),
            ColumnCreate(name="Pitch", type="text", ai=AiConfig(prompt="A pitch for {Company}"))])
    src = tmp_path / "leads.csv"
    src.write_text("Company,Pitch\nAcme,\nBolt,Written by hand\n")
    done = tablechat("import", str(src), "--into", "leads", "--user", f"cli{unique}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == f"{table.id}\t2 added, 0 updated, 0 unchanged\tLeads"
    assert "1 AI fill job queued" in done.stderr.decode()
    pitch = str(table.columns[1].id)
    async with transaction(acc, engine=engine) as conn:
        cells = (await conn.execute(text(
            "SELECT r.meta -> :c AS m, j.total FROM records r LEFT JOIN jobs j ON j.id::text = r.meta -> :c ->> 'j' "
            "WHERE r.table_id = :t ORDER BY r.id"), {"t": table.id, "c": pitch})).all()
    assert [(c.m["s"], c.m.get("p"), c.total) for c in cells] == [("pending", None, 1), ("completed", True, None)]

    src.write_text("Company,Pitch\nAcme,Now by hand too\nCog,\n")
    done = tablechat("import", str(src), "--into", str(table.id), "--key", "Company", "--user", f"cli{unique}",
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert "1 added, 1 updated, 0 unchanged" in done.stdout.decode()

    done = tablechat("import", str(src), "--into", "Leads", "--name", "X", "--user", f"cli{unique}", cwd=tmp_path)
    assert done.returncode == 1 and "--name names a new table" in done.stderr.decode()
    done = tablechat("import", str(src), "--key", "Company", "--user", f"cli{unique}", cwd=tmp_path)
    assert done.returncode == 1 and "give the table with --into" in done.stderr.decode()
    done = tablechat("import", str(src), "--into", "Nope", "--user", f"cli{unique}", cwd=tmp_path)
    assert done.returncode == 1 and f"cli{unique} has no table 'Nope'" in done.stderr.decode()
