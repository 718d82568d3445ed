"""The live view of the active table beside the chat, the /tables command and its Open buttons."""

from __future__ import annotations

import uuid
from typing import Any

import chainlit as cl

from core.markdown import md_text
from db import tables as db_tables
from db import workspaces
from db.engine import transaction
from db.errors import NotFound
from proposals import store
from ui.common import account_id, as_uuid, author, thread_id
from ui.workspace import attach_workspace, note_for_agent, save_to_thread, workspace

MAX_LISTED = 50


def live() -> cl.CustomElement | None:
    return cl.user_session.get("live")


def is_locked() -> bool:
    found = live()
    return found is not None and bool(found.props.get("locked"))


async def has_pending_proposal() -> bool:
    """Whether a proposal of this chat waits for the user: the live view's editing lock follows it."""
    account = account_id()
    async with transaction(account) as conn:
        return await store.active(conn, thread_id(), account_id=account) is not None


async def open_live(table_id: Any, name: str) -> None:
    """Show the table in the side view: the same element is refreshed, a new table gets a new one."""
    if table_id is None:
        return
    shown = live()
    async with transaction(account_id()) as conn:
        role = await workspaces.role_for_table(conn, as_uuid(table_id))
    # a viewer's grid reads only (the API and PostgreSQL refuse their writes anyway): said up front
    props = {"table_id": str(table_id), "locked": await has_pending_proposal(), "view_only": role == "viewer",
             "workspace": cl.user_session.get("workspace_name"), "workspace_id": cl.user_session.get("workspace_id")}
    if shown is not None and shown.props.get("table_id") == str(table_id):
        shown.props = {**shown.props, **props, "refresh": uuid.uuid4().hex[:8]}
        await shown.update()
        return
    shown = cl.CustomElement(name="LiveTable", props=props, display="side")
    cl.user_session.set("live", shown)
    await cl.Message(content=f"**{md_text(name)}** is open in the live view beside the chat (reopen it: LiveTable)",
                     author=author(), elements=[shown]).send()


async def lock_live(locked: bool) -> None:
    """Editing in the live view is off while a proposal waits for the user; it comes back on only when
    none does (a decision on an older, superseded proposal leaves the newer one's lock)."""
    shown = live()
    if shown is not None and not locked:
        locked = await has_pending_proposal()
    if shown is None or bool(shown.props.get("locked")) == locked:
        return
    shown.props = {**shown.props, "locked": locked}
    await shown.update()


async def active_table_name() -> str | None:
    table_id = as_uuid(cl.user_session.get("active_table_id"))
    if table_id is None:
        return None
    try:
        async with transaction(account_id()) as conn:
            return (await db_tables.get_table(conn, table_id)).name
    except NotFound:
        return None


async def list_tables() -> None:
    """/tables: the tables of every workspace of the user, grouped, this chat's workspace first; Open on a
    table of another workspace switches the chat to it."""
    found_ws = await workspace(wait=5.0)
    if found_ws is None:
        await cl.Message(content="Your workspace is still being prepared; try again in a moment.",
                         author=author()).send()
        return
    account = account_id()
    async with transaction(account) as conn:
        spaces = await workspaces.list_mine(conn, account)
        found = await db_tables.list_tables(conn)
    current = found_ws["workspace_id"]
    spaces.sort(key=lambda w: str(w["id"]) != current)  # stable: the others stay most recent first
    by_space: dict[str, list[Any]] = {}
    for t in found:
        by_space.setdefault(str(t.workspace_id), []).append(t)
    if not found:
        await cl.Message(content="There are no tables in your workspaces yet. Try “Create a table of Italian "
                                 "restaurants in Chicago”.", author=author()).send()
        return
    lines, actions, shown = [], [], 0
    for ws in spaces:
        tables = by_space.get(str(ws["id"]), [])
        here = " (this chat)" if str(ws["id"]) == current else ""
        lines.append(f"\n**{md_text(ws['name'])}**{here} · {ws['role']}")
        if not tables:
            lines.append("- _no tables yet_")
        for t in tables:
            if shown >= MAX_LISTED:
                break
            shown += 1
            lines.append(f"- **{md_text(t.name)}** — {t.row_count} row{'s' if t.row_count != 1 else ''}")
            actions.append(cl.Action(name="open_table", label=f"Open {t.name}" + ("" if here else f" ({ws['name']})"),
                                     payload={"table_id": str(t.id)}))
    more = len(found) - shown
    tail = f"\n\n…and {more} more." if more > 0 else ""
    await cl.Message(content="Your tables:\n" + "\n".join(lines) + tail, author=author(), actions=actions).send()


async def on_open_table(action: cl.Action) -> None:
    """Make a table the active one and show it; a table of another of the user's workspaces switches the
    chat to that workspace first (said in one line, and told to the agent)."""
    table_id = as_uuid((action.payload or {}).get("table_id"))
    found_ws = await workspace(wait=5.0)
    if table_id is None or found_ws is None:
        return
    try:
        async with transaction(account_id()) as conn:
            table = await db_tables.get_table(conn, table_id)
    except NotFound:
        await cl.Message(content="That table is not in any of your workspaces (it may have been deleted).",
                         author=author()).send()
        return
    if str(table.workspace_id) != found_ws["workspace_id"]:
        switched = await attach_workspace(prefer=str(table.workspace_id))
        if switched is None or switched["workspace_id"] != str(table.workspace_id):
            await cl.Message(content="That table's workspace could not be opened; try again.", author=author()).send()
            return
        name = md_text(switched["workspace_name"])
        await cl.Message(content=f"Switched this chat to workspace **{name}** to open **{md_text(table.name)}**.",
                         author=author()).send()
        note_for_agent(f"(The user switched this chat to workspace “{switched['workspace_name']}” and opened its "
                       f"table “{table.name}” (id {table.id}); list_tables now shows that workspace.)")
    cl.user_session.set("active_table_id", str(table.id))
    await save_to_thread()
    await open_live(table.id, table.name)


async def commands() -> None:
    await cl.context.emitter.set_commands([
        {"id": "tables", "icon": "table-2", "description": "List the tables of all your workspaces and open one",
         "button": True, "persistent": False},
        {"id": "workspaces", "icon": "folders", "description": "Your workspaces: switch to one, rename one",
         "button": True, "persistent": False},
        {"id": "usage", "icon": "receipt", "description": "What the AI columns cost, today and in all",
         "button": False, "persistent": False},
    ])
