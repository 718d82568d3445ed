"""The Chainlit entry of tablechat: every Chainlit hook, wired to the `ui` package that implements it
(login and starters, the chat turn, proposal buttons, fill progress, the live view, chat history)."""

from __future__ import annotations

import os

import chainlit as cl
from chainlit.server import app as server
from chainlit.server import get_html_template, sio

from api import security
from core.settings import get_settings
from ui import (
    chat_history,
    files_dir,
    job_progress,
    live_view,
    login_sessions,
    proposal_actions,
    session,
    turn,
    workspace_actions,
)
from ui.login_cookie import LOGIN_COOKIE

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
    mount_api(server, login_cookie=LOGIN_COOKIE)


_mount_api()
# several app processes may share this folder: each keeps its files (and removes them) in its own
files_dir.use_own_files_dir()
login_sessions.install()  # every cookie Chainlit accepts must name a session that has not ended
# origin checks, CORS, CSP and the other headers, Secure cookies, login throttling: docs/security.md
security.install(server, socket_server=sio, index_html=get_html_template("").encode())


@cl.data_layer
def data_layer() -> chat_history.ChatHistory:
    url = get_settings().database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the app with `tablechat run`")
    return chat_history.ChatHistory(url)


warm_up = cl.on_app_startup(session.warm_up)
login = cl.password_auth_callback(session.login)
logout = cl.on_logout(session.logout)
starters = cl.set_starters(session.starters)
start = cl.on_chat_start(session.start)
resume = cl.on_chat_resume(session.resume)
on_message = cl.on_message(turn.on_message)

on_apply = cl.action_callback("proposal_apply")(proposal_actions.on_apply)
on_done = cl.action_callback("proposal_done")(proposal_actions.on_done)
on_dismiss = cl.action_callback("proposal_dismiss")(proposal_actions.on_dismiss)
on_page = cl.action_callback("proposal_page")(proposal_actions.on_page)
on_revert = cl.action_callback("proposal_revert")(proposal_actions.on_revert)
on_revert_change = cl.action_callback("revert_change")(proposal_actions.on_revert_change)
on_stop_job = cl.action_callback("stop_job")(job_progress.on_stop_job)
on_retry_failed = cl.action_callback("live_retry_failed")(job_progress.on_retry_failed)
on_open_table = cl.action_callback("open_table")(live_view.on_open_table)
on_switch_workspace = cl.action_callback("switch_workspace")(workspace_actions.on_switch_workspace)
on_switch_to = cl.action_callback("switch_to_workspace")(workspace_actions.on_switch_to)
on_new_workspace = cl.action_callback("new_workspace")(workspace_actions.on_new_workspace)
on_rename_workspace = cl.action_callback("rename_workspace")(workspace_actions.on_rename_workspace)
