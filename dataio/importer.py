"""Importing a parsed file: into a new table (typed columns inferred from the values), or into an
existing table (add rows, or update rows matched on a key column). Everything happens in the caller's
one transaction, so a failure leaves nothing behind. Rows go in by COPY: a new table's through
dataio.columnar, rows for an existing table through db.bulk (which coerces, sets AI cell state and
queues the new rows' AI cells; updated cells mark the AI cells reading them stale, as any edit does)."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dataio.columnar import copy_columns
from dataio.infer import ImportPlan, plan_import
from dataio.read import ParsedTable, unquote_formula
from db import bulk, bulk_ops, change_sets, tables
from db.coerce import coerce
from db.errors import Invalid
from db.schemas import ColumnPublic, TablePublic

Progress = Callable[[int, int], Awaitable[None] | None]
PROGRESS_EVERY = 10_000
MAX_PROBLEMS = 10


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the table as it is now, and how many rows were added and updated."""

    table: TablePublic
    added: int
    updated: int = 0
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)  # fills queued for the AI cells of the added rows

    @property
    def row_count(self) -> int:
        return self.added + self.updated + self.unchanged


async def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        result = progress(done, total)
        if inspect.isawaitable(result):
            await result


async def _insert(conn: AsyncConnection, table: TablePublic, rows: Iterator[Any], total: int,
                  progress: Progress | None, *, columnar: bool = False) -> tuple[int, list[str]]:
    """Insert stored-form rows in order, reporting progress as they stream: rows as {column id: value}
    through db.bulk (their AI cells queued), or (`columnar`, new tables) as one value per column through
    dataio.columnar. Returns how many rows went in and the fill jobs queued."""
    async def counted() -> Any:
        for done, row in enumerate(rows, start=1):
            yield row
            if done % PROGRESS_EVERY == 0 and done < total:
                await _report(progress, done, total)

    await _report(progress, 0, total)
    added, jobs = 0, []
    if total and columnar:
        added = await copy_columns(conn, table, counted())
    elif total:
        new = await bulk.copy_new_rows(conn, table, counted(), coerced=True)
        added, jobs = len(new.ids), new.jobs
    await _report(progress, total, total)
    return added, jobs


def default_name(filename: str) -> str:
    """A table name from a file name: `sales_2024-q1.csv` → `Sales 2024-q1`."""
    stem = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    stem = " ".join(stem.replace("_", " ").split())[:200]
    return (stem[:1].upper() + stem[1:]) if stem else "Imported table"


async def import_new_table(
    conn: AsyncConnection,
    workspace_id: uuid.UUID,
    parsed: ParsedTable,
    name: str | None = None,
    *,
    description: str = "",
    plan: ImportPlan | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Create a table with the file's columns (types inferred) and every row of it."""
    plan = plan or plan_import(parsed)
    opened = await change_sets.current(conn) is None
    cs = await change_sets.ensure(conn, workspace_id=workspace_id, table_id=None, kind="import",
                                  summary=f'Imported "{parsed.filename}" as a new table')
    table = await tables.create_table(conn, workspace_id=workspace_id, name=name or default_name(parsed.filename),
                                      description=description, columns=plan.column_creates())
    added, _ = await _insert(conn, table, plan.rows(), plan.row_count, progress, columnar=True)
    if opened:
        await change_sets.finish(conn, cs, table_id=table.id)
    return ImportResult(table=table, added=added, notes=plan.notes)


def match_columns(table: TablePublic, parsed: ParsedTable) -> list[ColumnPublic]:
    by_name = {c.name.casefold(): c for c in table.columns}
    unknown = [h for h in parsed.columns if h.casefold() not in by_name]
    if unknown:
        raise Invalid(
            f'The file has column(s) the table "{table.name}" does not: {", ".join(unknown[:10])}. '
            f"Rename them to one of {', '.join(c.name for c in table.columns[:20])}, or add the columns first.",
            unknown=unknown, known=[c.name for c in table.columns],
        )
    return [by_name[h.casefold()] for h in parsed.columns]


def coerce_rows(table: TablePublic, parsed: ParsedTable, columns: list[ColumnPublic]) -> list[dict[str, Any]]:
    """Every row as {column id: stored value} (empty cells left out); Invalid naming the first bad cells."""
    specs = [(str(c.id), c.model_dump()) for c in columns]
    text_like = parsed.format == "csv"
    out: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for n, row in enumerate(parsed.rows, start=1):
        doc: dict[str, Any] = {}
        for (cid, spec), value in zip(specs, row):
            if isinstance(value, str):
                if not value.strip():
                    continue
                if text_like:
                    value = unquote_formula(value)
                if spec["type"] == "json":
                    value = _json_cell(value)
            elif value is None:
                continue
            try:
                doc[cid] = coerce(spec, value, check_required=False)
            except Invalid as exc:
                problems.append({"row": n, "column": spec["name"], "message": exc.message})
                if len(problems) >= MAX_PROBLEMS:
                    break
        if len(problems) >= MAX_PROBLEMS:
            break
        out.append(doc)
    if problems:
        first = problems[0]
        more = f" ({len(problems) - 1} more listed in the details)" if len(problems) > 1 else ""
        raise Invalid(f"Row {first['row']} of the file: {first['message']}{more}. Nothing was imported.",
                      problems=problems)
    return out


async def import_into_table(
    conn: AsyncConnection,
    table: TablePublic,
    parsed: ParsedTable,
    key_column: str | None = None,
    *,
    account_id: uuid.UUID | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Add the file's rows, or with `key_column` update matching rows and add the rest (all checked first).

    File columns match table columns by name; an empty cell in the file leaves the stored value alone.
    """
    columns = match_columns(table, parsed)
    docs = coerce_rows(table, parsed, columns)
    opened = await change_sets.current(conn) is None
    cs = await change_sets.ensure(conn, workspace_id=table.workspace_id, table_id=table.id, kind="import",
                                  summary=f'Imported "{parsed.filename}" into "{table.name}"')
    result = await _import_rows(conn, table, parsed, docs, columns, key_column, account_id, progress)
    if opened:
        await change_sets.finish(conn, cs)
    return result


async def _import_rows(conn: AsyncConnection, table: TablePublic, parsed: ParsedTable, docs: list[dict[str, Any]],
                       columns: list[ColumnPublic], key_column: str | None, account_id: uuid.UUID | None,
                       progress: Progress | None) -> ImportResult:
    required = [c for c in table.columns if c.required and c.ai is None]
    if key_column is None:
        _check_required(docs, required, range(len(docs)))
        added, jobs = await _insert(conn, table, iter(docs), len(docs), progress)
        return ImportResult(table=table, added=added, notes=list(parsed.notes), jobs=jobs)

    key = next((c for c in columns if c.name.casefold() == key_column.strip().casefold()), None)
    if key is None:
        raise Invalid(f'The key column "{key_column}" is not among the file\'s columns '
                      f"({', '.join(parsed.columns[:20])}).", key_column=key_column)
    kid = str(key.id)
    seen: dict[str, int] = {}
    for n, doc in enumerate(docs, start=1):
        if kid not in doc:
            raise Invalid(f'Row {n} of the file has no value in the key column "{key.name}".', row=n)
        token = key_token(doc[kid])
        if token in seen:
            raise Invalid(f'The key "{doc[kid]}" appears twice in the file (rows {seen[token]} and {n}).',
                          row=n, key=doc[kid])
        seen[token] = n

    existing = await rows_by_key(conn, table, kid)
    updates: dict[int, dict[str, Any]] = {}
    new_rows: list[int] = []
    for n, doc in enumerate(docs):
        rid = existing.get(key_token(doc[kid]))
        if rid is None:
            new_rows.append(n)
            continue
        if isinstance(rid, list):
            raise Invalid(f'The key "{doc[kid]}" matches {len(rid)} rows of the table; '
                          f'"{key.name}" does not identify rows uniquely.', key=doc[kid])
        updates[rid] = doc
    _check_required([docs[n] for n in new_rows], required, new_rows)
    total = len(docs)
    await _report(progress, 0, total)
    changed = await changed_cells(conn, table, updates)
    unchanged = len(updates) - len(changed)
    written = await bulk_ops.write_cells(conn, table, changed, account_id=account_id, source="import")
    await _report(progress, len(updates), total)
    added, jobs = await _insert(conn, table, (docs[n] for n in new_rows), len(new_rows),
                                None if progress is None else lambda d, t: progress(len(updates) + d, total))
    return ImportResult(table=await tables.get_table(conn, table.id), added=added, updated=len(written),
                        unchanged=unchanged, notes=list(parsed.notes), jobs=jobs)


def _json_cell(value: str) -> Any:
    """A json column's cell: the JSON it spells (as the export writes it), else the text itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _check_required(docs: list[dict[str, Any]], required: list[ColumnPublic], rows: Any) -> None:
    for doc, n in zip(docs, rows):
        for col in required:
            if str(col.id) not in doc:
                raise Invalid(f'Row {n + 1} of the file has no value for the required column "{col.name}". '
                              "Nothing was imported.", row=n + 1, column=col.name)


def key_token(value: Any) -> str:
    """Keys compare by their stored JSON form, so 3 matches "3" in a number column but "a" is not "A"."""
    return json.dumps(value, sort_keys=True)


async def rows_by_key(conn: AsyncConnection, table: TablePublic, kid: str) -> dict[str, Any]:
    """Key → row id of the table (a list when several rows share the key)."""
    rows = await conn.execute(
        text("SELECT id, data -> :k AS v FROM records WHERE table_id = :t AND (data -> :k) IS NOT NULL ORDER BY id"),
        {"t": table.id, "k": kid},
    )
    found: dict[str, Any] = {}
    for rid, value in rows.all():
        token = key_token(value)
        if token in found:
            prev = found[token]
            found[token] = (prev if isinstance(prev, list) else [prev]) + [rid]
        else:
            found[token] = rid
    return found


async def changed_cells(conn: AsyncConnection, table: TablePublic,
                         updates: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Only the cells whose value differs, so that versions and the audit record real changes."""
    if not updates:
        return {}
    rows = await conn.execute(
        text("SELECT id, data FROM records WHERE table_id = :t AND id = ANY(:ids)"),
        {"t": table.id, "ids": list(updates)},
    )
    changed: dict[int, dict[str, Any]] = {}
    for rid, data in rows.all():
        diff = {k: v for k, v in updates[rid].items() if (data or {}).get(k) != v}
        if diff:
            changed[rid] = diff
    return changed
