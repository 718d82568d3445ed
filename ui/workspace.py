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


def welcome_text(name: str | None, *, failed: bool = False) -> str:
    intro = "Welcome to **tablechat**: describe the data you want to keep and we will build the table together."
    if get_settings().llm_kind == "offline":
        intro += ("\n\nNo Anthropic API key is set, so answers come from the built-in **offline model**, which "
                  "understands a fixed set of requests (say “help” to see them).")
    if failed:
        return f"{intro}\n\nYour workspace could not be prepared just now; it will be tried again with your next message."
    if name is None:
        return f"{intro}\n\nPreparing your workspace…"
    return f"{intro}\n\nWorkspace: **{md_text(name)}**"


def attach_workspace(*, prefer: str | None = None) -> asyncio.Task:
    task = asyncio.create_task(_settle_workspace(prefer))
    cl.user_session.set("workspace_task", task)
    return task


async def _settle_workspace(prefer: str | None) -> dict[str, Any] | None:
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
    workspace = {"workspace_id": str(ws["id"]), "workspace_name": ws["name"]}
    for key, value in workspace.items():
        cl.user_session.set(key, value)
    # The settings panel (gear in the composer) keeps the name in reach once the greeting scrolls away.
    await cl.ChatSettings([TextInput(id="workspace", label="Workspace", initial=ws["name"], disabled=True,
                                     description="Every table of this chat lives in this workspace.")]).send()
    if welcome is not None:
        welcome.content = welcome_text(ws["name"])
        await welcome.update()
    elif previous and previous != workspace["workspace_id"]:
        cl.user_session.set("active_table_id", None)
        await cl.Message(content=f"This chat's workspace is no longer yours; it now works in workspace "
                                 f"**{md_text(ws['name'])}**.", author=author()).send()
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
