"""The buttons of a proposal preview: Apply (Create Table), Done, Dismiss, and paging a long one. What a
decision does and says is decided in proposals/decisions.py; these handlers render it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import chainlit as cl
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import transaction
from db.errors import NotFound, ServiceError
from proposals import decisions, outcome, revert, service, store
from proposals.decisions import Decision
from proposals.store import StoredProposal
from tools.base import ProposalEvent
from ui.common import PROGRESS_EVERY_S, account_id, author, int_list, thread_id
from ui.job_progress import follow_jobs
from ui.live_view import lock_live, open_live
from ui.proposal_view import elements, new_element, proposal_props, show_decided
from ui.turn import tell_agent
from ui.workspace import save_to_thread
from ui.workspace_actions import after_table_change

log = logging.getLogger("tablechat.app")

NOT_HERE = "This proposal is not part of this conversation."
T = TypeVar("T")
Step = Callable[[AsyncConnection, StoredProposal], Awaitable[T]]


class Refused(Exception):
    """A click the handler answers with `answer` and nothing else."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer.get("error", ""))
        self.answer = answer


async def _on_proposal(action: cl.Action, step: Step[T], *,
                       failed: str = "This failed unexpectedly; nothing was changed.") -> tuple[cl.CustomElement, T]:
    """What every proposal button does first: find the preview in this chat, load its proposal for this
    user and chat (anyone else's is not found), and run `step` on it in one transaction."""
    pid = str((action.payload or {}).get("proposal_id", ""))
    element = elements().get(pid)
    if element is None:
        raise Refused({"ok": False, "error": NOT_HERE})
    account = account_id()
    try:
        async with transaction(account) as conn:
            try:
                stored = await store.get(conn, pid, account_id=account, thread_id=thread_id())
            except NotFound:
                raise Refused({"ok": False, "error": NOT_HERE}) from None
            return element, await step(conn, stored)
    except Refused:
        raise
    except ServiceError as exc:  # the element shows it, keeping the user's checkboxes
        raise Refused({"ok": False, "error": exc.message}) from None
    except Exception:
        log.exception("proposal %s: %s failed", pid, action.name)
        raise Refused({"ok": False, "error": failed}) from None


async def _show(element: cl.CustomElement, decision: Decision, **choices: Any) -> None:
    """The preview as the user decided on it (the table has changed since), with each operation's result."""
    element.props = {**element.props, "status": decision.status, "results": decision.results,
                     "outcome": decision.outcome, **choices, "error": None}
    await element.update()
    await lock_live(False)


async def on_apply(action: cl.Action) -> dict[str, Any]:
    """Apply the checked operations of this chat's proposal (the payload is untrusted: re-checked)."""
    payload = action.payload or {}
    unselected = set(int_list(payload.get("unselected")))
    include_samples = payload.get("include_samples", True) is not False
    found = elements().get(str(payload.get("proposal_id", "")))
    rows = found.props.get("import_rows") if found is not None else None
    progress = report = None
    if rows is not None:  # an uploaded file: every row goes in, with a progress message for big files
        progress = cl.Message(content=f"Importing {rows:,} rows…", author=author())
        await progress.send()
        report = _reporter(progress)
    ticks = _Ticker(found, unselected=sorted(unselected), include_samples=include_samples) if found is not None else None
    try:
        element, decision = await _applying(action, ticks, lambda conn, stored: decisions.apply_choice(
            conn, stored, account_id(), unselected=unselected, include_samples=include_samples, progress=report,
            ticks=ticks))
    except Refused as refused:
        if progress is not None:
            await progress.remove()
        if found is not None and "progress" in found.props:  # rolled back: no row was applied after all
            found.props = {k: v for k, v in found.props.items() if k not in ("phase", "progress", "results")}
        return refused.answer
    if progress is not None and decision.progress_line:
        progress.content = decision.progress_line
        await progress.update()
    await _show(element, decision, unselected=sorted(unselected), include_samples=include_samples,
                change_id=decision.change_id or element.props.get("change_id"))
    if decision.already_decided or not decision.applied:
        return {"ok": decision.applied, "status": decision.status}
    if decision.change is not None:  # a table deleted or renamed, or the workspace renamed
        await after_table_change(decision.change, decision.table_id)
        if decision.note:
            tell_agent(decision.note)
        return {"ok": True, "status": decision.status}
    await follow_jobs(account_id(), decision.jobs)
    if decision.activate:
        cl.user_session.set("active_table_id", str(decision.table_id))
        await save_to_thread()
    await open_live(decision.table_id, decision.table_name)
    if decision.note:
        tell_agent(decision.note)
    return {"ok": True, "status": decision.status}


async def _applying(action: cl.Action, ticks: _Ticker | None, step: Step[T]) -> tuple[cl.CustomElement, T]:
    """Apply's step, the rows ticking as it goes; the ticks stop before its outcome is shown."""
    try:
        return await _on_proposal(action, step, failed="Applying failed unexpectedly; nothing was changed.")
    finally:
        if ticks is not None:
            await ticks.stop()


class _Ticker:
    """Rows of the shown page tick ✓/✗ and the bar counts "X of N" as a data proposal's chunks land: at
    most four updates a second, carrying the results of the page's operations only (and the user's
    `choices`, which the page holds only in its own copy of the props until now). A chunk landing sooner
    after the last update is shown once the interval is up, so an apply waiting on its next chunk (rows
    locked by someone else's edit, a slow statement) shows how far it got, not an older count."""

    def __init__(self, element: cl.CustomElement, **choices: Any) -> None:
        self.element, self.choices = element, choices
        self.shown = {r.get("op") for r in element.props.get("rows") or [] if r.get("op") is not None}
        self.results: dict[int, dict[str, Any]] = {}
        self.progress: dict[str, int] | None = None
        self.failed = 0
        self.last = float("-inf")
        self.later: asyncio.Task[None] | None = None
        self.stopped = asyncio.Event()

    async def __call__(self, batch: list[dict[str, Any]], done: int, total: int) -> None:
        self.results.update((r["index"], r) for r in batch if r["index"] in self.shown)
        self.failed += sum(not r["ok"] for r in batch)
        if done >= total or self.stopped.is_set():
            return  # the last chunk's results come with the outcome
        self.progress = {"done": done, "total": total, "failed": self.failed}
        if self.later is not None:
            return  # the update already due shows this chunk too
        wait = self.last + PROGRESS_EVERY_S - asyncio.get_running_loop().time()
        if wait <= 0:
            await self._send()
        else:
            self.later = asyncio.create_task(self._send_after(wait))

    async def _send(self) -> None:
        self.last = asyncio.get_running_loop().time()
        self.element.props = {**self.element.props, **self.choices, "phase": "applying",
                              "results": list(self.results.values()), "progress": self.progress}
        await self.element.update()

    async def _send_after(self, wait: float) -> None:
        try:
            await asyncio.wait_for(self.stopped.wait(), wait)
            return  # the apply ended first: its outcome shows every result
        except TimeoutError:
            pass
        self.later = None
        try:
            await self._send()
        except Exception:  # a count not shown loses nothing: the outcome follows
            log.exception("progress of a proposal's apply could not be shown")

    async def stop(self) -> None:
        """No update after this one returns: what the apply decided is shown next, and last."""
        self.stopped.set()
        if self.later is not None:
            await self.later


def _reporter(progress: cl.Message) -> Callable[[int, int], Awaitable[None]]:
    last = [0.0]

    async def report(done: int, total: int) -> None:
        now = asyncio.get_running_loop().time()
        if done < total and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        progress.content = f"Importing… {done:,} of {total:,} rows"
        await progress.update()

    return report


async def on_done(action: cl.Action) -> dict[str, Any]:
    """The user has seen a data proposal's results: the agent is told, once."""
    async def step(conn: AsyncConnection, stored: StoredProposal) -> Decision | None:
        return decisions.acknowledge(stored)

    try:
        element, decision = await _on_proposal(action, step)
    except Refused as refused:
        return refused.answer
    if decision is None or element.props.get("acknowledged"):
        return {"ok": False}
    element.props = {**element.props, "acknowledged": True}
    await element.update()
    if decision.note:
        tell_agent(decision.note)
    return {"ok": True}


async def on_dismiss(action: cl.Action) -> dict[str, Any]:
    """Dismiss: nothing changes and the agent is not told."""
    try:
        element, decision = await _on_proposal(
            action, lambda conn, stored: decisions.dismiss(conn, stored, account_id()))
    except Refused as refused:
        return refused.answer
    element.props = {**element.props, "status": decision.status, "error": None,
                     "outcome": element.props.get("outcome") or decision.outcome}
    await element.update()
    await lock_live(False)
    return {"ok": decision.status == "dismissed", "status": decision.status}


async def on_page(action: cl.Action) -> dict[str, Any]:
    """Another page of a long data proposal, keeping the user's checkboxes."""
    payload = action.payload or {}
    page = payload.get("page")
    page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 0 else 0
    try:
        element, preview = await _on_proposal(action, lambda conn, stored: service.render(conn, stored, page=page))
    except Refused as refused:
        return refused.answer
    keep = {**element.props, "unselected": int_list(payload.get("unselected")),
            "include_samples": payload.get("include_samples", True) is not False}
    element.props = proposal_props(preview.model_dump(mode="json"), element_id=element.id, keep=keep)
    await element.update()
    return {"ok": True}


async def on_revert(action: cl.Action) -> dict[str, Any]:
    """Revert on an applied proposal: the revert comes as a new proposal below (what comes back green,
    what goes red, changed cells amber), applied only with its own Apply."""
    async def step(conn: AsyncConnection, stored: StoredProposal) -> Any:
        return await revert.propose_revert_of_proposal(conn, stored, account_id=account_id(), thread_id=thread_id())

    try:
        element, (made, _plan, shown) = await _on_proposal(action, step, failed="Preparing the revert failed; "
                                                           "nothing was changed.")
    except Refused as refused:
        return refused.answer
    element.props = {**element.props, "revert_requested": True, "error": None}
    await element.update()
    await _show_revert(made, shown)
    return {"ok": True}


async def _show_revert(made: StoredProposal, shown: Any) -> None:
    """A revert proposal as a new message below, with its preview; the one it superseded says so."""
    event = ProposalEvent(proposal_id=made.id, kind=made.kind, table_id=made.table_id, payload=made.payload,
                          preview=shown, superseded=tuple(made.superseded))
    for old in made.superseded:
        await show_decided(str(old), status="superseded")
    await cl.Message(content=outcome.revert_text(shown.summary), author=author(),
                     elements=[new_element(event)]).send()
    await lock_live(True)


async def on_revert_change(action: cl.Action) -> dict[str, Any]:
    """Revert on a finished fill's progress message: the revert of its change set (the job's id) comes as
    a proposal below. The payload is untrusted: a change outside this user's workspaces is not found."""
    change_id = str((action.payload or {}).get("change_id", ""))
    answer: dict[str, Any]
    try:
        async with transaction(account_id()) as conn:
            made, plan = await revert.propose_revert(conn, change_id, account_id=account_id(), thread_id=thread_id())
            shown = (await revert.preview(conn, plan)).model_copy(update={"proposal_id": str(made.id),
                                                                          "status": made.status})
    except ServiceError as exc:
        answer = {"ok": False, "error": exc.message}
    except Exception:
        log.exception("revert of %s failed", change_id)
        answer = {"ok": False, "error": "Preparing the revert failed unexpectedly; nothing was changed."}
    else:
        await _show_revert(made, shown)
        return {"ok": True}
    await cl.Message(content=f"_{answer['error']}_", author=author()).send()
    return answer
