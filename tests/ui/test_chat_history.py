"""Chat history on real PostgreSQL: what Chainlit writes comes back on resume, and each chat finds its workspace."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from sqlalchemy import text

from db import accounts
from db.engine import transaction


@pytest.fixture(scope="module")
async def history(database_url):
    from ui.chat_history import ChatHistory

    layer = ChatHistory(database_url)
    yield layer
    await layer.close()


def _http_context():
    """A Chainlit context outside a websocket: data-layer calls run at once instead of being queued."""
    from chainlit.context import init_http_context

    init_http_context()


async def _user(history, unique):
    from chainlit.user import User

    return await history.create_user(User(identifier=f"h{unique}", metadata={"account_id": "x"}))


def _step(thread_id: str, output: str, **extra) -> dict:
    step = {"id": str(uuid.uuid4()), "threadId": thread_id, "name": "tablechat", "type": "assistant_message",
            "streaming": False, "output": output, "metadata": {}, "createdAt": "2026-11-21T10:00:00.000Z",
            "start": "2026-11-21T10:00:00.000Z", "end": "2026-11-21T10:00:00.000Z"}
    return step | extra


async def test_thread_with_steps_and_custom_element_comes_back(history, unique):
    from chainlit.element import CustomElement

    _http_context()
    user = await _user(history, unique)
    thread_id = str(uuid.uuid4())
    await history.update_thread(thread_id, name="Bugs", user_id=user.id, metadata={"workspace_id": "w1"})
    # autoCollapse and defaultOpen are sent by Chainlit's Step; without their columns the insert fails silently
    step = _step(thread_id, "Here is the table", autoCollapse=True, defaultOpen=False)
    await history.create_step(step)
    element = CustomElement(name="TablePreview", props={"rows": [{"Name": "a"}], "phase": "review"},
                            for_id=step["id"], thread_id=thread_id, display="inline")
    await history.create_element(element)
    element.props["phase"] = "applied"  # an update re-saves the same row
    await history.create_element(element)

    thread = await history.get_thread(thread_id)
    assert thread["name"] == "Bugs" and thread["userIdentifier"] == user.identifier
    assert thread["metadata"]["workspace_id"] == "w1"
    assert [s["output"] for s in thread["steps"]] == ["Here is the table"]
    (saved,) = thread["elements"]
    assert saved["name"] == "TablePreview" and saved["forId"] == step["id"]
    assert saved["props"] == {"rows": [{"Name": "a"}], "phase": "applied"}
    one = await history.get_element(thread_id, element.id)
    assert one["props"]["phase"] == "applied"

    listed = await history.list_threads(_page(), _filter(user.id))
    assert [t["id"] for t in listed.data] == [thread_id]


async def test_first_element_of_a_new_thread_is_kept(history):
    from chainlit.element import CustomElement

    _http_context()
    thread_id = str(uuid.uuid4())  # no thread row yet: the element arrives first
    element = CustomElement(name="Progress", props={"done": 1}, for_id=str(uuid.uuid4()), thread_id=thread_id)
    await history.create_element(element)
    assert (await history.get_element(thread_id, element.id))["props"] == {"done": 1}


async def test_concurrent_thread_updates_keep_every_key(history, unique):
    user = await _user(history, unique)
    ids = [str(uuid.uuid4()) for _ in range(15)]
    # what happens on a first message: Chainlit names the thread and sets its user while we note the workspace
    await asyncio.gather(*(
        call for tid in ids for call in (
            history.update_thread(tid, name="hello", user_id=user.id),
            history.update_thread(tid, metadata={"workspace_id": "w", "workspace_name": "calm-red-fox"}),
            history.update_thread(tid),
        )
    ))
    for tid in ids:
        thread = await history.get_thread(tid)
        assert thread["name"] == "hello" and thread["userId"] == user.id
        assert thread["metadata"] == {"workspace_id": "w", "workspace_name": "calm-red-fox"}
    await history.update_thread(ids[0], metadata={"workspace_name": None, "chat_profile": "x"})
    assert (await history.get_thread(ids[0]))["metadata"] == {"workspace_id": "w", "chat_profile": "x"}


async def test_history_list_pages_by_latest_activity_and_searches(history, unique):
    user = await _user(history, unique)
    other = await _user(history, "x" + unique)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for n, tid in enumerate(ids):
        await history.update_thread(tid, name=f"chat {n}", user_id=user.id)
        # the oldest thread had the latest message, so it leads the list
        minute = 59 if n == 0 else 10 + n
        _http_context()
        await history.create_step(_step(tid, f"reply {n}" + (" costs 50% less" if n == 3 else ""),
                                        createdAt=f"2026-11-21T10:{minute}:00.000Z"))
    await history.update_thread(str(uuid.uuid4()), name="not mine", user_id=other.id)

    first = await history.list_threads(_page(2), _filter(user.id))
    assert [t["name"] for t in first.data] == ["chat 0", "chat 4"] and first.pageInfo.hasNextPage
    assert all(t["steps"] == [] and t["elements"] == [] for t in first.data)
    rest = await history.list_threads(_page(10, cursor=first.pageInfo.endCursor), _filter(user.id))
    assert [t["name"] for t in rest.data] == ["chat 3", "chat 2", "chat 1"] and not rest.pageInfo.hasNextPage
    found = await history.list_threads(_page(10), _filter(user.id, search="50%"))
    assert [t["name"] for t in found.data] == ["chat 3"]
    assert (await history.list_threads(_page(10), _filter(user.id, search="50_"))).data == []
    assert [t["name"] for t in (await history.list_threads(_page(10), _filter(user.id, search="CHAT 2"))).data] == [
        "chat 2"]


def _page(first: int = 20, cursor: str | None = None):
    from chainlit.types import Pagination

    return Pagination(first=first, cursor=cursor)


def _filter(user_id, search: str | None = None):
    from chainlit.types import ThreadFilter

    return ThreadFilter(userId=user_id, search=search)


async def _claim(engine, workspace_id, user_identifier="someone"):
    """What the app does once a chat has its first message: the thread notes its workspace."""
    async with transaction(None, engine=engine) as conn:
        await conn.execute(
            text("INSERT INTO threads (id, \"userIdentifier\", metadata) VALUES (:t, :u, CAST(:m AS jsonb))"),
            {"t": uuid.uuid4(), "u": user_identifier, "m": f'{{"workspace_id": "{workspace_id}"}}'},
        )


async def test_workspace_for_chat_opens_the_most_recent_then_keeps_the_preferred(engine, unique):
    from db import workspaces
    from ui.chat_history import workspace_for_chat

    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"w{unique}", password="pw-12345678")
        first = await workspace_for_chat(conn, acc)  # a new login's first chat makes its first workspace
        again = await workspace_for_chat(conn, acc)
    assert again["id"] == first["id"] and first["role"] == "owner" and first["tables"] == 0
    await _claim(engine, first["id"])
    async with transaction(None, engine=engine) as conn:
        second = await workspaces.create(conn, owner_id=acc)
        newest = await workspace_for_chat(conn, acc)  # a new chat: the most recent one
        kept = await workspace_for_chat(conn, acc, prefer=first["id"])  # a resumed chat keeps its own
        then = await workspace_for_chat(conn, acc)  # ...and it became the most recent
        names = [w["name"] for w in await accounts.workspaces_of(conn, acc)]
    assert newest["id"] == second["id"] and kept["id"] == first["id"] and then["id"] == first["id"]
    assert names == [first["name"], second["name"]]


async def test_workspace_for_chat_refuses_someone_elses(engine, unique):
    from ui.chat_history import workspace_for_chat

    async with transaction(None, engine=engine) as conn:
        mine = await accounts.create_account(conn, name=f"m{unique}", password="pw-12345678")
        other = await accounts.create_account(conn, name=f"o{unique}", password="pw-12345678")
        theirs = await accounts.create_workspace(conn, owner_id=other)
        got = await workspace_for_chat(conn, mine, prefer=theirs["id"])
        not_a_uuid = await workspace_for_chat(conn, mine, prefer="not-a-uuid")
    assert got["id"] != theirs["id"] and not_a_uuid["id"] == got["id"]


async def test_open_workspace_retries_until_the_database_can_answer(engine, unique, caplog):
    from ui.chat_history import open_workspace

    # The account appears only after the first attempt failed (like a database that comes up late).
    account_id = uuid.uuid4()
    caplog.set_level(logging.WARNING, logger="ui.chat_history")
    task = asyncio.create_task(open_workspace(account_id, engine=engine, first_delay=0.2))
    for _ in range(50):
        if "attempt 1 of 4 failed" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert "attempt 1 of 4 failed" in caplog.text and not task.done()
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text("INSERT INTO accounts (id, name, password_hash) VALUES (:i, :n, 'x')"),
                           {"i": account_id, "n": f"late{unique}"})
    ws = await asyncio.wait_for(task, 10)
    async with transaction(None, engine=engine) as conn:
        assert [w["id"] for w in await accounts.workspaces_of(conn, account_id)] == [ws["id"]]


async def test_open_workspace_gives_up_after_its_attempts(engine):
    from db.errors import Conflict
    from ui.chat_history import open_workspace

    with pytest.raises(Conflict):
        await open_workspace(uuid.uuid4(), engine=engine, attempts=2, first_delay=0.01)
