"""`tablechat import FILE` and `tablechat export TABLE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.common import run_db


def register(subparsers: Any) -> None:
    """Add the `import` and `export` commands to the `tablechat` parser's subcommands."""
    imp = subparsers.add_parser("import", help="create a table from a CSV or XLSX file, or add its rows to one")
    imp.add_argument("file", help="a .csv (comma, semicolon or tab separated) or .xlsx file")
    imp.add_argument("--name", help="table name (default: from the file name)")
    imp.add_argument("--into", metavar="TABLE", help="add the rows to this table (id or name) instead; "
                     "file columns match its columns by name, and its AI columns are filled for the new rows")
    imp.add_argument("--key", metavar="COLUMN", help="with --into: update the rows whose value in COLUMN "
                     "matches the file's, adding the others")
    imp.add_argument("--user", help="the account that owns the table (default: the first account)")
    imp.add_argument("--workspace", metavar="NAME", help="the user's workspace to put a new table in (default: "
                                                         "their most recently used); with --into: where to find TABLE")
    imp.set_defaults(fn=cmd_import)

    exp = subparsers.add_parser("export", help="write a table as CSV or XLSX")
    exp.add_argument("table", help="the table's id or name")
    exp.add_argument("--format", choices=("csv", "xlsx"), help="default: from -o's suffix, else csv")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.add_argument("--user", help="whose table (default: the first account)")
    exp.add_argument("--workspace", metavar="NAME", help="look for TABLE in this workspace of the user only")
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


async def _workspace(conn: Any, account: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    """The account's workspace named `name` (or with that id); None when no name is given."""
    from db import workspaces
    from db.errors import NotFound

    if not name:
        return None
    mine = await workspaces.list_mine(conn, account["id"])
    found = next((w for w in mine if w["name"] == name.strip() or str(w["id"]) == name.strip()), None)
    if found is None:
        raise NotFound(f"{account['name']} has no workspace {name!r}; theirs: " + ", ".join(w["name"] for w in mine))
    return found


async def _find_table(conn: Any, account: dict[str, Any], ref: str, workspace: str | None = None) -> Any:
    """One of the account's tables by id or name (run as the account), in `workspace` when given;
    ServiceError when none or several."""
    from db import tables
    from db.errors import Invalid, NotFound

    where = await _workspace(conn, account, workspace)
    mine = await tables.list_tables(conn, workspace_id=where["id"] if where else None)
    matches = [t for t in mine if str(t.id) == ref] or [
        t for t in mine if t.name.casefold() == ref.strip().casefold()]
    if not matches:
        raise NotFound(f"{account['name']} has no table {ref!r}")
    if len(matches) > 1:
        raise Invalid(f"{len(matches)} tables are named {ref!r}; give the id of one: "
                      + ", ".join(str(t.id) for t in matches))
    return matches[0]


def cmd_import(args: argparse.Namespace) -> int:
    """Read the file first (a bad file is refused before the database is touched), then import it."""
    from dataio.importer import import_new_table
    from dataio.infer import plan_import
    from dataio.read import read_table_file
    from db import accounts, workspaces
    from db.engine import act_as
    from db.errors import ServiceError

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"no file {args.file!r}")
    if args.into and args.name:
        return _fail("--name names a new table; with --into the rows go to an existing one")
    if args.key and not args.into:
        return _fail("--key updates rows of an existing table: give the table with --into")
    try:
        parsed = read_table_file(path)
        plan = None if args.into else plan_import(parsed)
    except ServiceError as exc:
        return _fail(exc.message)
    if args.into:
        return _import_into(args, parsed)

    async def run(conn: Any) -> Any:
        account = await _account(conn, args.user)
        workspace = await _workspace(conn, account, args.workspace) or await accounts.default_workspace(
            conn, account["id"])
        await act_as(conn, account["id"])  # the rest runs under row-level security, as that user
        await workspaces.require_writer(conn, workspace["id"])
        return await import_new_table(conn, workspace["id"], parsed, args.name, plan=plan, progress=_progress)

    result = _run_import(run)
    if result is None:
        return 1
    print(f"{result.table.id}\t{result.added} rows\t{result.table.name}")
    return 0


def _run_import(run: Any) -> Any:
    """Run an import in one transaction and print its notes; None (the error printed) when refused."""
    from db.errors import ServiceError

    try:
        result = run_db(run)
    except ServiceError as exc:
        _fail(exc.message)
        return None
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return result


def _import_into(args: argparse.Namespace, parsed: Any) -> int:
    """`import FILE --into TABLE [--key COLUMN]`: the rows go into the table in one transaction; the AI
    cells of new rows are queued (the workers fill them), those reading updated cells turn stale."""
    from dataio.importer import import_into_table
    from db import tables
    from db.engine import act_as

    async def run(conn: Any) -> Any:
        account = await _account(conn, args.user)
        await act_as(conn, account["id"])
        found = await _find_table(conn, account, args.into, args.workspace)
        table = await tables.get_table(conn, found.id)
        return await import_into_table(conn, table, parsed, args.key, account_id=account["id"], progress=_progress)

    result = _run_import(run)
    if result is None:
        return 1
    if result.jobs:
        print(f"note: {len(result.jobs)} AI fill job{'s' if len(result.jobs) != 1 else ''} queued for the new "
              f"rows ({', '.join(result.jobs)}); a running `tablechat worker` fills them", file=sys.stderr)
    print(f"{result.table.id}\t{result.added} added, {result.updated} updated, {result.unchanged} unchanged"
          f"\t{result.table.name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Find the table by id or name among the user's tables and write it out."""
    from dataio.export import export_csv, export_xlsx
    from db import tables
    from db.engine import act_as
    from db.errors import ServiceError

    fmt = args.format or ("xlsx" if args.output and args.output.lower().endswith(".xlsx") else "csv")
    if not args.output and fmt == "xlsx" and sys.stdout.isatty():
        return _fail("an XLSX file is binary: write it to a file with -o FILE.xlsx")

    async def run(conn: Any) -> tuple[Any, bytes]:
        account = await _account(conn, args.user)
        await act_as(conn, account["id"])
        found = await _find_table(conn, account, args.table, args.workspace)
        table = await tables.get_table(conn, found.id)
        body = await (export_xlsx(conn, table) if fmt == "xlsx" else export_csv(conn, table))
        return found, body

    try:
        summary, body = run_db(run)
    except ServiceError as exc:
        return _fail(exc.message)
    if args.output and args.output != "-":
        Path(args.output).write_bytes(body)
        print(f"wrote {summary.row_count} rows of {summary.name!r} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0
