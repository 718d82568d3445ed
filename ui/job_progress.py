"""The progress message of each AI fill job, its Stop button, and Retry failed in the live view. Every call
into the fill jobs the UI makes is in this module."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from typing import Any

import chainlit as cl

import jobs
from core.markdown import md_text
from db.engine import transaction
from db.errors import NotFound, ServiceError
from db.tables import get_table
from tools import ai
from tools.base import ToolContext
from ui.common import PROGRESS_EVERY_S, account_id, as_uuid, author, thread_id
from ui.live_view import is_locked
from ui.workspace import workspace_id

log = logging.getLogger("tablechat.app")

FOLLOWERS: dict[str, tuple[asyncio.Task, cl.Message]] = {}  # by job id: one follower per job in this process
JOB_KEY = "fill_job_id"  # in a progress message's metadata: which job it follows


def _stop_button(jid: str) -> cl.Action:
    # one id per job: a page that kept its buttons through a reconnect (to this process or another) has its
    # old Stop taken away before the follower sends it again (ui/session.py, the chat resumed)
    return cl.Action(id=f"stop-job-{jid}", name="stop_job", label="Stop", icon="square", payload={"job_id": jid},
                     tooltip="Stop: the cells not computed yet go back to what they were; computed ones stay")


def _saved_message(jid: str, steps: list[dict[str, Any]]) -> cl.Message | None:
    """The progress message of job `jid` as the thread saved it (sent by another app process, maybe one
    that has stopped): this process goes on updating that message instead of starting another."""
    for step in steps:
        metadata = step.get("metadata") or {}
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                continue
        if isinstance(metadata, dict) and metadata.get(JOB_KEY) == jid and step.get("id"):
            return cl.Message(id=step["id"], content=step.get("output") or "", author=step.get("name") or author(),
                              metadata={JOB_KEY: jid}, actions=[_stop_button(jid)], parent_id=step.get("parentId"),
                              created_at=step.get("createdAt") or dt.datetime.now(dt.UTC).isoformat())
    return None


def follow_job(job_id: Any, column: str, *, take_over: bool = False,
               steps: list[dict[str, Any]] | None = None) -> asyncio.Task | None:
    """One message per fill job, updated as it moves (≤ 4 times a second), ending with its summary. The
    message is saved on each update (with the job's id), so a reload shows where it got; `take_over` moves
    a job's follower to this session (a reloaded page), still updating the same message: the one this
    process follows, else the one in the thread's saved `steps` (the chat came over from another process)."""
    jid = str(job_id)
    old = FOLLOWERS.get(jid)
    if old is not None and not take_over:
        return None
    if old is not None:
        old[0].cancel()
        msg = old[1]  # its buttons are not part of a resumed thread: sent to this page again (run below)
    elif take_over and (saved := _saved_message(jid, steps or [])) is not None:
        msg = saved
    else:
        msg = cl.Message(content=f"Filling **{md_text(column)}**…", author=author(), actions=[_stop_button(jid)],
                         metadata={JOB_KEY: jid})
    ctx = ToolContext(account_id=account_id())

    async def show(text: str) -> None:
        msg.content = text
        try:
            if msg.created_at is None:
                await msg.send()
            else:
                await msg.update()
        except Exception:  # the browser may be gone; the database keeps the job's truth
            log.debug("progress of job %s not shown", jid, exc_info=True)

    async def run() -> None:
        if take_over:
            for action in msg.actions:
                try:
                    await action.remove()
                except Exception:
                    log.debug("the old Stop button of job %s not removed", jid, exc_info=True)
                action.forId = None  # sent again with the next update
        try:
            await ai.follow_job(ctx, jid, column, show, interval_s=PROGRESS_EVERY_S)
        except Exception:
            log.exception("following job %s failed", jid)
            return
        try:  # the job is over: its Stop button goes, a Revert button comes (its change set is the job)
            await msg.remove_actions()
            undo = cl.Action(name="revert_change", label="Revert", icon="undo-2", payload={"change_id": jid},
                             tooltip="Revert this fill: its cells go back to what they were (shown first, to apply)")
            msg.actions = [undo]
            await undo.send(for_id=msg.id)
        except Exception:
            log.debug("the buttons of job %s not changed", jid, exc_info=True)

    # the task inherits this session's context, so its updates reach this session's browser
    task = asyncio.create_task(run())
    FOLLOWERS[jid] = (task, msg)  # a task nobody holds may be garbage-collected mid-run
    task.add_done_callback(lambda t: FOLLOWERS.pop(jid) if FOLLOWERS.get(jid, (None,))[0] is t else None)
    return task


async def on_stop_job(action: cl.Action) -> dict[str, Any]:
    """The Stop button of a progress message: the job is cancelled (its follower then shows how it
    ended). The payload is untrusted: a job outside this user's workspaces is not found."""
    job_id = as_uuid((action.payload or {}).get("job_id"))
    if job_id is None:
        return {"ok": False, "error": "Which fill to stop was not understood; reload the page."}
    try:
        async with transaction(account_id()) as conn:
            job = await jobs.cancel(conn, job_id)
        await jobs.tell(job)
    except NotFound:
        return {"ok": False, "error": "This fill was not found in your workspace."}
    except ServiceError as exc:  # a viewer of the workspace: refused, the fill goes on
        return {"ok": False, "error": exc.message}
    except Exception:
        log.exception("stopping job %s failed", job_id)
        return {"ok": False, "error": "Stopping failed unexpectedly; the fill goes on."}
    return {"ok": True, "status": job.status}


async def on_retry_failed(action: cl.Action) -> dict[str, Any]:
    """Retry failed in the live view: the column's failed cells are filled again as a fill of this chat,
    followed by a progress message like any other. The payload is untrusted: the table must be in this
    chat's workspace and the column an AI column."""
    if is_locked():
        return {"ok": False, "error": "Editing is paused while a proposal is open: apply or dismiss it first."}
    payload = action.payload or {}
    table_id, column_id = as_uuid(payload.get("table_id")), as_uuid(payload.get("column_id"))
    if table_id is None or column_id is None:
        return {"ok": False, "error": "Which column to retry was not understood; reload the page."}
    try:
        async with transaction(account_id()) as conn:
            table = await get_table(conn, table_id)
            if table.workspace_id != await workspace_id():
                return {"ok": False, "error": "That table is not in this chat's workspace."}
            column = jobs.ai_column(table, column_id)
            job = await jobs.start_fill(conn, table, column.id, "failed", thread_id=thread_id())
    except ServiceError as exc:
        return {"ok": False, "error": exc.message}
    except Exception:
        log.exception("retrying the failed cells of column %s failed", column_id)
        return {"ok": False, "error": "Retrying failed unexpectedly; nothing was started."}
    await jobs.tell(job)
    if job.total:
        follow_job(job.id, column.name)
    return {"ok": True, "total": job.total, "job_id": str(job.id)}


async def follow_running(thread: str, steps: list[dict[str, Any]] | None = None) -> None:
    """After a reload, here or on another app process: the thread's fills still running are followed in
    this session, each in its own progress message (found in the thread's saved `steps`)."""
    account = account_id()
    async with transaction(account) as conn:
        ids = await jobs.running_jobs(conn, thread)
    await follow_jobs(account, ids, take_over=True, steps=steps)


async def follow_jobs(account: uuid.UUID, job_ids: list[str], *, take_over: bool = False,
                      steps: list[dict[str, Any]] | None = None) -> None:
    if not job_ids:
        return
    async with transaction(account) as conn:
        for jid in job_ids:
            job = await jobs.get_job(conn, jid)
            follow_job(job.id, await jobs.column_name(conn, job), take_over=take_over, steps=steps)
