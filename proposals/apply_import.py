"""Create Table of a proposal made from an uploaded file: the checked columns, and every row of the
kept file in bulk (the proposal's payload carries only sample rows). Called by proposals.apply.apply,
which has locked the proposal and seen it pending."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dataio import importer
from dataio.infer import ImportPlan, plan_import
from dataio.read import read_table_file
from db.errors import Invalid, ServiceError
from proposals import store
from proposals.plan import failed, ok, selection
from proposals.result import ApplyResult
from proposals.store import StoredProposal


async def apply_file_import(conn: AsyncConnection, row: StoredProposal, path: Path, meta: dict[str, Any],
                            selected: Any, progress: importer.Progress | None = None) -> ApplyResult:
    """Import the kept file `path` as the table the proposal `row` describes; the outcome is recorded."""
    p = row.proposal()
    chosen = selection(selected, len(p.operations))
    filename = meta["filename"]
    parsed = await asyncio.to_thread(read_table_file, path, filename)
    plan = await asyncio.to_thread(plan_import, parsed)
    if [c.name for c in plan.columns] != [op.column.name for op in p.operations]:  # type: ignore[union-attr]
        raise Invalid("The kept file no longer matches this proposal; upload it again.")
    kept = ImportPlan(columns=[plan.columns[i] for i in chosen], row_count=plan.row_count, notes=plan.notes)
    name = p.table_name or importer.default_name(parsed.filename)  # type: ignore[union-attr]
    try:
        async with conn.begin_nested():  # a failure leaves no table and no row behind
            done = await importer.import_new_table(conn, row.workspace_id, parsed, name,
                                                   description=p.table_description or "",  # type: ignore[union-attr]
                                                   plan=kept, progress=progress)
    except ServiceError as exc:
        results = [failed(i, exc.message) for i in chosen]
        await store.finish(conn, row.id, status="failed", results=[r.model_dump(exclude_defaults=True) for r in results])
        return _result(row, "failed", results, None, exc.message, filename=filename)
    by_name = {c.name: str(c.id) for c in done.table.columns}
    results = [ok(i, column_id=by_name.get(p.operations[i].column.name)) for i in chosen]  # type: ignore[union-attr]
    await store.finish(conn, row.id, status="applied", table_id=done.table.id,
                       results=[r.model_dump(exclude_defaults=True) for r in results])
    message = (f'Created table "{name}" with {len(chosen)} column{"s" if len(chosen) != 1 else ""} and '
               f"imported all {done.added:,} row{'s' if done.added != 1 else ''}")
    return _result(row, "applied", results, done.table.id, message, rows=done.added, filename=filename)


def _result(row: StoredProposal, status: Any, results: list[Any], table_id: Any, message: str, *,
            rows: int = 0, filename: str | None = None) -> ApplyResult:
    return ApplyResult(proposal_id=row.id, status=status, table_id=table_id or row.table_id, results=results,
                       applied=sum(r.ok for r in results), failed=sum(not r.ok for r in results),
                       message=message, imported_rows=rows, import_file=filename)
