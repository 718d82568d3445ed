"""The workspace each chat works in, the greeting that names it, and what the thread keeps of the chat
(the agent's history, the workspace and the active table) so a resumed chat goes on where it stopped."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import chainlit as cl
from chainlit.data import get_data_layer
from chainlit.input_widget import TextInput

from core.markdown import md_text
from core.settings import get_settings
from db import histories
from db.engine import transaction
from ui import chat_history
from ui.common import author

log = logging.getLogger("tablechat.app")


def describe(ws: dict[str, Any]) -> str:
    """“**swift-blue-river** · 3 tables” (and the role when it is not the user's own)."""
    count = int(ws.get("tables") or 0)
    role = ws.get("role") or "owner"
    shared = f" · you are its {role}" if role != "owner" else ""
    return f"**{md_text(ws['name'])}** · {count} table{'s' if count != 1 else ''}{shared}"


def welcome_text(ws: dict[str, Any] | None, *, failed: bool = False) -> str:
    intro = "Welcome to **tablechat**: describe the data you want to keep and we will build the table together."
    if get_settings().llm_kind == "offline":
        intro += ("\n\nNo Anthropic API key is set, so answers come from the built-in **offline model**, which "
                  "understands a fixed set of requests (say “help” to see them).")
    if failed:
        return f"{intro}\n\nYour workspace could not be prepared just now; it will be tried again with your next message."
    if ws is None:
        return f"{intro}\n\nPreparing your workspace…"
    return (f"{intro}\n\nWorkspace: {describe(ws)}. Every workspace's tables: /tables · switch or rename "
            "workspaces: /workspaces.")


def workspace_actions() -> list[cl.Action]:
    return [cl.Action(name="switch_workspace", label="Switch workspace", payload={}, icon="arrow-left-right"),
            cl.Action(name="new_workspace", label="New workspace", payload={}, icon="plus")]


def attach_workspace(*, prefer: str | None = None, announce: bool = False) -> asyncio.Task:
    """Settle this chat's workspace in the background (`prefer` when the user belongs to it); with
    `announce`, a line says the chat now works in it."""
    task = asyncio.create_task(_settle_workspace(prefer, announce=announce))
    cl.user_session.set("workspace_task", task)
    return task


def note_for_agent(note: str) -> None:
    """Something the agent is told with the user's next message (a switch of workspace, say)."""
    notes = list(cl.user_session.get("agent_notes") or [])
    cl.user_session.set("agent_notes", [*notes, note])


def take_agent_notes() -> list[str]:
    notes = list(cl.user_session.get("agent_notes") or [])
    cl.user_session.set("agent_notes", [])
    return notes


async def show_name(ws: dict[str, Any]) -> None:
    """The workspace's name stays in reach for the whole chat: the settings panel (gear in the composer)
    and the live view's title (the welcome says it first)."""
    await cl.ChatSettings([TextInput(id="workspace", label="Workspace", initial=ws["name"], disabled=True,
                                     description="Every table of this chat lives in this workspace "
                                                 f"(your role: {ws.get('role') or 'owner'}).")]).send()
    shown = cl.user_session.get("live")  # the live view's title, when its table is of this workspace (renamed)
    if shown is not None and shown.props.get("workspace_id") == str(ws["id"]) and shown.props.get("workspace") != ws["name"]:
        shown.props = {**shown.props, "workspace": ws["name"]}
        await shown.update()


async def _settle_workspace(prefer: str | None, *, announce: bool = False) -> dict[str, Any] | None:
    """Find or create this chat's workspace (retried), then show its name and note it on the thread."""
    welcome: cl.Message | None = cl.user_session.get("welcome")
    user = cl.user_session.get("user")
    try:
        ws = await chat_history.open_workspace(user.metadata["account_id"], prefer=prefer)
    except Exception:
        log.exception("no workspace for the chat of %s", getattr(user, "identifier", "?"))
        if welcome is not None:
            welcome.content = welcome_text(None, failed=True)
            await welcome.update()
        return None
    previous = cl.user_session.get("workspace_id")
    workspace = {"workspace_id": str(ws["id"]), "workspace_name": ws["name"], "workspace_role": ws["role"]}
    for key, value in workspace.items():
        cl.user_session.set(key, value)
    await show_name(ws)
    if welcome is not None:
        welcome.content = welcome_text(ws)
        welcome.actions = workspace_actions()
        await welcome.update()
        cl.user_session.set("welcome", None)  # greeted once; later switches are said in a line of their own
    elif announce and previous != workspace["workspace_id"]:
        cl.user_session.set("active_table_id", None)
        await cl.Message(content=f"This chat now works in workspace {describe(ws)}.", author=author()).send()
        note_for_agent(f"(The user switched this chat to workspace “{ws['name']}”, where they are "
                       f"{ws['role']}; its tables are now the ones list_tables shows.)")
    elif previous and previous != workspace["workspace_id"]:
        cl.user_session.set("active_table_id", None)
        await cl.Message(content=f"This chat's workspace is no longer yours; it now works in workspace "
                                 f"**{md_text(ws['name'])}**.", author=author()).send()
        note_for_agent(f"(This chat now works in workspace “{ws['name']}”.)")
    await save_to_thread()
    return workspace


async def workspace(wait: float) -> dict[str, Any] | None:
    """This chat's workspace, waiting at most `wait` seconds for it; a failed attempt starts again."""
    task: asyncio.Task | None = cl.user_session.get("workspace_task")
    if task is None or (task.done() and (task.cancelled() or task.result() is None)):
        task = attach_workspace(prefer=cl.user_session.get("workspace_id"))
    done, _ = await asyncio.wait({task}, timeout=wait)
    return task.result() if done else None


async def workspace_id() -> uuid.UUID | None:
    found = await workspace(wait=10.0)
    return uuid.UUID(found["workspace_id"]) if found else None


async def load_history(thread_id: str) -> None:
    """Put the agent's stored conversation of this thread in the session (older threads kept it in the
    thread's metadata, which Chainlit has already restored)."""
    user = cl.user_session.get("user")
    async with transaction(None) as conn:
        stored = await histories.load(conn, thread_id=thread_id, account_id=user.metadata["account_id"])
    if stored is not None:
        cl.user_session.set("history", stored)


async def save_to_thread(*, history: list[dict] | None = None) -> None:
    """Keep the agent's history in its own table and note the workspace and the active table in the
    thread's metadata (the thread exists from the first user message on), so a resumed chat goes on
    where it stopped."""
    if history is not None:
        user = cl.user_session.get("user")
        async with transaction(None) as conn:
            await histories.save(conn, thread_id=cl.context.session.thread_id,
                                 account_id=user.metadata["account_id"], history=history)
    if not cl.context.session.has_first_interaction:
        return
    metadata: dict[str, Any] = {}
    workspace_id = cl.user_session.get("workspace_id")
    if workspace_id and cl.user_session.get("workspace_saved") != workspace_id:
        metadata |= {key: cl.user_session.get(key) for key in chat_history.WORKSPACE_KEYS}
    active = cl.user_session.get("active_table_id")
    if active != cl.user_session.get("active_saved", ""):
        metadata["active_table_id"] = active
    if not metadata:
        return
    await get_data_layer().update_thread(cl.context.session.thread_id, metadata=metadata)
    if "workspace_id" in metadata:
        cl.user_session.set("workspace_saved", workspace_id)
    cl.user_session.set("active_saved", active)
