"""Signing in, the starters of the welcome screen, and what opens a chat: a new one or a resumed thread."""

from __future__ import annotations

import json
import logging
from typing import Any

import chainlit as cl
from chainlit.types import ThreadDict

from agent import loop
from db import accounts
from db.engine import transaction
from ui import login_sessions
from ui.common import author, the_model
from ui.job_progress import follow_running
from ui.live_view import commands
from ui.proposal_view import restore_elements
from ui.workspace import attach_workspace, load_history, welcome_text

log = logging.getLogger("tablechat.app")

STARTERS = [
    ("Italian restaurants in Chicago", "Create a table of Italian restaurants in Chicago"),
    ("Track job applications", "Create a table to track job applications"),
    ("A reading list", "Create a table of books to read"),
    ("My tables", "List my tables"),
]


async def warm_up() -> None:
    # the tool schemas and the model (with its SDK: seconds to import) are ready before the first message
    loop.default_tools()
    the_model()


async def login(username: str, password: str) -> cl.User | None:
    async with transaction(None) as conn:
        account = await accounts.authenticate(conn, name=username, password=password)
    if account is None:
        return None
    session_id = await login_sessions.start(account["id"])
    return cl.User(identifier=account["name"],
                   metadata={"account_id": str(account["id"]), login_sessions.SESSION_KEY: session_id})


async def logout(request: Any, _response: Any) -> dict[str, bool]:
    """Chainlit's logout: the cookie's session ends on the server too."""
    await login_sessions.end(request)
    return {"success": True}


async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    return [cl.Starter(label=label, message=message) for label, message in STARTERS]


async def start() -> None:
    # a system message leaves the welcome screen (and its starters) up until the first real exchange
    welcome = cl.Message(content=welcome_text(None), author=author(), type="system_message")
    await welcome.send()
    cl.user_session.set("welcome", welcome)
    await commands()
    attach_workspace()  # in the background: the greeting above must not wait for the database


async def resume(thread: ThreadDict) -> None:
    metadata = thread.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    # Chainlit has already put the thread's metadata (workspace_id, workspace_name, history, active table)
    # in the user session; this checks the workspace still belongs to the account, and finds another one if not.
    attach_workspace(prefer=metadata.get("workspace_id"))
    await load_history(thread["id"])
    await commands()
    await restore_elements(thread.get("elements") or [])
    try:
        await follow_running(thread["id"], thread.get("steps") or [])
    except Exception:  # progress is a courtesy: the thread must open even if this fails
        log.exception("following the running fills of thread %s failed", thread["id"])
