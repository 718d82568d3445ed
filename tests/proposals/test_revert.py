"""Reverting applied proposals on real PostgreSQL: every data and schema operation kind, a removed column
coming back with its values, a rename undone, a conflicting edit kept, a revert reverted, and what the
change sets of each say."""

import pytest
from sqlalchemy import text

from bench.apply import bench_apply_10k
from db import accounts, history, records, tables
from db.engine import transaction
from db.errors import Conflict, Invalid
from db.schemas import ColumnCreate
from proposals import store
from proposals.apply import apply
from proposals.revert import propose_revert
from proposals.service import propose


@pytest.fixture
async def bugs(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"r{unique}", password="pw-12345678")
        ws = (await accounts.create_workspace(conn, owner_id=acc))["id"]
    async with transaction(acc, engine=engine) as conn:
        t = await tables.create_table(conn, workspace_id=ws, name="Bugs", columns=[
            ColumnCreate(name="Name", type="text", required=True),
            ColumnCreate(name="Status", type="select", options=["Open", "Resolved"]),
            ColumnCreate(name="Points", type="number"),
        ])
        ids = await records.create_records(conn, t, [{"Name": f"bug {n}", "Status": "Open", "Points": n}
                                                     for n in range(1, 5)])
    return {"acc": acc, "ws": ws, "table": t.id, "ids": ids, "thread": f"th-{unique}"}


async def _propose_apply(engine, b, what, payload):
    async with transaction(b["acc"], engine=engine) as conn:
        made = await propose(conn, what=what, payload=payload, workspace_id=b["ws"], account_id=b["acc"],
                             thread_id=b["thread"], active_table_id=b["table"])
    async with transaction(b["acc"], engine=engine) as conn:
        result = await apply(conn, made.stored.id, None, b["acc"])
    assert result.status == "applied", result
    return result


async def _revert(engine, b, change_id, selected=None, restore=None):
    async with transaction(b["acc"], engine=engine) as conn:
        stored, plan = await propose_revert(conn, change_id, account_id=b["acc"], thread_id=b["thread"],
                                            restore=restore)
    async with transaction(b["acc"], engine=engine) as conn:
        stored = await store.get(conn, stored.id, account_id=b["acc"], thread_id=b["thread"])
        if selected is None:
            selected = [i for i in range(len(plan.proposal.operations)) if i not in plan.unselected]
        return await apply(conn, stored, selected, b["acc"]), plan


async def _rows(engine, b):
    async with transaction(b["acc"], engine=engine) as conn:
        t = await tables.get_table(conn, b["table"])
        page = await records.list_records(conn, t, limit=1000)
    names = {str(c.id): c.name for c in t.columns}
    return {r.id: {names[k]: c.value for k, c in r.cells.items() if c.value is not None} for r in page.items}


async def _columns(engine, b):
    async with transaction(b["acc"], engine=engine) as conn:
        return [(c.name, c.type, c.required) for c in (await tables.get_table(conn, b["table"])).columns]


async def test_revert_of_every_data_operation_and_of_the_revert(engine, bugs):
    ids = bugs["ids"]
    before = await _rows(engine, bugs)
    done = await _propose_apply(engine, bugs, "data", {"operations": [
        {"action": "add", "data": {"Name": "new one", "Points": 7}},
        {"action": "update", "row_id": ids[0], "changes": {"Status": "Resolved", "Points": 10}},
        {"action": "delete", "row_id": ids[1]},
    ]})
    async with transaction(bugs["acc"], engine=engine) as conn:
        cs = await history.get_change_set(conn, done.change_id)
    assert cs.kind == "proposal" and cs.actor["thread_id"] == bugs["thread"]
    assert cs.counts == {"rows_added": 1, "rows_deleted": 1, "rows_updated": 1, "cells": 2}
    changed = await _rows(engine, bugs)
    assert changed != before

    result, plan = await _revert(engine, bugs, done.change_id)
    assert result.status == "applied" and plan.conflicts == []
    assert plan.reverted == {"rows_restored": 1, "rows_removed": 1, "cells": 2}
    assert await _rows(engine, bugs) == before  # the deleted row is back under its own id, with its values

    again, _ = await _revert(engine, bugs, result.change_id)  # a revert can be reverted
    assert again.status == "applied"
    assert await _rows(engine, bugs) == changed

    with pytest.raises(Conflict):
        await _revert(engine, bugs, result.change_id)  # reverted already


async def test_revert_after_a_conflicting_edit_keeps_it_unless_restored(engine, bugs):
    ids = bugs["ids"]
    done = await _propose_apply(engine, bugs, "data", {"operations": [
        {"action": "update", "row_id": ids[0], "changes": {"Points": 10}},
        {"action": "update", "row_id": ids[2], "changes": {"Points": 30}},
    ]})
    async with transaction(bugs["acc"], engine=engine) as conn:
        t = await tables.get_table(conn, bugs["table"])
        await records.update_record(conn, t, ids[0], {"Points": 11})
    result, plan = await _revert(engine, bugs, done.change_id)
    assert [(c.record_id, c.column, c.current, c.restore) for c in plan.conflicts] == [(ids[0], "Points", 11, 1)]
    rows = await _rows(engine, bugs)
    assert rows[ids[0]]["Points"] == 11 and rows[ids[2]]["Points"] == 3  # kept; reverted

    # choosing restore for the conflicting cell overwrites it, and only then
    done = await _propose_apply(engine, bugs, "data", {"operations": [
        {"action": "update", "row_id": ids[1], "changes": {"Points": 20}}]})
    async with transaction(bugs["acc"], engine=engine) as conn:
        t = await tables.get_table(conn, bugs["table"])
        await records.update_record(conn, t, ids[1], {"Points": 21})
    points = str(next(c.id for c in t.columns if c.name == "Points"))
    result, plan = await _revert(engine, bugs, done.change_id, restore=[(ids[1], points)])
    assert result.status == "applied" and (await _rows(engine, bugs))[ids[1]]["Points"] == 2


async def test_revert_of_every_schema_operation_brings_a_removed_column_back_with_its_values(engine, bugs):
    ids = bugs["ids"]
    rows = await _rows(engine, bugs)
    columns = await _columns(engine, bugs)
    done = await _propose_apply(engine, bugs, "schema", {"mode": "update", "table_name": "Issues", "operations": [
        {"action": "add", "column": {"name": "Owner", "type": "text"}},
        {"action": "remove", "column_id": "Points"},
        {"action": "modify", "column_id": "Name", "changes": {"name": "Title"}},
        {"action": "modify", "column_id": "Status", "changes": {"required": True}},
        {"action": "reorder", "column_id": "Status", "after_column_id": None},
    ]})
    assert [c[0] for c in await _columns(engine, bugs)] == ["Status", "Title", "Owner"]
    result, _ = await _revert(engine, bugs, done.change_id)
    assert result.status == "applied", result
    assert await _columns(engine, bugs) == columns
    assert await _rows(engine, bugs) == rows  # Points is back, with its values
    async with transaction(bugs["acc"], engine=engine) as conn:
        assert (await tables.get_table(conn, bugs["table"])).name == "Bugs"
    assert ids  # the rows were never touched

    again, _ = await _revert(engine, bugs, result.change_id)
    assert again.status == "applied"
    assert [c[0] for c in await _columns(engine, bugs)] == ["Status", "Title", "Owner"]


async def test_a_change_that_created_its_table_or_lost_it_is_refused(engine, bugs):
    async with transaction(bugs["acc"], engine=engine) as conn:
        made = await propose(conn, what="schema", workspace_id=bugs["ws"], account_id=bugs["acc"],
                             thread_id=bugs["thread"], payload={"mode": "create", "table_name": "Fresh",
                                                                "operations": [{"action": "add", "column": {"name": "A"}}]})
    async with transaction(bugs["acc"], engine=engine) as conn:
        created = await apply(conn, made.stored.id, None, bugs["acc"])
    with pytest.raises(Invalid, match="created the table"):
        await _revert(engine, bugs, created.change_id)

    async with transaction(bugs["acc"], engine=engine) as conn:
        rows = await conn.execute(text("SELECT kind FROM change_sets WHERE table_id = :t"), {"t": created.table_id})
        assert rows.scalars().all() == ["proposal"]
        await tables.delete_table(conn, created.table_id)
    with pytest.raises(Invalid, match="deleted"):
        await _revert(engine, bugs, created.change_id)


async def test_revert_of_a_10k_apply(engine):
    # the bench raises unless all 10,000 operations were applied and all 10,000 reverted without conflicts
    applied, reverted = await bench_apply_10k(engine, revert=True)
    print(f"\napply_10k_s = {applied:.3f}, revert_10k_s = {reverted:.3f}")
