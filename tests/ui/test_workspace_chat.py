"""Tables outlive chats: a new chat opens the user's most recent workspace and says so with Switch / New,
/tables lists every workspace's tables and Open switches the chat (told to the agent), /workspaces switches
and renames, and a viewer's Apply is refused in words."""

from __future__ import annotations

import asyncio
import json
import time

import chainlit as cl
from test_chat_app import Chat, _account, _elements, _history, _message, app  # noqa: F401 (app: the fixture)

from core.markdown import md_text
from db import tables, workspaces
from db.engine import transaction
from db.schemas import ColumnCreate


def _actions(chat) -> list[dict]:
    return [d for kind, d in chat.events if kind == "action"]


async def _make_table(engine, acc, ws_id, name):
    async with transaction(acc, engine=engine) as conn:
        return await tables.create_table(conn, workspace_id=ws_id, name=name,
                                         columns=[ColumnCreate(name="Title", type="text")])


async def _until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def test_a_new_chat_opens_the_most_recent_workspace_and_offers_switch_and_new(app, engine, unique):  # noqa: F811
    acc, _first = await _account(engine, unique, workspace=True)
    async with transaction(None, engine=engine) as conn:
        second = await workspaces.create(conn, owner_id=acc)
    await _make_table(engine, acc, second["id"], "Books")
    chat = Chat(acc, f"c{unique}")
    await app.start()
    shown = await chat.wait_for("update_message", "Workspace: **")
    assert f"**{md_text(second['name'])}** · 1 table" in shown
    assert {a["name"] for a in _actions(chat)} >= {"switch_workspace", "new_workspace"}
    assert {a["label"] for a in _actions(chat)} >= {"Switch workspace", "New workspace"}
    # the name stays in reach: the settings panel holds it
    settings = [d for kind, d in chat.events if kind == "chat_settings"]
    assert settings and settings[-1][0]["initial"] == second["name"]


async def test_tables_lists_every_workspace_and_open_switches_the_chat(app, engine, unique):  # noqa: F811
    acc, first = await _account(engine, unique, workspace=True)
    books = await _make_table(engine, acc, first["id"], "Books")
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", "Workspace: **")
    # the next day: a new workspace is the most recent, and a new chat opens it
    async with transaction(None, engine=engine) as conn:
        second = await workspaces.create(conn, owner_id=acc)
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(second["name"]))
    chat.session.has_first_interaction = True
    await app.on_message(_message("/tables"))
    listing = await chat.wait_for("new_message", "Your tables:")
    assert md_text(first["name"]) in listing and "**Books**" in listing and md_text(second["name"]) in listing
    opens = [a for a in _actions(chat) if a["name"] == "open_table"]
    assert [a["payload"]["table_id"] for a in opens] == [str(books.id)]
    await app.on_open_table(cl.Action(name="open_table", payload={"table_id": str(books.id)}))
    await chat.wait_for("new_message", f"Switched this chat to workspace **{md_text(first['name'])}** to open **Books**")
    live = _elements(chat, "LiveTable")[-1]["props"]
    assert live["table_id"] == str(books.id) and live["workspace"] == first["name"]
    assert cl.user_session.get("workspace_id") == str(first["id"])
    # the agent hears of it with the next message, and its list_tables works in the new workspace
    await app.on_message(_message("List my tables"))
    history = await _until(lambda: _told(engine, chat))
    assert "switched this chat to workspace" in history
    steps = [d for kind, d in chat.events if kind in ("new_message", "update_message") and d.get("type") == "tool"]
    outputs = " ".join(d.get("output", "") for d in steps)
    assert "Books" in outputs and second["name"] in outputs  # the other workspace is named


async def _told(engine, chat):
    text = json.dumps(await _history(engine, chat.session.thread_id))
    return text if "switched this chat" in text else None


async def test_workspaces_switch_rename_and_new(app, engine, unique):  # noqa: F811
    acc, first = await _account(engine, unique, workspace=True)
    async with transaction(None, engine=engine) as conn:
        second = await workspaces.create(conn, owner_id=acc)
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(second["name"]))
    chat.session.has_first_interaction = True
    await app.on_message(_message("/workspaces"))
    await chat.wait_for("new_message", "Your workspaces")
    labels = {a["label"] for a in _actions(chat)}
    assert f"Switch to {first['name']}" in labels and f"Rename {second['name']}" in labels
    await app.on_switch_to(cl.Action(name="switch_to_workspace", payload={"workspace_id": str(first["id"])}))
    await chat.wait_for("new_message", f"This chat now works in workspace **{md_text(first['name'])}**")
    # a forged payload: not one of yours
    _other, theirs = await _account(engine, unique + "x", workspace=True)
    await app.on_switch_to(cl.Action(name="switch_to_workspace", payload={"workspace_id": str(theirs["id"])}))
    await chat.wait_for("new_message", "That workspace is not one of yours.")
    assert cl.user_session.get("workspace_id") == str(first["id"])

    await app.on_rename_workspace(cl.Action(name="rename_workspace", payload={"workspace_id": str(first["id"])}))
    await chat.wait_for("new_message", "Type the new name")
    await app.on_message(_message(f"Reading {unique}"))
    await chat.wait_for("new_message", f"is now called **Reading {unique}**")
    assert cl.user_session.get("workspace_name") == f"Reading {unique}"

    await app.on_new_workspace(cl.Action(name="new_workspace", payload={}))
    made = await chat.wait_for("update_message", "Created workspace **")
    await chat.wait_for("new_message", "This chat now works in workspace **")
    async with transaction(acc, engine=engine) as conn:
        recent = (await workspaces.list_mine(conn, acc))[0]
    assert md_text(recent["name"]) in made and cl.user_session.get("workspace_id") == str(recent["id"])


async def test_a_viewer_cannot_apply_a_proposal_and_is_told_why(app, engine, unique):  # noqa: F811
    owner, ws = await _account(engine, unique, workspace=True)
    viewer, _ = await _account(engine, unique + "v", workspace=False)
    async with transaction(owner, engine=engine) as conn:
        await workspaces.share(conn, ws["id"], account_id=viewer, by=owner, role="viewer")
    chat = Chat(viewer, f"c{unique}v")
    await app.start()
    # the viewer's only workspace is the shared one: their first chat opens it and says their role
    await chat.wait_for("update_message", f"**{md_text(ws['name'])}** · 0 tables · you are its viewer")
    chat.session.has_first_interaction = True
    await app.on_message(_message("Create a table of Italian restaurants in Chicago"))
    (shown,) = _elements(chat, "Proposal")
    answer = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": shown["props"]["proposal_id"]}))
    assert answer["ok"] is False and "only view" in answer["error"]
    async with transaction(owner, engine=engine) as conn:
        assert await tables.list_tables(conn, workspace_id=ws["id"]) == []


async def _turn(app, chat, text):  # noqa: F811
    await app.on_message(_message(text))
    return _elements(chat, "Proposal")


async def test_delete_and_rename_a_table_and_the_workspace_through_proposals(app, engine, unique):  # noqa: F811
    acc, ws = await _account(engine, unique, workspace=True)
    books = await _make_table(engine, acc, ws["id"], "Books")
    async with transaction(acc, engine=engine) as conn:
        from sqlalchemy import text as sql

        await conn.execute(sql("INSERT INTO records (table_id, workspace_id) SELECT :t, :w FROM generate_series(1, 3)"),
                           {"t": books.id, "w": ws["id"]})
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", "Workspace: **")
    chat.session.has_first_interaction = True

    shown = (await _turn(app, chat, "rename the Books table to Library"))[-1]
    assert shown["props"]["kind"] == "table_change" and shown["props"]["change"]["new_name"] == "Library"
    done = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": shown["props"]["proposal_id"]}))
    assert done["ok"], done
    async with transaction(acc, engine=engine) as conn:
        assert (await tables.get_table(conn, books.id)).name == "Library"

    shown = (await _turn(app, chat, "delete the Library table"))[-1]
    change = shown["props"]["change"]
    assert (change["action"], change["name"], change["rows"]) == ("delete_table", "Library", 3)
    assert shown["props"]["summary"] == 'Delete the table "Library": 3 rows will be lost'
    # Dismiss keeps it; a second proposal and Delete removes it
    await app.on_dismiss(cl.Action(name="proposal_dismiss", payload={"proposal_id": shown["props"]["proposal_id"]}))
    async with transaction(acc, engine=engine) as conn:
        assert [t.name for t in await tables.list_tables(conn, workspace_id=ws["id"])] == ["Library"]
    shown = (await _turn(app, chat, "delete the Library table"))[-1]
    done = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": shown["props"]["proposal_id"]}))
    assert done["ok"], done
    final = _elements(chat, "Proposal")[-1]["props"]
    assert final["outcome"]["text"] == 'Deleted the table "Library" and its 3 rows'
    async with transaction(acc, engine=engine) as conn:
        assert await tables.list_tables(conn, workspace_id=ws["id"]) == []

    shown = (await _turn(app, chat, f"rename this workspace to Shelf {unique}"))[-1]
    done = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": shown["props"]["proposal_id"]}))
    assert done["ok"], done
    assert cl.user_session.get("workspace_name") == f"Shelf {unique}"


async def test_sharing_from_the_chat_and_a_viewer_cannot_delete(app, engine, unique):  # noqa: F811
    owner, ws = await _account(engine, unique, workspace=True)
    sam, _ = await _account(engine, unique + "s", workspace=True)
    await _make_table(engine, owner, ws["id"], "Books")
    chat = Chat(owner, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", "Workspace: **")
    chat.session.has_first_interaction = True
    await app.on_message(_message(f"share this workspace with c{unique}s as a viewer"))
    await chat.wait_for("new_message", f"shared with c{unique}s")
    await app.on_message(_message("share this workspace with nobody-at-all as a viewer"))
    await chat.wait_for("new_message", "There is no user")
    await app.on_message(_message(f"share this workspace with c{unique} as an editor"))
    await chat.wait_for("new_message", "cannot share a workspace with yourself")

    viewer = Chat(sam, f"c{unique}s")
    await app.start()
    await viewer.wait_for("update_message", "Workspace: **")
    await app.on_switch_to(cl.Action(name="switch_to_workspace", payload={"workspace_id": str(ws["id"])}))
    await viewer.wait_for("new_message", "you are its viewer")
    viewer.session.has_first_interaction = True
    found = await _turn(app, viewer, "delete the Books table")
    assert found, [d.get("output") for k, d in viewer.events if k in ("new_message", "update_message")][-4:]
    shown = found[-1]
    answer = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": shown["props"]["proposal_id"]}))
    assert answer["ok"] is False and "only view" in answer["error"]
    async with transaction(owner, engine=engine) as conn:
        assert [t.name for t in await tables.list_tables(conn, workspace_id=ws["id"])] == ["Books"]
    # a viewer's socket calling Stop on a fill directly is refused too
    from db import tables as t
    async with transaction(owner, engine=engine) as conn:
        table = (await t.list_tables(conn, workspace_id=ws["id"]))[0]
        col = await t.create_column(conn, table.id, ColumnCreate(name="Blurb", type="text",
                                                                 ai={"prompt": "About {Title}"}))
        import jobs

        job = await jobs.start_fill(conn, table.id, col.id, "all")
    answer = await app.on_stop_job(cl.Action(name="stop_job", payload={"job_id": str(job.id)}))
    assert answer["ok"] is False and "only view" in answer["error"]
    answer = await app.on_retry_failed(cl.Action(name="live_retry_failed",
                                                 payload={"table_id": str(table.id), "column_id": str(col.id)}))
    assert answer["ok"] is False and "only view" in answer["error"]
