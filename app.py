"""The Chainlit entry of tablechat: password login, a workspace per chat, history kept in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import chainlit as cl
from chainlit.data import get_data_layer
from chainlit.input_widget import TextInput
from chainlit.server import app as server
from chainlit.types import ThreadDict

from core import chat_history
from core.settings import get_settings
from db import accounts
from db.engine import transaction

log = logging.getLogger("tablechat.app")

# Chainlit checks the secret right after importing this file, and signs every login cookie with it.
os.environ.setdefault("CHAINLIT_AUTH_SECRET", get_settings().auth_secret())


def _mount_api() -> None:
    """Serve the REST API from the same process, when it is there."""
    try:
        from api.mount import mount_api
    except ModuleNotFoundError as exc:
        if exc.name not in ("api.mount", "api"):
            raise
        return
    mount_api(server)


_mount_api()


@cl.data_layer
def data_layer() -> chat_history.ChatHistory:
    url = get_settings().database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the app with `tablechat run`")
    return chat_history.ChatHistory(url)


@cl.password_auth_callback
async def login(username: str, password: str) -> cl.User | None:
    async with transaction(None) as conn:
        account = await accounts.authenticate(conn, name=username, password=password)
    if account is None:
        return None
    return cl.User(identifier=account["name"], metadata={"account_id": str(account["id"])})


@cl.on_chat_start
async def start() -> None:
    welcome = cl.Message(content=_welcome(None))
    await welcome.send()
    cl.user_session.set("welcome", welcome)
    _attach_workspace()  # in the background: the greeting above must not wait for the database


@cl.on_chat_resume
async def resume(thread: ThreadDict) -> None:
    metadata = thread.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    # Chainlit has already put the thread's metadata (workspace_id, workspace_name) in the user session;
    # this checks the workspace still belongs to the account, and finds another one if not.
    _attach_workspace(prefer=metadata.get("workspace_id"))


@cl.on_message
async def on_message(message: cl.Message) -> None:
    workspace = await _workspace(wait=3.0)
    if workspace is None:
        reply = ("Your workspace is still being prepared; its name will appear at the top of this chat. "
                 "The table assistant is not connected yet, so nothing was changed.")
    else:
        reply = (f"This chat works in workspace **{workspace['workspace_name']}**. The table assistant is "
                 "not connected yet, so nothing was changed; your message is kept in this chat's history.")
        await _save_to_thread()
    await cl.Message(content=reply).send()


def _welcome(name: str | None, *, failed: bool = False) -> str:
    intro = "Welcome to **tablechat**: describe the data you want to keep and we will build the table together."
    if failed:
        return f"{intro}\n\nYour workspace could not be prepared just now; it will be tried again with your next message."
    if name is None:
        return f"{intro}\n\nPreparing your workspace…"
    return f"{intro}\n\nWorkspace: **{name}**"


def _attach_workspace(*, prefer: str | None = None) -> asyncio.Task:
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
            welcome.content = _welcome(None, failed=True)
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
        welcome.content = _welcome(ws["name"])
        await welcome.update()
    elif previous and previous != workspace["workspace_id"]:
        await cl.Message(content=f"This chat's workspace is no longer yours; it now works in workspace "
                                 f"**{ws['name']}**.").send()
    await _save_to_thread()
    return workspace


async def _workspace(wait: float) -> dict[str, Any] | None:
    """This chat's workspace, waiting at most `wait` seconds for it; a failed attempt starts again."""
    task: asyncio.Task | None = cl.user_session.get("workspace_task")
    if task is None or (task.done() and (task.cancelled() or task.result() is None)):
        task = _attach_workspace(prefer=cl.user_session.get("workspace_id"))
    done, _ = await asyncio.wait({task}, timeout=wait)
    return task.result() if done else None


async def _save_to_thread() -> None:
    """Note the workspace in the thread's metadata, which exists from the first user message on."""
    workspace_id = cl.user_session.get("workspace_id")
    if not workspace_id or not cl.context.session.has_first_interaction:
        return
    if cl.user_session.get("workspace_saved") == workspace_id:
        return
    metadata = {key: cl.user_session.get(key) for key in chat_history.WORKSPACE_KEYS}
    await get_data_layer().update_thread(cl.context.session.thread_id, metadata=metadata)
    cl.user_session.set("workspace_saved", workspace_id)
