"""/workspaces and the workspace buttons: Switch workspace, New workspace (made in the background, the chat
goes on meanwhile), Switch to one, Rename one (its owner types the new name as the next message)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import chainlit as cl

from core.markdown import md_text
from db import workspaces
from db.engine import transaction
from db.errors import ServiceError
from ui.common import account_id, as_uuid, author
from ui.live_view import live, open_live
from ui.workspace import attach_workspace, describe, note_for_agent, save_to_thread, show_name, workspace

log = logging.getLogger("tablechat.app")

RENAMING = "renaming_workspace"


async def list_workspaces() -> None:
    """/workspaces: each workspace with its table count and the user's role, a Switch button for the
    others and a Rename button for those the user owns."""
    current = await workspace(wait=5.0)
    account = account_id()
    async with transaction(account) as conn:
        spaces = await workspaces.list_mine(conn, account)
    here = current["workspace_id"] if current else None
    lines, actions = [], []
    for ws in spaces[:50]:
        mark = " ← this chat" if str(ws["id"]) == here else ""
        lines.append(f"- {describe(ws)}{mark}")
        if str(ws["id"]) != here:
            actions.append(cl.Action(name="switch_to_workspace", label=f"Switch to {ws['name']}",
                                     payload={"workspace_id": str(ws["id"])}))
        if ws["role"] == "owner":
            actions.append(cl.Action(name="rename_workspace", label=f"Rename {ws['name']}",
                                     payload={"workspace_id": str(ws["id"])}))
    actions.append(cl.Action(name="new_workspace", label="New workspace", payload={}))
    await cl.Message(content="Your workspaces (most recently used first):\n" + "\n".join(lines),
                     author=author(), actions=actions).send()


async def on_switch_workspace(_action: cl.Action) -> None:
    await list_workspaces()


async def _mine(workspace_id: uuid.UUID | None) -> dict[str, Any] | None:
    if workspace_id is None:
        return None
    account = account_id()
    async with transaction(account) as conn:
        return next((w for w in await workspaces.list_mine(conn, account) if w["id"] == workspace_id), None)


async def on_switch_to(action: cl.Action) -> None:
    """Switch this chat to one of the user's workspaces (the payload is untrusted: membership is checked)."""
    target = await _mine(as_uuid((action.payload or {}).get("workspace_id")))
    if target is None:
        await cl.Message(content="That workspace is not one of yours.", author=author()).send()
        return
    await attach_workspace(prefer=str(target["id"]), announce=True)


async def on_new_workspace(_action: cl.Action) -> None:
    """A new workspace, made in the background: the chat answers meanwhile and switches once it exists."""
    progress = cl.Message(content="Creating a new workspace…", author=author())
    await progress.send()
    account = account_id()

    async def create() -> dict[str, Any] | None:
        try:
            async with transaction(None) as conn:
                made = await workspaces.create(conn, owner_id=account)
        except Exception:
            log.exception("creating a workspace for %s failed", account)
            progress.content = "The new workspace could not be created just now; nothing changed. Try again."
            await progress.update()
            return None
        progress.content = f"Created workspace **{md_text(made['name'])}**."
        await progress.update()
        return await attach_workspace(prefer=str(made["id"]), announce=True)

    cl.user_session.set("workspace_task", asyncio.create_task(create()))


async def on_rename_workspace(action: cl.Action) -> None:
    target = await _mine(as_uuid((action.payload or {}).get("workspace_id")))
    if target is None:
        await cl.Message(content="That workspace is not one of yours.", author=author()).send()
        return
    if target["role"] != "owner":
        await cl.Message(content=f"Only an owner can rename workspace **{md_text(target['name'])}** "
                                 f"(you are its {target['role']}).", author=author()).send()
        return
    cl.user_session.set(RENAMING, str(target["id"]))
    await cl.Message(content=f"What should workspace **{md_text(target['name'])}** be called? Type the new "
                             "name as your next message (or “cancel”).", author=author()).send()


async def take_rename_reply(text: str) -> bool:
    """When a Rename waits for its name, this message is that name: rename (owners only). True when the
    message was used up here."""
    pending = cl.user_session.get(RENAMING)
    if not pending:
        return False
    cl.user_session.set(RENAMING, None)
    if text.strip().lower() in ("cancel", "/cancel", ""):
        await cl.Message(content="Rename cancelled; nothing changed.", author=author()).send()
        return True
    await rename(uuid.UUID(pending), text)
    return True


async def rename(workspace_id: uuid.UUID, name: str) -> dict[str, Any] | None:
    """Rename a workspace the user owns and say so (a refusal says why and changes nothing)."""
    before = await _mine(workspace_id)
    try:
        async with transaction(account_id()) as conn:
            await workspaces.rename(conn, workspace_id, name)
    except ServiceError as exc:
        await cl.Message(content=f"The workspace was not renamed: {md_text(exc.message, limit=None)}",
                         author=author()).send()
        return None
    after = await _mine(workspace_id)
    if after is None:
        return None
    if cl.user_session.get("workspace_id") == str(workspace_id):
        cl.user_session.set("workspace_name", after["name"])
        cl.user_session.set("workspace_saved", None)  # the thread notes the new name
        await show_name(after)
        note_for_agent(f"(The user renamed this chat's workspace to “{after['name']}”.)")
        await save_to_thread()
    old = md_text(before["name"]) if before else "The workspace"
    await cl.Message(content=f"Workspace **{old}** is now called **{md_text(after['name'])}**.",
                     author=author()).send()
    return after


async def renamed_here(name: str) -> None:
    """The agent renamed this chat's workspace: the name shown everywhere follows."""
    cl.user_session.set("workspace_name", name)
    cl.user_session.set("workspace_saved", None)
    found = await _mine(as_uuid(cl.user_session.get("workspace_id")))
    if found is not None:
        await show_name(found)
    await save_to_thread()


async def after_table_change(change: dict[str, Any], table_id: uuid.UUID | None) -> None:
    """An applied deletion or rename: the chat's workspace name, its active table and the live view follow."""
    action = change.get("action")
    if action == "rename_workspace":
        await renamed_here(str(change.get("new_name")))
        return
    shown = live()
    if action == "delete_table":
        if cl.user_session.get("active_table_id") == str(table_id):
            cl.user_session.set("active_table_id", None)
            await save_to_thread()
        return
    if shown is not None and shown.props.get("table_id") == str(table_id):
        await open_live(table_id, str(change.get("new_name")))  # the view shows the new name
