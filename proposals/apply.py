"""Applying a proposal in the caller's transaction: the selected operations only, each checked against
what changed since it was made (proposals/plan.py), with per-operation results and audit rows.

Long because each kind of operation has its apply step here, sharing one transaction and one result.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import get_settings
from dataio import uploads
from dataio.importer import Progress
from db import ai_cells, bulk_ops, change_sets, history, restore, workspaces
from db import records as db_records
from db import tables as db_tables
from db.errors import Invalid, NotFound, ServiceError
from db.schemas import AiConfig, ColumnPublic, ColumnUpdate, TablePublic
from proposals import outcome, store, table_change
from proposals.apply_import import apply_file_import
from proposals.conflicts import changes_since
from proposals.payloads import DataProposal, SchemaProposal, TableChange
from proposals.plan import (
    OpResult,
    data_refs,
    failed,
    final_order,
    ok,
    plan_create,
    plan_data,
    plan_schema,
    schema_refs,
    selection,
)
from proposals.result import ApplyResult
from proposals.revert import reverted_change_set
from proposals.store import Status, StoredProposal

__all__ = ["ApplyResult", "apply"]

SOURCE = "proposal"
Ticks = Callable[[list[OpResult], int, int], Awaitable[None]]
GONE = "The table no longer exists"


def _message(status: str, results: Sequence[OpResult], created: str | None = None) -> str:
    return outcome.summary(status, sum(r.ok for r in results), len(results), created=created)


def _outcome(
    row: StoredProposal,
    status: str,
    results: list[OpResult],
    *,
    already: bool = False,
    table_id: uuid.UUID | None = None,
    created: str | None = None,
    samples: int = 0,
    jobs: list[str] | None = None,
) -> ApplyResult:
    return ApplyResult(
        proposal_id=row.id,
        status=status,
        table_id=table_id or row.table_id,
        results=results,
        applied=sum(r.ok for r in results),
        failed=sum(not r.ok for r in results),
        message=_message(status, results, created),
        already_decided=already,
        sample_rows=samples,
        jobs=jobs or [],
    )


async def apply(
    conn: AsyncConnection,
    proposal: StoredProposal | uuid.UUID,
    selected: Sequence[int] | None = None,
    account_id: uuid.UUID | None = None,
    *,
    include_sample_rows: bool = True,
    progress: Progress | None = None,
    ticks: Ticks | None = None,
) -> ApplyResult:
    """Apply the `selected` operations (None: all) of a proposal fetched with the scoped `store.get`:
    every kind — data, a schema update, a new table, and a new table made from an uploaded file (all
    of the file's rows imported, `progress(done, total)` told as they go in). A data proposal tells
    `ticks(results, done, total)` the results of each chunk of operations as it lands (in this
    transaction: they hold once it commits)."""
    # the lock makes a second Apply (a double click, another tab) wait, then return what was recorded
    row = await store.lock(conn, proposal)
    if row.status != "pending":
        return _outcome(row, row.status, [OpResult(**r) for r in row.results or []], already=True)
    await workspaces.require_writer(conn, row.workspace_id)  # a viewer's Apply: a clear refusal, nothing done
    owner = row.created_by or account_id  # an upload is kept under the account that proposed its import
    kept = uploads.kept(owner, row.id) if row.kind == "schema_create" and owner is not None else None
    reverts = reverted_change_set(row)
    if reverts is not None and (done := await _reverted_already(conn, row, reverts)) is not None:
        return done
    # every write of this apply belongs to one change set, named after the proposal and its chat
    change_set = await change_sets.begin(
        conn, workspace_id=row.workspace_id, table_id=row.table_id,
        kind="import" if kept is not None else "revert" if reverts is not None else "proposal",
        actor={"kind": "agent", "thread_id": row.thread_id, "proposal_id": str(row.id)},
        proposal_id=row.id, reverts=reverts,
    )
    if kept is not None:
        result = await apply_file_import(conn, row, *kept, selected, progress)
    else:
        result = await _apply_proposal(conn, row, selected, account_id, include_sample_rows, ticks)
    table = await _table(conn, result.table_id)
    counts = await change_sets.finish(conn, change_set, table_id=result.table_id,
                                      summary=lambda counts: _summary(row, table, counts),
                                      drop_if_empty=result.status != "applied")
    if reverts is not None and counts is not None:
        await history.mark_reverted(conn, reverts, change_set)
    await change_sets.close(conn)
    return result.model_copy(update={"change_id": str(change_set) if counts is not None else None})


async def _reverted_already(conn: AsyncConnection, row: StoredProposal, reverts: uuid.UUID) -> ApplyResult | None:
    """A change set is reverted once: a second revert (two at once included: the lock orders them) fails."""
    try:
        target = await history.get_change_set(conn, reverts, lock=True)
    except NotFound:
        target = None
    if target is not None and await history.undone_by(conn, target) is None:
        return None
    why = "This change was reverted already" if target is not None else "This change no longer exists"
    results = [failed(i, why, conflict=True) for i in range(len(row.payload.get("operations") or []))]
    await store.finish(conn, row.id, status="stale", results=[r.model_dump(exclude_defaults=True) for r in results])
    return _outcome(row, "stale", results)


def _summary(row: StoredProposal, table: TablePublic | None, counts: dict[str, int]) -> str:
    """The change set's one line: what the proposal did, on which table."""
    name = f'"{table.name}"' if table is not None else "a table"
    if (revert := row.payload.get("revert")) is not None:
        return f"Revert of: {revert.get('summary') or 'a change'}"[:300]
    if row.kind == "schema_create":
        rows = counts.get("rows_added", 0)
        return f"Created table {name}" + (f" with {rows:,} row{'s' if rows != 1 else ''}" if rows else "")
    return f"{change_sets.describe(counts)} in {name}"[:300]


async def _apply_proposal(
    conn: AsyncConnection, row: StoredProposal, selected: Sequence[int] | None, account_id: uuid.UUID | None,
    include_sample_rows: bool, ticks: Ticks | None = None,
) -> ApplyResult:
    p = row.proposal()
    if isinstance(p, TableChange):
        return await _apply_table_change(conn, row, p)
    chosen = selection(selected, len(p.operations))
    created, samples = None, 0
    jobs: list[str] = []
    if isinstance(p, DataProposal):
        table_id, results = await _apply_data(conn, row, p, chosen, account_id, jobs, ticks)
    elif p.mode == "create":
        table_id, results, samples = await _apply_create(conn, row, p, chosen, include_sample_rows, jobs)
        created = p.table_name if table_id else None
    else:
        table_id, results = await _apply_schema(conn, row, p, chosen, jobs)
    if any(r.ok for r in results):
        status: Status = "applied"
    else:
        status = "stale" if all(r.conflict for r in results) else "failed"
    await store.finish(
        conn,
        row.id,
        status=status,
        table_id=table_id,
        results=[r.model_dump(exclude_defaults=True) for r in results],
    )
    return _outcome(row, status, results, table_id=table_id, created=created, samples=samples, jobs=jobs)


async def _apply_table_change(conn: AsyncConnection, row: StoredProposal, p: TableChange) -> ApplyResult:
    result, line = await table_change.apply_change(conn, p, workspace_id=row.workspace_id, table_id=row.table_id)
    status: Status = "applied" if result.ok else ("stale" if result.conflict else "failed")
    await store.finish(conn, row.id, status=status, table_id=row.table_id,
                       results=[result.model_dump(exclude_defaults=True)])
    return _outcome(row, status, [result]).model_copy(update={"message": line})


async def _table(conn: AsyncConnection, table_id: uuid.UUID | None) -> TablePublic | None:
    if table_id is None:
        return None
    try:
        return await db_tables.get_table(conn, table_id)
    except NotFound:
        return None


async def _apply_data(
    conn: AsyncConnection,
    row: StoredProposal,
    p: DataProposal,
    chosen: list[int],
    account_id: uuid.UUID | None,
    jobs: list[str],
    ticks: Ticks | None = None,
) -> tuple[uuid.UUID | None, list[OpResult]]:
    """The data operations after one conflict check, in chunks of TABLECHAT_APPLY_CHUNK, `ticks` told as
    each lands."""
    table = await _table(conn, row.table_id)
    if table is None:
        return None, [failed(i, GONE, conflict=True) for i in chosen]
    row_ids, keys = data_refs(p, chosen)
    since = await changes_since(
        conn, table.id, row.base_seq, row_ids=row_ids, columns=table.columns, column_ids=keys
    )
    plan = plan_data(p, table, chosen, since, clear_ai="revert" in row.payload)
    results = plan.results
    # a revert brings deleted rows back under their ids, as they were
    back = (row.payload.get("revert") or {}).get("rows") or {}
    restores = [(i, back[str(i)]) for i, _ in plan.adds if str(i) in back]
    plan.adds = [(i, v) for i, v in plan.adds if str(i) not in back]
    reverting = "revert" in row.payload
    chunk = get_settings().apply_chunk
    done = 0

    async def tell(batch: list[OpResult]) -> None:
        nonlocal done
        done += len(batch)
        if ticks is not None and batch:
            await ticks(batch, done, len(chosen))

    # the one conflict check is above; what it refused is known at once, the rest lands chunk by chunk
    await tell([results[i] for i in chosen if i in results])
    async with bulk_ops.without_jit(conn):
        deletes = list(plan.deletes.items())
        for start in range(0, len(deletes), chunk):
            part = dict(deletes[start:start + chunk])
            deleted = await bulk_ops.delete_rows(conn, table.id, list(part))
            for rid, i in part.items():
                results[i] = ok(i, row_id=rid) if rid in deleted else failed(i, f"Row {rid} does not exist", row_id=rid)
            await tell([results[i] for i in part.values()])
        updates = list(plan.updates.items())
        for start in range(0, len(updates), chunk):
            part = dict(updates[start:start + chunk])
            written = await bulk_ops.write_cells(conn, table, {rid: v for rid, (_, v) in part.items()},
                                                 account_id=account_id,
                                                 source="revert" if reverting else SOURCE, pin_ai=not reverting)
            for rid, (i, _) in part.items():
                results[i] = ok(i, row_id=rid) if rid in written else failed(i, f"Row {rid} does not exist", row_id=rid)
            await tell([results[i] for i, _ in part.values()])
        adds = iter(plan.adds)

        async def inserted(ids: list[int]) -> None:
            batch = []
            for rid in ids:
                i, _ = next(adds)
                results[i] = ok(i, row_id=rid)
                batch.append(results[i])
            await tell(batch)

        added = await db_records.add_records(conn, table, [v for _, v in plan.adds], coerced=True,
                                             thread_id=row.thread_id, chunk=chunk, inserted=inserted)
        jobs += added.jobs
        restored = await restore.restore_rows(conn, table, [(r["id"], r["prev"]) for _, r in restores])
    for i, r in restores:
        results[i] = (ok(i, row_id=r["id"]) if r["id"] in restored
                      else failed(i, f"Row {r['id']} exists already", row_id=r["id"]))
    await tell([results[i] for i, _ in restores])
    return table.id, [results[i] for i in chosen]


async def _apply_create(
    conn: AsyncConnection, row: StoredProposal, p: SchemaProposal, chosen: list[int], with_samples: bool,
    jobs: list[str],
) -> tuple[uuid.UUID | None, list[OpResult], int]:
    plan = plan_create(p, chosen, include_sample_rows=with_samples)
    results = plan.results
    try:
        async with conn.begin_nested():
            table = await db_tables.create_table(
                conn,
                workspace_id=row.workspace_id,
                name=p.table_name or "Untitled",
                description=p.table_description or "",
                columns=[c for _, c in plan.columns],
            )
    except ServiceError as exc:
        return None, [results.get(i) or failed(i, exc.message) for i in chosen], 0
    by_name = {c.name: str(c.id) for c in table.columns}
    for i, c in plan.columns:
        results[i] = ok(i, column_id=by_name.get(c.name))
    ids = await _insert_samples(conn, table, plan.sample_rows) if plan.sample_rows else []
    jobs += await ai_cells.fill_new_rows(conn, table, ids, thread_id=row.thread_id)
    return table.id, [results[i] for i in chosen], len(ids)


async def _insert_samples(conn: AsyncConnection, table: TablePublic, rows: list[dict[str, Any]]) -> list[int]:
    """All sample rows at once or, if one does not fit, every one that does; returns their ids."""
    try:
        async with conn.begin_nested():
            return await db_records.create_records(conn, table, rows)
    except Invalid:
        pass
    ids: list[int] = []
    for r in rows:
        try:
            async with conn.begin_nested():
                ids += await db_records.create_records(conn, table, [r])
        except Invalid:
            continue
    return ids


async def _apply_schema(
    conn: AsyncConnection, row: StoredProposal, p: SchemaProposal, chosen: list[int], jobs: list[str]
) -> tuple[uuid.UUID | None, list[OpResult]]:
    table = await _table(conn, row.table_id)
    if table is None:
        return None, [failed(i, GONE, conflict=True) for i in chosen]
    since = await changes_since(
        conn, table.id, row.base_seq, columns=table.columns, column_ids=schema_refs(p, chosen)
    )
    plan = plan_schema(p, table, chosen, since)
    results = plan.results
    await _removes(conn, table, plan.removes, results)
    for i, col, changes in plan.modifies:
        results[i] = await _modify(conn, table.id, i, col, changes)
    created: dict[int, uuid.UUID] = {}
    back = (row.payload.get("revert") or {}).get("columns") or {}  # a revert: removed columns, with their ids
    for i, spec in plan.adds:
        try:
            async with conn.begin_nested():
                if str(i) in back:
                    col = await restore.restore_column(conn, table, back[str(i)])
                else:
                    col = await db_tables.create_column(conn, table.id, spec)
            created[i] = col.id
            results[i] = ok(i, column_id=str(col.id))
        except ServiceError as exc:
            results[i] = failed(i, exc.message)
    for i, col in plan.reorders:
        results[i] = ok(i, column_id=str(col.id))
    if created or plan.reorders:
        done = [i for i in chosen if results[i].ok]
        await bulk_ops.set_column_order(conn, table.id, final_order(p, table, done, created))
    if any(r.ok for r in results.values()) and (p.table_name is not None or p.table_description is not None):
        await db_tables.update_table(conn, table.id, name=p.table_name, description=p.table_description)
    jobs += await _fill_new_ai(conn, row, table.id, [created[i] for i in created if str(i) not in back]
                               + [col.id for i, col, changes in plan.modifies if changes.get("ai") and results[i].ok])
    return table.id, [results[i] for i in chosen]


async def _fill_new_ai(conn: AsyncConnection, row: StoredProposal, table_id: uuid.UUID,
                       column_ids: list[uuid.UUID]) -> list[str]:
    """A column that became an AI column is filled at once, in this transaction (the outbox relays it)."""
    table = await db_tables.get_table(conn, table_id)
    started = []
    for col in table.columns:
        if col.id in column_ids and col.ai is not None:
            job = await ai_cells.start_fill(conn, table, col.id, "all", thread_id=row.thread_id, reason="new_column")
            if job["total"]:
                started.append(str(job["id"]))
    return started


async def _removes(
    conn: AsyncConnection,
    table: TablePublic,
    removes: list[tuple[int, ColumnPublic]],
    results: dict[int, OpResult],
) -> None:
    """Remove columns, AI columns before the columns they read, whatever order they were proposed in."""
    pending = removes
    while pending:
        left = []
        for i, col in pending:
            try:
                async with conn.begin_nested():
                    await db_tables.delete_column(conn, table.id, col.id)
                results[i] = ok(i, column_id=str(col.id))
            except ServiceError as exc:
                left.append((i, col))
                results[i] = failed(i, exc.message, column_id=str(col.id))
        if len(left) == len(pending):
            return
        pending = left


async def _modify(
    conn: AsyncConnection, table_id: uuid.UUID, i: int, col: ColumnPublic, changes: dict[str, Any]
) -> OpResult:
    try:
        update = ColumnUpdate(**changes)
    except ValidationError as exc:  # the service's own rules may be stricter than the payload's
        return failed(i, exc.errors()[0]["msg"], column_id=str(col.id))
    try:
        async with conn.begin_nested():
            new = await db_tables.update_column(conn, table_id, col.id, update)
            if new.name != col.name:
                await _follow_rename(conn, table_id, col.name, new.name)
    except ServiceError as exc:
        return failed(i, exc.message, column_id=str(col.id))
    return ok(i, column_id=str(col.id))


async def _follow_rename(conn: AsyncConnection, table_id: uuid.UUID, old: str, new: str) -> None:
    """AI columns that read a renamed column keep reading it under its new name."""
    for c in (await db_tables.get_table(conn, table_id)).columns:
        if c.ai and old in c.ai.get("depends_on", []):
            ai = dict(c.ai)
            ai["depends_on"] = [new if d == old else d for d in ai["depends_on"]]
            ai["prompt"] = ai["prompt"].replace("{" + old + "}", "{" + new + "}")
            await db_tables.update_column(conn, table_id, c.id, ColumnUpdate(ai=AiConfig(**ai)))
