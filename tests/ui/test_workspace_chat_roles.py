"""The role matrix of the chat: owner, editor, viewer and an outsider click every chat action on one shared
workspace's objects (payloads forged where the UI would never offer them). Where the role forbids it the
answer says so and nothing in the workspace changes; an outsider's answers name nothing of it."""

from __future__ import annotations

import chainlit as cl
from sqlalchemy import text
from test_chat_app import Chat, _account, _elements, _message, app  # noqa: F401 (app: the fixture)

import jobs
from db import tables, workspaces
from db.engine import transaction
from db.schemas import ColumnCreate

ROLES = ("owner", "editor", "viewer", "outsider")


async def _snapshot(engine, ws_id) -> tuple:
    async with transaction(None, engine=engine) as conn:
        return tuple((await conn.execute(text(
            "SELECT (SELECT name FROM workspaces WHERE id = :w), "
            "(SELECT coalesce(max(seq), 0) FROM changes WHERE workspace_id = :w), "
            "(SELECT count(*) FROM jobs WHERE workspace_id = :w), "
            "(SELECT count(*) FROM jobs WHERE workspace_id = :w AND status = 'cancelled'), "
            "(SELECT count(*) FROM data_tables WHERE workspace_id = :w), "
            "(SELECT count(*) FROM proposals WHERE workspace_id = :w AND status <> 'pending'), "
            "(SELECT string_agg(account_id::text || role, ',' ORDER BY account_id) FROM memberships "
            " WHERE workspace_id = :w)"), {"w": ws_id})).one())


def _said(chat) -> str:
    return "\n".join(str(d.get("output", "")) for kind, d in chat.events if kind in ("new_message", "update_message"))


async def test_every_chat_action_by_role(app, engine, unique):  # noqa: F811
    owner, ws = await _account(engine, unique, workspace=True)
    people = {"owner": owner}
    for role in ("editor", "viewer", "outsider"):
        people[role], _ = await _account(engine, unique + role[0], workspace=True)
    async with transaction(owner, engine=engine) as conn:
        for role in ("editor", "viewer"):
            await workspaces.share(conn, ws["id"], account_id=people[role], by=owner, role=role)
        table = await tables.create_table(conn, workspace_id=ws["id"], name=f"Secret{unique}",
                                          columns=[ColumnCreate(name="Title", type="text")])
        await conn.execute(text("INSERT INTO records (table_id, workspace_id, data) SELECT :t, :w, "
                                "jsonb_build_object(CAST(:c AS text), 'Dune') FROM generate_series(1, 2)"),
                           {"t": table.id, "w": ws["id"], "c": str(table.columns[0].id)})
        col = await tables.create_column(conn, table.id, ColumnCreate(name="Blurb", type="text",
                                                                      ai={"prompt": "About {Title}"}))
    owner_chat = Chat(owner, f"c{unique}")
    await app.start()
    await owner_chat.wait_for("update_message", "Workspace: **")
    owner_chat.session.has_first_interaction = True
    await app.on_message(_message("Create a table of Italian restaurants in Chicago"))
    foreign_proposal = _elements(owner_chat, "Proposal")[-1]["props"]["proposal_id"]

    counts = {"calls": 0, "refused": 0, "leaks": 0, "writes_where_forbidden": 0}
    failures = []
    for role in ROLES:
        chat = Chat(people[role], f"c{unique}{role}")
        await app.start()
        await chat.wait_for("update_message", "Workspace: **")
        chat.session.has_first_interaction = True
        if role != "outsider":
            await app.on_switch_to(cl.Action(name="switch_to_workspace", payload={"workspace_id": str(ws["id"])}))
        async with transaction(owner, engine=engine) as conn:
            job = await jobs.start_fill(conn, table.id, col.id, "all")
        writer, member = role in ("owner", "editor"), role != "outsider"
        # (name, callback, payload, allowed, how a refusal is said)
        actions = [
            ("open_table", app.on_open_table, {"table_id": str(table.id)}, member, "not in any of your workspaces"),
            ("switch_to_workspace", app.on_switch_to, {"workspace_id": str(ws["id"])}, member, "not one of yours"),
            ("rename_workspace", app.on_rename_workspace, {"workspace_id": str(ws["id"])}, role == "owner",
             "Only an owner" if member else "not one of yours"),
            ("stop_job", app.on_stop_job, {"job_id": str(job.id)}, writer,
             "only view" if member else "not found"),
            ("live_retry_failed", app.on_retry_failed, {"table_id": str(table.id), "column_id": str(col.id)}, writer,
             "only view" if member else "No table"),
            ("proposal_apply", app.on_apply, {"proposal_id": foreign_proposal}, False, "not part of this conversation"),
            ("proposal_dismiss", app.on_dismiss, {"proposal_id": foreign_proposal}, False, "not part of this conversation"),
            ("proposal_done", app.on_done, {"proposal_id": foreign_proposal}, False, "not part of this conversation"),
            ("proposal_page", app.on_page, {"proposal_id": foreign_proposal, "page": 1}, False,
             "not part of this conversation"),
        ]
        for name, callback, payload, allowed, refusal in actions:
            before, said_before = await _snapshot(engine, ws["id"]), len(_said(chat))
            answer = await callback(cl.Action(name=name, payload=payload))
            after, said = await _snapshot(engine, ws["id"]), _said(chat)[said_before:]
            counts["calls"] += 1
            words = (answer or {}).get("error", "") + said if isinstance(answer, dict) or answer is None else said
            if not allowed:
                counts["refused"] += 1
                if refusal not in words:
                    failures.append(f"{role} {name}: no refusal {refusal!r} in {words[:200]!r}")
                if after != before:
                    counts["writes_where_forbidden"] += 1
                    failures.append(f"{role} {name} changed {before} → {after}")
            elif refusal in words:
                failures.append(f"{role} {name} refused: {words[:200]!r}")
            if role == "outsider" and (f"Secret{unique}" in words or ws["name"] in words):
                counts["leaks"] += 1
                failures.append(f"outsider {name} leaked: {words[:200]!r}")
        # a viewer (or an outsider) asking in words: their own proposals cannot be applied either
        if role in ("viewer",):
            await app.on_message(_message(f"delete the Secret{unique} table"))
            mine = _elements(chat, "Proposal")[-1]["props"]["proposal_id"]
            before = await _snapshot(engine, ws["id"])
            answer = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": mine}))
            counts["calls"] += 1
            counts["refused"] += 1
            if answer["ok"] or "only view" not in answer["error"] or await _snapshot(engine, ws["id"]) != before:
                counts["writes_where_forbidden"] += 1
                failures.append(f"viewer applied their own deletion: {answer}")
    print(f"\nchat role matrix: {counts}")
    assert not failures, "\n".join(failures)
    assert counts["leaks"] == 0 and counts["writes_where_forbidden"] == 0 and counts["refused"] >= 20
