"""revert_change: the latest matching change of the active table becomes a revert proposal shown to the
user (ending the turn); nothing to revert is a plain error for the model."""

from __future__ import annotations

import dataclasses
import json

from db import records, tables
from db.engine import transaction
from tools.base import ProposalEvent
from tools.registry import run_tool


async def test_undo_the_last_change_shows_a_revert_proposal(ctx, events, engine, make_bugs, account):
    t = await make_bugs(3)
    ctx = dataclasses.replace(ctx, active_table_id=t.id)
    async with transaction(account[0], engine=engine) as conn:
        table = await tables.get_table(conn, t.id)
        rid = (await records.list_records(conn, table, limit=1)).items[0].id
        await records.update_record(conn, table, rid, {"Title": "edited"})

    result = await run_tool(ctx, "revert_change", {})
    assert not result.is_error and result.ends_turn, result.text()
    out = json.loads(result.text())
    assert out["reverts"]["kind"] == "edit" and out["undoes"]["cells"] == 1 and out["buttons"] == "Apply / Dismiss"
    (event,) = events
    assert isinstance(event, ProposalEvent) and event.kind == "data"
    row = next(r for r in event.preview.rows if r.id == rid)
    assert row.state == "updated" and any(c.was == "edited" for c in row.changes.values())

    nothing = await run_tool(ctx, "revert_change", {"kind": "import", "when": "this_morning"})
    assert nothing.is_error and "No import this morning" in nothing.text()
