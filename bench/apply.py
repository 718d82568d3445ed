"""`apply_10k_s` (SPEC §10): the time to apply a 10,000-operation data proposal, commit included; and
`revert_10k_s`: the time to revert that apply (the revert planned from the change feed, stored as a
proposal, applied), commit included."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import accounts, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from proposals import store
from proposals.apply import apply
from proposals.revert import propose_revert
from proposals.service import propose

ROWS = 10_000
UPDATES, DELETES, ADDS = 5_000, 2_000, 3_000


async def bench_apply_10k(engine: AsyncEngine, *, revert: bool = False) -> tuple[float, float | None]:
    """Seconds to apply 5,000 updates, 2,000 deletions and 3,000 new rows on a 10,000-row table, and with
    `revert` the seconds to revert that apply (None without)."""
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"bench-{uuid.uuid4().hex[:10]}", password="bench-pw")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    try:
        async with transaction(acc, engine=engine) as conn:
            table = await tables.create_table(
                conn,
                workspace_id=ws["id"],
                name="Bench",
                columns=[
                    ColumnCreate(name="Name", type="text", required=True),
                    ColumnCreate(name="Status", type="select", options=["Open", "Closed"]),
                    ColumnCreate(name="Points", type="number"),
                    ColumnCreate(name="Notes", type="long_text"),
                ],
            )
            ids = await records.create_records(
                conn,
                table,
                [
                    {"Name": f"item {n}", "Status": "Open", "Points": n, "Notes": "x" * 40}
                    for n in range(ROWS)
                ],
            )
        ops = [
            {"action": "update", "row_id": rid, "changes": {"Status": "Closed", "Points": n}}
            for n, rid in enumerate(ids[:UPDATES])
        ]
        ops += [{"action": "delete", "row_id": rid} for rid in ids[UPDATES : UPDATES + DELETES]]
        ops += [
            {"action": "add", "data": {"Name": f"new {n}", "Status": "Open", "Points": n}}
            for n in range(ADDS)
        ]
        thread = f"bench-{uuid.uuid4().hex}"
        async with transaction(acc, engine=engine) as conn:
            made = await propose(
                conn,
                what="data",
                payload={"reasoning": "bench", "operations": ops},
                workspace_id=ws["id"],
                account_id=acc,
                thread_id=thread,
                active_table_id=table.id,
            )
        start = time.perf_counter()
        async with transaction(acc, engine=engine) as conn:
            stored = await store.get(conn, made.stored.id, account_id=acc, thread_id=thread)
            result = await apply(conn, stored, None, acc)
        elapsed = time.perf_counter() - start
        if result.applied != len(ops):
            raise RuntimeError(f"bench apply: {result.message}")
        if not revert:
            return elapsed, None
        start = time.perf_counter()
        async with transaction(acc, engine=engine) as conn:
            undo, plan = await propose_revert(conn, result.change_id, account_id=acc, thread_id=thread)
            undone = await apply(conn, undo, None, acc)
        undo_s = time.perf_counter() - start
        if undone.applied != len(ops) or plan.conflicts:
            raise RuntimeError(f"bench revert: {undone.message}")
        return elapsed, undo_s
    finally:
        async with transaction(None, engine=engine) as conn:
            # the feed has no foreign keys (deletions must stay readable), so it is cleared by hand
            await conn.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": acc})
            await conn.execute(text("DELETE FROM changes WHERE workspace_id = :w"), {"w": ws["id"]})
