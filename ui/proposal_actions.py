"""The buttons of a proposal preview: Apply (Create Table), Done, Dismiss, and paging a long one."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import chainlit as cl

from db import tables as db_tables
from db.engine import transaction
from db.errors import NotFound, ServiceError
from proposals import service, store
from proposals.apply import apply as apply_proposal
from tools import imports
from ui.common import PROGRESS_EVERY_S, account_id, author, int_list, thread_id
from ui.job_progress import follow_jobs
from ui.live_view import lock_live, open_live
from ui.proposal_view import elements, outcome_props, proposal_props
from ui.turn import tell_agent
from ui.workspace import save_to_thread

log = logging.getLogger("tablechat.app")


async def on_apply(action: cl.Action) -> dict[str, Any]:
    """Apply the checked operations of this chat's proposal (the payload is untrusted: re-checked)."""
    payload = action.payload or {}
    pid = str(payload.get("proposal_id", ""))
    element = elements().get(pid)
    if element is None:
        return {"ok": False, "error": "This proposal is not part of this conversation."}
    account = account_id()
    unselected = set(int_list(payload.get("unselected")))
    include_samples = payload.get("include_samples", True) is not False
    total = int(element.props.get("total_ops") or 0)
    selected = [i for i in range(total) if i not in unselected]
    if imports.import_of(account, pid):
        return await _apply_import(element, pid, selected, unselected)
    try:
        async with transaction(account) as conn:
            stored = await store.get(conn, pid, account_id=account, thread_id=thread_id())
            result = await apply_proposal(conn, stored, selected, account, include_sample_rows=include_samples)
            table_name = None
            if result.table_id is not None:
                try:
                    table_name = (await db_tables.get_table(conn, result.table_id)).name
                except NotFound:
                    pass
    except ServiceError as exc:  # the element shows it, keeping the user's checkboxes
        return {"ok": False, "error": exc.message}
    except Exception:
        log.exception("applying proposal %s failed", pid)
        return {"ok": False, "error": "Applying failed unexpectedly; nothing was changed."}

    results = [r.model_dump() for r in result.results]
    outcome = outcome_props(results, result.status, result.message)
    outcome["sample_rows"] = result.sample_rows
    # the preview as the user decided on it (the table has changed since), with each operation's result
    element.props = {**element.props, "status": result.status, "results": results, "outcome": outcome,
                     "unselected": sorted(unselected), "include_samples": include_samples, "error": None}
    await element.update()
    await lock_live(False)
    if result.already_decided or result.status != "applied":
        return {"ok": result.status == "applied", "status": result.status}

    name = table_name or element.props.get("table_name") or ""
    await follow_jobs(account, result.jobs)
    if stored.kind == "schema_create" and result.table_id is not None:
        cl.user_session.set("active_table_id", str(result.table_id))
        await save_to_thread()
        await open_live(result.table_id, name)
        samples = result.sample_rows
        extra = f" with {samples} sample row{'s' if samples != 1 else ''}" if samples else ""
        tell_agent(f'[User accepted and created "{name}"{extra}. It is now the active table, open in the live view.]')
    elif stored.kind == "schema_update":
        await open_live(result.table_id, name)
        tell_agent(f'[User accepted the schema proposal and applied changes to "{name}".]')
    else:
        await open_live(result.table_id, name)  # the agent is told when the user presses Done
    return {"ok": True, "status": result.status}


async def _apply_import(element: cl.CustomElement, pid: str, selected: list[int],
                        unselected: set[int]) -> dict[str, Any]:
    """Create Table of an uploaded file: every row goes in, with a progress message for big files."""
    account = account_id()
    progress = cl.Message(content=f"Importing {element.props.get('import_rows', 0):,} rows…", author=author())
    await progress.send()
    last = [0.0]

    async def report(done: int, total: int) -> None:
        now = asyncio.get_running_loop().time()
        if done < total and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        progress.content = f"Importing… {done:,} of {total:,} rows"
        await progress.update()

    try:
        async with transaction(account) as conn:
            stored = await store.get(conn, pid, account_id=account, thread_id=thread_id())
            done = await imports.apply_import(conn, stored, account, selected, progress=report)
    except ServiceError as exc:
        await progress.remove()
        return {"ok": False, "error": exc.message}
    except Exception:
        log.exception("importing proposal %s failed", pid)
        await progress.remove()
        return {"ok": False, "error": "The import failed unexpectedly; nothing was changed."}
    result = done.result
    progress.content = result.message if result.status == "applied" else f"Nothing was imported: {result.message}"
    await progress.update()
    results = [r.model_dump() for r in result.results]
    outcome = outcome_props(results, result.status, result.message)
    element.props = {**element.props, "status": result.status, "results": results, "outcome": outcome,
                     "unselected": sorted(unselected), "error": None}
    await element.update()
    await lock_live(False)
    if result.already_decided or result.status != "applied":
        return {"ok": result.status == "applied", "status": result.status}
    imports.discard(account, pid, with_upload=True)
    name = element.props.get("table_name") or ""
    cl.user_session.set("active_table_id", str(result.table_id))
    await save_to_thread()
    await open_live(result.table_id, name)
    tell_agent(f'[User accepted and created "{name}" with all {done.rows:,} rows of {done.filename} imported. '
               "It is now the active table, open in the live view.]")
    return {"ok": True, "status": result.status}


async def on_done(action: cl.Action) -> dict[str, Any]:
    """The user has seen a data proposal's results: the agent is told, once."""
    pid = str((action.payload or {}).get("proposal_id", ""))
    element = elements().get(pid)
    if element is None or element.props.get("acknowledged"):
        return {"ok": False}
    account = account_id()
    async with transaction(account) as conn:
        try:
            stored = await store.get(conn, pid, account_id=account, thread_id=thread_id())
        except NotFound:
            return {"ok": False}
    if stored.status != "applied":
        return {"ok": False}
    element.props = {**element.props, "acknowledged": True}
    await element.update()
    results = stored.results or []
    applied = sum(bool(r.get("ok")) for r in results)
    if applied == len(results):
        tell_agent("[User accepted the data proposal and applied all changes.]")
    else:
        tell_agent(f"[User accepted the data proposal and applied {applied} of {len(results)} changes.]")
    return {"ok": True}


async def on_dismiss(action: cl.Action) -> dict[str, Any]:
    """Dismiss: nothing changes and the agent is not told."""
    pid = str((action.payload or {}).get("proposal_id", ""))
    element = elements().get(pid)
    if element is None:
        return {"ok": False}
    account = account_id()
    try:
        async with transaction(account) as conn:
            stored = await store.dismiss(conn, pid, account_id=account, thread_id=thread_id())
    except NotFound:
        return {"ok": False}
    imports.discard(account, pid)
    element.props = {**element.props, "status": stored.status, "error": None,
                     "outcome": element.props.get("outcome") or outcome_props(stored.results or [], stored.status)}
    await element.update()
    await lock_live(False)
    return {"ok": stored.status == "dismissed", "status": stored.status}


async def on_page(action: cl.Action) -> dict[str, Any]:
    """Another page of a long data proposal, keeping the user's checkboxes."""
    payload = action.payload or {}
    pid = str(payload.get("proposal_id", ""))
    element = elements().get(pid)
    if element is None:
        return {"ok": False}
    page = payload.get("page")
    page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 0 else 0
    account = account_id()
    try:
        async with transaction(account) as conn:
            stored = await store.get(conn, pid, account_id=account, thread_id=thread_id())
            preview = await service.render(conn, stored, page=page)
    except NotFound:
        return {"ok": False}
    keep = {**element.props, "unselected": int_list(payload.get("unselected")),
            "include_samples": payload.get("include_samples", True) is not False}
    element.props = proposal_props(preview.model_dump(mode="json"), element_id=element.id, keep=keep)
    await element.update()
    return {"ok": True}
