"""The Chainlit handlers of app.py, driven through a real Chainlit session whose socket is a recorder."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import psycopg
import pytest
from sqlalchemy import text

from core.markdown import md_text
from db import accounts
from db.engine import transaction
from db.migrate import sync_url


@pytest.fixture(scope="module")
def app(engine):
    """The entry module, imported once the test database is configured (its data layer reads it)."""
    import importlib

    import chainlit.data

    module = importlib.import_module("app")
    # Chainlit caches the first data layer anyone asked for; an earlier test may have asked before the
    # entry registered ours (Chainlit then falls back to its own, which cannot read our DATABASE_URL)
    chainlit.data._data_layer = None
    chainlit.data._data_layer_initialized = False
    return module


class Chat:
    """One browser tab as the server sees it: a websocket session whose events are recorded."""

    def __init__(self, account_id, name: str, thread_id: str | None = None):
        from chainlit.context import init_ws_context
        from chainlit.session import WebsocketSession
        from chainlit.user import PersistedUser

        self.events: list[tuple[str, dict]] = []

        async def emit(event, data):
            self.events.append((event, data))

        user = PersistedUser(id=str(uuid.uuid4()), createdAt="", identifier=name,
                             metadata={"account_id": str(account_id)})
        self.session = WebsocketSession(
            id=str(uuid.uuid4()), socket_id=str(uuid.uuid4()), emit=emit, emit_call=emit, user_env={},
            client_type="webapp", user=user, thread_id=thread_id or str(uuid.uuid4()))
        init_ws_context(self.session)

    def texts(self, event: str) -> list[str]:
        return [data.get("output", "") for kind, data in self.events if kind == event]

    async def wait_for(self, event: str, needle: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for output in self.texts(event):
                if needle in output:
                    return output
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event} with {needle!r} in {self.events}")


async def _account(engine, unique, *, workspace: bool = False):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"c{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc) if workspace else None
    return acc, ws


async def _workspaces(engine, account_id) -> list[dict]:
    async with transaction(None, engine=engine) as conn:
        return await accounts.workspaces_of(conn, account_id)


async def test_login_checks_the_password(app, engine, unique):
    acc, _ = await _account(engine, unique)
    user = await app.login(f"c{unique}", "pw-12345678")
    assert user.identifier == f"c{unique}" and user.metadata["account_id"] == str(acc)
    assert set(user.metadata) == {"account_id", "session_id"}  # the sign-in's session, which logout ends
    assert await app.login(f"c{unique}", "wrong") is None
    assert await app.login(f"nobody{unique}", "pw-12345678") is None


async def test_first_reply_does_not_wait_for_the_workspace(app, engine, database_url, unique):
    acc, _ = await _account(engine, unique)
    chat = Chat(acc, f"c{unique}")
    # Another transaction holds the workspaces table, so creating one has to wait for it.
    with psycopg.connect(sync_url(database_url).replace("+psycopg", "")) as blocker:
        blocker.execute("LOCK TABLE workspaces IN SHARE MODE")
        started = time.monotonic()
        await asyncio.wait_for(app.start(), 2)
        assert time.monotonic() - started < 1.0
        assert "Preparing your workspace" in chat.texts("new_message")[0]
        await asyncio.sleep(0.3)
        assert await _workspaces(engine, acc) == [] and chat.texts("update_message") == []
    shown = await chat.wait_for("update_message", "Workspace: **")
    (ws,) = await _workspaces(engine, acc)
    assert f"Workspace: **{md_text(ws['name'])}**" in shown  # the name as inert markdown


async def _table(engine, account_id, ws, name: str) -> None:
    from db import tables
    from db.schemas import ColumnCreate

    async with transaction(account_id, engine=engine) as conn:
        await tables.create_table(conn, workspace_id=ws["id"], name=name, description="",
                                  columns=[ColumnCreate(name="Title", type="text")])


async def _history(engine, thread_id: str) -> list:
    async with transaction(None, engine=engine) as conn:
        found = (await conn.execute(text("SELECT history FROM agent_histories WHERE thread_id = :t"),
                                    {"t": thread_id})).scalar_one_or_none()
    return found or []


async def test_the_agent_answers_in_the_chats_workspace_and_the_thread_keeps_it(app, engine, unique):
    acc, ws = await _account(engine, unique, workspace=True)
    await _table(engine, acc, ws, f"Books {unique}")
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(ws["name"]))
    chat.session.has_first_interaction = True  # what Chainlit sets when the first message arrives
    await app.on_message(_message("list my tables"))
    reply = await chat.wait_for("new_message", "Your tables")
    assert f"Books {unique}" in reply
    assert any(d.get("name") == "List tables" and d.get("type") == "tool" for k, d in chat.events if k == "new_message")
    async with transaction(None, engine=engine) as conn:
        meta = (await conn.execute(text("SELECT metadata FROM threads WHERE id = :t"),
                                   {"t": chat.session.thread_id})).scalar_one()
    assert meta["workspace_id"] == str(ws["id"]) and meta["workspace_name"] == ws["name"]
    assert "history" not in meta  # the conversation has its own table, not the thread's metadata
    history = await _history(engine, chat.session.thread_id)
    roles = [m["role"] for m in history]
    assert roles[0] == "user" and roles[-1] == "assistant" and len(roles) == 4  # ask, tool call, result, answer
    assert "Books" in json.dumps(history)


async def test_failed_workspace_is_said_and_retried_with_the_next_message(app, engine, unique):
    from ui.chat_history import open_workspace

    assert open_workspace.__kwdefaults__["attempts"] == 4  # 0.5 + 1 + 2 s of backoff before giving up
    account_id = uuid.uuid4()  # no such account yet: every attempt fails
    chat = Chat(account_id, f"late{unique}")
    await app.start()
    await chat.wait_for("update_message", "could not be prepared", timeout=15)
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("INSERT INTO accounts (id, name, password_hash) VALUES (:i, :n, 'x')"),
                           {"i": account_id, "n": f"late{unique}"})
    chat.session.has_first_interaction = True
    await app.on_message(_message("list my tables"))
    (ws,) = await _workspaces(engine, account_id)
    await chat.wait_for("new_message", "There are no tables yet")
    assert f"Workspace: **{md_text(ws['name'])}**" in await chat.wait_for("update_message", md_text(ws["name"]))


async def test_resume_keeps_the_threads_workspace(app, engine, unique):
    acc, ws = await _account(engine, unique, workspace=True)
    await _table(engine, acc, ws, f"Kept {unique}")
    thread_id = str(uuid.uuid4())
    chat = Chat(acc, f"c{unique}", thread_id=thread_id)
    chat.session.has_first_interaction = True
    await app.resume({"id": thread_id, "metadata": {"workspace_id": str(ws["id"]), "workspace_name": ws["name"]},
                      "steps": [], "elements": []})
    await app.on_message(_message("list my tables"))
    assert f"Kept {unique}" in await chat.wait_for("new_message", "Your tables")
    assert len(await _workspaces(engine, acc)) == 1


async def test_resume_moves_off_a_workspace_that_is_not_the_accounts(app, engine, unique):
    from chainlit.user_session import user_sessions

    acc, _ = await _account(engine, unique)
    other, theirs = await _account(engine, "o" + unique, workspace=True)
    await _table(engine, other, theirs, f"Theirs {unique}")
    chat = Chat(acc, f"c{unique}")
    chat.session.has_first_interaction = True
    metadata = {"workspace_id": str(theirs["id"]), "workspace_name": theirs["name"]}
    user_sessions[chat.session.id] = dict(metadata)  # Chainlit restores the metadata before the handler
    await app.resume({"id": chat.session.thread_id, "steps": [], "elements": [], "metadata": metadata})
    notice = await chat.wait_for("new_message", "no longer yours")
    (mine,) = await _workspaces(engine, acc)
    assert md_text(mine["name"]) in notice and md_text(theirs["name"]) not in notice
    await app.on_message(_message("list my tables"))
    await chat.wait_for("new_message", "There are no tables yet")
    assert not any(f"Theirs {unique}" in t for t in chat.texts("new_message"))


def _message(content: str):
    import chainlit as cl

    return cl.Message(content=content, author="user", type="user_message")


def _elements(chat, name: str) -> list[dict]:
    return [d for kind, d in chat.events if kind == "element" and d.get("name") == name]


async def _tables_named(engine, account_id, name: str) -> list:
    from db import tables

    async with transaction(account_id, engine=engine) as conn:
        return [t for t in await tables.list_tables(conn) if t.name == name]


async def test_apply_trusts_only_this_chats_proposals_and_applies_once(app, engine, unique):
    import chainlit as cl

    acc, ws = await _account(engine, unique, workspace=True)
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(ws["name"]))
    chat.session.has_first_interaction = True
    await app.on_message(_message("Create a table of Italian restaurants in Chicago"))
    (shown,) = _elements(chat, "Proposal")
    pid = shown["props"]["proposal_id"]
    assert shown["display"] == "inline" and shown["props"]["status"] == "pending"

    refused = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": str(uuid.uuid4())}))
    assert refused["ok"] is False
    assert await _tables_named(engine, acc, "Italian Restaurants in Chicago") == []

    stranger = Chat(acc, f"c{unique}")  # another chat of the same user knows nothing of this proposal
    assert (await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": pid})))["ok"] is False
    from chainlit.context import init_ws_context

    init_ws_context(chat.session)
    assert await _tables_named(engine, acc, "Italian Restaurants in Chicago") == []
    del stranger

    click = cl.Action(name="proposal_apply", payload={"proposal_id": pid, "unselected": [5, "x", True]})
    first, second = await asyncio.gather(app.on_apply(click), app.on_apply(click))  # a double click
    assert first["ok"] and second["ok"]
    (table,) = await _tables_named(engine, acc, "Italian Restaurants in Chicago")
    final = _elements(chat, "Proposal")[-1]["props"]
    from db import tables

    async with transaction(acc, engine=engine) as conn:
        columns = (await tables.get_table(conn, table.id)).columns
    assert final["status"] == "applied" and final["outcome"]["applied"] == len(columns) == 6  # op 5 unchecked; junk ignored
    assert _elements(chat, "LiveTable")[-1]["props"] == {"table_id": str(table.id), "locked": False, "view_only": False,
                                                        "workspace": ws["name"], "workspace_id": str(ws["id"])}
    await chat.wait_for("new_message", "is created and open beside the chat")
    for _ in range(50):  # the agent's turn is saved with the thread right after its reply
        history = await _history(engine, chat.session.thread_id)
        if "User accepted" in json.dumps(history):
            break
        await asyncio.sleep(0.1)
    async with transaction(None, engine=engine) as conn:
        meta = (await conn.execute(text("SELECT metadata FROM threads WHERE id = :t"),
                                   {"t": chat.session.thread_id})).scalar_one()
    assert meta["active_table_id"] == str(table.id)
    told = [b["text"] for m in history if m["role"] == "user" for b in m["content"]
            if b.get("type") == "text" and "User accepted" in b["text"]]
    assert told == [('[User accepted and created "Italian Restaurants in Chicago" with 3 sample rows. '
                     "It is now the active table, open in the live view.]")]


async def test_every_proposal_button_refuses_another_chats_proposal_in_words(app, engine, unique):
    import chainlit as cl
    from chainlit.context import init_ws_context

    acc, ws = await _account(engine, unique, workspace=True)
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(ws["name"]))
    chat.session.has_first_interaction = True
    await app.on_message(_message("Create a table of Italian restaurants in Chicago"))
    (shown,) = _elements(chat, "Proposal")
    pid = shown["props"]["proposal_id"]

    stranger = Chat(acc, f"c{unique}")  # the same user in another chat
    buttons = {"proposal_apply": app.on_apply, "proposal_done": app.on_done, "proposal_dismiss": app.on_dismiss,
               "proposal_page": app.on_page}
    for name, handler in buttons.items():
        for payload in ({"proposal_id": pid}, {"proposal_id": str(uuid.uuid4())}, {}):
            answer = await handler(cl.Action(name=name, payload=payload))
            assert answer == {"ok": False, "error": "This proposal is not part of this conversation."}, name
    assert not _elements(stranger, "Proposal")
    del stranger

    init_ws_context(chat.session)  # in its own chat, the proposal is still pending and pages as before
    assert await app.on_page(cl.Action(name="proposal_page", payload={"proposal_id": pid, "page": 0})) == {"ok": True}
    assert _elements(chat, "Proposal")[-1]["props"]["status"] == "pending"
    assert await _tables_named(engine, acc, "Italian Restaurants in Chicago") == []


async def test_the_live_view_stays_locked_while_a_proposal_waits_and_a_rest_edit_meanwhile_is_a_conflict(
        app, engine, client, unique):
    """The lock is the chat's live view rule; the REST API may still edit the table, and applying the
    proposal afterwards reports the op on that cell as a conflict and leaves the REST value."""
    import chainlit as cl

    from db import records
    from db import tables as db_tables

    acc, ws = await _account(engine, unique, workspace=True)
    await _table(engine, acc, ws, f"Books {unique}")
    (summary,) = await _tables_named(engine, acc, f"Books {unique}")
    async with transaction(acc, engine=engine) as conn:
        table = await db_tables.get_table(conn, summary.id)
        (rid,) = await records.create_records(conn, table, [{"Title": "Dune"}])
    async with transaction(None, engine=engine) as conn:
        token = await accounts.create_token(conn, account_id=acc, name="rest")
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(ws["name"]))
    chat.session.has_first_interaction = True
    open_it = cl.Action(name="open_table", payload={"table_id": str(table.id)})
    await app.on_open_table(open_it)
    assert _elements(chat, "LiveTable")[-1]["props"]["locked"] is False

    await app.on_message(_message("set Title to Emma for all rows"))
    (shown,) = _elements(chat, "Proposal")
    pid = shown["props"]["proposal_id"]
    assert shown["props"]["status"] == "pending"
    assert _elements(chat, "LiveTable")[-1]["props"]["locked"] is True
    await app.on_message(_message("/tables"))  # /tables → Open while the proposal waits
    await app.on_open_table(open_it)
    assert _elements(chat, "LiveTable")[-1]["props"]["locked"] is True

    headers = {"Authorization": f"Bearer {token}"}
    page = (await client.get(f"/tables/{table.id}/records", headers=headers)).json()
    cell = page["items"][0]["cells"][str(table.columns[0].id)]
    edited = await client.patch(f"/tables/{table.id}/records/{rid}/cells/Title",
                                json={"value": "Solaris", "version": cell["version"]}, headers=headers)
    assert edited.status_code == 200  # the lock is the live view's rule, not the API's

    answer = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": pid}))
    final = _elements(chat, "Proposal")[-1]["props"]
    assert answer["ok"] is False and final["status"] in ("stale", "failed")
    (result,) = final["results"]
    assert result["ok"] is False and result["conflict"] is True
    async with transaction(acc, engine=engine) as conn:
        (row,) = await records.get_records(conn, table, [rid])
    assert row.cells[str(table.columns[0].id)].value == "Solaris"  # never silently overwritten
    assert _elements(chat, "LiveTable")[-1]["props"]["locked"] is False  # nothing waits any more


async def test_a_busy_notice_is_removed_once_claude_answers(app, engine, unique, monkeypatch):
    from fakes.agent_kit import ScriptedModel, text, turn

    from agent.model import ModelError

    acc, ws = await _account(engine, unique, workspace=True)
    busy = ModelError("Overloaded", retryable=True, retry_after=0, status=529, kind="overloaded_error")
    monkeypatch.setattr("ui.common._model", ScriptedModel(busy, turn(text("Here you are."))))
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", md_text(ws["name"]))
    chat.session.has_first_interaction = True
    await app.on_message(_message("hi"))
    (notice,) = [d for kind, d in chat.events if kind == "new_message" and "Claude is busy" in d.get("output", "")]
    assert [d["id"] for kind, d in chat.events if kind == "delete_message"] == [notice["id"]]
    assert any("Here you are." in d.get("output", "") for kind, d in chat.events if kind in ("new_message",
                                                                                               "stream_start"))
