"""`tablechat import FILE` and `tablechat export TABLE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `import` and `export` commands to the `tablechat` parser's subcommands."""
    imp = subparsers.add_parser("import", help="create a table from a CSV or XLSX file")
    imp.add_argument("file", help="a .csv (comma, semicolon or tab separated) or .xlsx file")
    imp.add_argument("--name", help="table name (default: from the file name)")
    imp.add_argument("--user", help="the account that owns the table (default: the first account)")
    imp.set_defaults(fn=cmd_import)

    exp = subparsers.add_parser("export", help="write a table as CSV or XLSX")
    exp.add_argument("table", help="the table's id or name")
    exp.add_argument("--format", choices=("csv", "xlsx"), help="default: from -o's suffix, else csv")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.add_argument("--user", help="whose table (default: the first account)")
    exp.set_defaults(fn=cmd_export)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


async def _account(conn: Any, name: str | None) -> dict[str, Any]:
    """The named account, or the first one created; ServiceError when there is none."""
    from sqlalchemy import text

    from db import accounts
    from db.errors import NotFound

    if name:
        found = await accounts.account_by_name(conn, name)
        if found is None:
            raise NotFound(f"No user {name!r} (create one with `tablechat user add NAME --password PW`)")
        return found
    row = (await conn.execute(text("SELECT id, name FROM accounts ORDER BY created_at, name LIMIT 1"))).first()
    if row is None:
        raise NotFound("There is no user yet: create one with `tablechat user add NAME --password PW`")
    return {"id": row.id, "name": row.name}


def _progress(done: int, total: int) -> None:
    if total >= 10_000 and sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\rimporting: {done:,} of {total:,} rows", end=end, file=sys.stderr, flush=True)


def cmd_import(args: argparse.Namespace) -> int:
    """Read the file first (a bad file is refused before the database is touched), then import it."""
    from cli.main import _run_db
    from dataio.importer import import_new_table
    from dataio.infer import plan_import
    from dataio.read import read_table_file
    from db import accounts
    from db.engine import act_as
    from db.errors import ServiceError

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"no file {args.file!r}")
    try:
        parsed = read_table_file(path)
        plan = plan_import(parsed)
    except ServiceError as exc:
        return _fail(exc.message)

    async def run(conn: Any) -> Any:
        account = await _account(conn, args.user)
        workspace = await accounts.default_workspace(conn, account["id"])
        await act_as(conn, account["id"])  # the rest runs under row-level security, as that user
        return await import_new_table(conn, workspace["id"], parsed, args.name, plan=plan, progress=_progress)

    try:
        result = _run_db(run)
    except ServiceError as exc:
        return _fail(exc.message)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{result.table.id}\t{result.added} rows\t{result.table.name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Find the table by id or name among the user's tables and write it out."""
    from cli.main import _run_db
    from dataio.export import export_csv, export_xlsx
    from db import tables
    from db.engine import act_as
    from db.errors import Invalid, NotFound, ServiceError

    fmt = args.format or ("xlsx" if args.output and args.output.lower().endswith(".xlsx") else "csv")
    if not args.output and fmt == "xlsx" and sys.stdout.isatty():
        return _fail("an XLSX file is binary: write it to a file with -o FILE.xlsx")

    async def run(conn: Any) -> tuple[Any, bytes]:
        account = await _account(conn, args.user)
        await act_as(conn, account["id"])
        mine = await tables.list_tables(conn)
        matches = [t for t in mine if str(t.id) == args.table] or [
            t for t in mine if t.name.casefold() == args.table.strip().casefold()]
        if not matches:
            raise NotFound(f"{account['name']} has no table {args.table!r}")
        if len(matches) > 1:
            raise Invalid(f"{len(matches)} tables are named {args.table!r}; give the id of one: "
                          + ", ".join(str(t.id) for t in matches))
        table = await tables.get_table(conn, matches[0].id)
        body = await (export_xlsx(conn, table) if fmt == "xlsx" else export_csv(conn, table))
        return matches[0], body

    try:
        summary, body = _run_db(run)
    except ServiceError as exc:
        return _fail(exc.message)
    if args.output and args.output != "-":
        Path(args.output).write_bytes(body)
        print(f"wrote {summary.row_count} rows of {summary.name!r} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
