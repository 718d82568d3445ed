"""The Chainlit entry of tablechat: login, a workspace per chat, the agent's replies with their proposal
previews, the live view of the active table, and chat history kept in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from typing import Any

import chainlit as cl
from chainlit.data import get_data_layer
from chainlit.input_widget import TextInput
from chainlit.server import app as server
from chainlit.server import get_html_template, sio
from chainlit.types import ThreadDict

from agent import loop
from agent.factory import make_model
from api import security
from core import chat_history
from core.settings import get_settings
from db import accounts, histories
from db import tables as db_tables
from db.engine import transaction
from db.errors import NotFound, ServiceError
from proposals import service, store
from proposals.apply import apply as apply_proposal
from tools import ai, imports
from tools.base import AnalysisEvent, FileEvent, JobEvent, ProposalEvent, ToolContext, ToolError
from worker import jobs as ai_jobs

log = logging.getLogger("tablechat.app")

# Chainlit checks the secret right after importing this file, and signs every login cookie with it.
os.environ.setdefault("CHAINLIT_AUTH_SECRET", get_settings().auth_secret())

OFFLINE_AUTHOR = "tablechat (offline model)"
STEP_OUTPUT_MAX = 2000
TOOL_LABELS = {"list_tables": "List tables", "get_table": "Look at the table", "query_rows": "Query rows",
               "propose_schema": "Propose a schema", "propose_data": "Propose data changes",
               "analyze_table": "Analyse the table", "export_table": "Export the table",
               "propose_import": "Propose an import", "fill_column": "Fill an AI column",
               "enrich_column": "Enrich a column"}
PROGRESS_EVERY_S = 0.25  # progress messages update at most four times a second
STARTERS = [
    ("Italian restaurants in Chicago", "Create a table of Italian restaurants in Chicago"),
    ("Track job applications", "Create a table to track job applications"),
    ("A reading list", "Create a table of books to read"),
    ("My tables", "List my tables"),
]


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
# origin checks, CORS, CSP and the other headers, Secure cookies, login throttling: docs/security.md
security.install(server, socket_server=sio, index_html=get_html_template("").encode())


@cl.data_layer
def data_layer() -> chat_history.ChatHistory:
    url = get_settings().database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the app with `tablechat run`")
    return chat_history.ChatHistory(url)


@cl.on_app_startup
async def warm_up() -> None:
    # the tool schemas and the model (with its SDK: seconds to import) are ready before the first message
    loop.default_tools()
    _the_model()


@cl.password_auth_callback
async def login(username: str, password: str) -> cl.User | None:
    async with transaction(None) as conn:
        account = await accounts.authenticate(conn, name=username, password=password)
    if account is None:
        return None
    return cl.User(identifier=account["name"], metadata={"account_id": str(account["id"])})


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    return [cl.Starter(label=label, message=message) for label, message in STARTERS]


@cl.on_chat_start
async def start() -> None:
    # a system message leaves the welcome screen (and its starters) up until the first real exchange
    welcome = cl.Message(content=_welcome(None), author=_author(), type="system_message")
    await welcome.send()
    cl.user_session.set("welcome", welcome)
    await _commands()
    _attach_workspace()  # in the background: the greeting above must not wait for the database


@cl.on_chat_resume
async def resume(thread: ThreadDict) -> None:
    metadata = thread.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    # Chainlit has already put the thread's metadata (workspace_id, workspace_name, history, active table)
    # in the user session; this checks the workspace still belongs to the account, and finds another one if not.
    _attach_workspace(prefer=metadata.get("workspace_id"))
    await _load_history(thread["id"])
    await _commands()
    await _restore_elements(thread.get("elements") or [])
    try:
        await _follow_running(thread["id"])
    except Exception:  # progress is a courtesy: the thread must open even if this fails
        log.exception("following the running fills of thread %s failed", thread["id"])


@cl.on_message
async def on_message(message: cl.Message) -> None:
    if message.command == "tables" or message.content.strip().lower() == "/tables":
        await _list_tables()
        return
    files = [e for e in message.elements or [] if getattr(e, "path", None)]
    notes = [note for f in files if (note := await _receive_upload(f)) is not None]
    if files and not notes:
        return  # every file was refused, and the user was told why: nothing for the agent to do
    await _run_turn("\n".join([*notes, message.content]).strip())


async def _receive_upload(file: Any) -> str | None:
    """Keep an uploaded file for an import, or tell the user why it is not a table (nothing is kept)."""
    name = file.name or "upload"
    progress = cl.Message(content=f"Reading **{name}**…", author=_author())
    await progress.send()
    try:
        upload = await asyncio.to_thread(imports.receive_upload, _account_id(), name, file.path)
    except ServiceError as exc:
        progress.content = f"**{name}** could not be imported: {exc.message}"
        await progress.update()
        return None
    progress.content = f"Read **{name}**: {upload.rows:,} rows, {len(upload.columns)} columns."
    await progress.update()
    active = await _active_table_name()
    return upload.note(active)


async def _active_table_name() -> str | None:
    table_id = _uuid(cl.user_session.get("active_table_id"))
    if table_id is None:
        return None
    try:
        async with transaction(_account_id()) as conn:
            return (await db_tables.get_table(conn, table_id)).name
    except NotFound:
        return None


# -- the agent's turn ---------------------------------------------------------------------------------


def _author() -> str:
    return OFFLINE_AUTHOR if get_settings().llm_kind == "offline" else "tablechat"


_model = None


def _the_model() -> Any:
    global _model
    if _model is None:
        _model = make_model()
    return _model


class ChatSink:
    """The agent's output as Chainlit sees it: a streamed reply, a step per tool call, proposal previews."""

    def __init__(self) -> None:
        self.reply = cl.Message(content="", author=_author())
        self.steps: dict[str, cl.Step] = {}
        self.proposals: list[ProposalEvent] = []
        self.sent = ""  # the turn's text already sent in earlier messages (see finish_text)

    async def on_text(self, delta: str) -> None:
        await self.reply.stream_token(delta)

    async def on_replace_text(self, text: str) -> None:
        if self.sent and text.startswith(self.sent):  # what earlier messages show is not repeated
            text = text[len(self.sent):].lstrip("\n")
        if text:
            await self.reply.stream_token(text, is_sequence=True)
        elif self.reply.content:
            self.reply.content = ""
            await self.reply.update()

    async def on_tool_start(self, id: str, name: str, input: dict) -> None:
        step = cl.Step(name=TOOL_LABELS.get(name, name), type="tool", show_input="json")
        step.input = input
        self.steps[id] = step
        await step.send()

    async def on_tool_end(self, id: str, name: str, result: Any) -> None:
        step = self.steps.pop(id, None)
        if step is None:
            return
        text = result.text() if hasattr(result, "text") else str(getattr(result, "content", result))
        step.output = text if len(text) <= STEP_OUTPUT_MAX else text[: STEP_OUTPUT_MAX - 1] + "…"
        step.is_error = bool(getattr(result, "is_error", False))
        await step.update()

    async def on_error(self, message: str) -> None:
        await cl.Message(content=message, author=_author()).send()

    async def on_notice(self, message: str) -> None:
        await cl.Message(content=f"_{message}_", author=_author()).send()

    async def on_event(self, event: Any) -> None:
        """What a tool shows: a proposal preview, an analysis (table and chart), or a file to download."""
        if isinstance(event, ProposalEvent):
            await self.on_proposal(event)
        elif isinstance(event, AnalysisEvent):
            self.reply.elements.append(cl.Dataframe(name=event.title, data=event.frame, display="inline"))
            if event.figure is not None:
                self.reply.elements.append(cl.Plotly(name=f"Chart: {event.title}", figure=event.figure,
                                                     display="inline"))
        elif isinstance(event, JobEvent):
            await self.finish_text()
            _follow_job(event.job_id, event.column_name)
        elif isinstance(event, FileEvent):
            self.reply.elements.append(cl.File(name=event.name, content=event.content, mime=event.mime,
                                               display="inline"))

    async def on_proposal(self, event: ProposalEvent) -> None:
        """The preview becomes one inline element of the reply; the ones it superseded say so."""
        element = cl.CustomElement(name="Proposal", props={}, display="inline")
        element.props = _proposal_props(event.preview.model_dump(mode="json"), element_id=element.id)
        element.props["fill_estimates"] = ai.fill_estimates(event.preview)
        imported = imports.import_of(_account_id(), event.proposal_id)
        if imported:
            element.props |= {"import_rows": imported["rows"], "import_file": imported["filename"]}
        self.reply.elements.append(element)
        _elements()[str(event.proposal_id)] = element
        for old in event.superseded:
            await _show_decided(str(old), status="superseded")
        self.proposals.append(event)

    async def finish_text(self) -> None:
        """Send what was said so far, so a progress message started now comes after it."""
        if self.reply.content and not self.reply.elements:
            await self.reply.send()
            self.sent += self.reply.content
            self.reply = cl.Message(content="", author=_author())

    async def finish(self) -> None:
        if self.reply.content or self.reply.elements:
            await self.reply.send()


async def _run_turn(text: str) -> None:
    """One agent turn for `text` (a user message or the app's note of a decision); turns never overlap."""
    lock: asyncio.Lock = cl.user_session.get("turn_lock") or asyncio.Lock()
    cl.user_session.set("turn_lock", lock)
    async with lock:
        user = cl.user_session.get("user")
        sink = ChatSink()
        ctx = ToolContext(
            account_id=uuid.UUID(user.metadata["account_id"]),
            workspace_id=_workspace_id,
            thread_id=cl.context.session.thread_id,
            active_table_id=_uuid(cl.user_session.get("active_table_id")),
            emit=sink.on_event,
        )
        history = list(cl.user_session.get("history") or [])
        try:
            result = await loop.run_turn(_the_model(), ctx, history, text, sink)
            history = result.history
        except Exception:
            log.exception("the turn failed")
            await sink.on_error("Something went wrong while answering; please try again.")
        finally:
            await sink.finish()
        cl.user_session.set("history", history)
        await _save_to_thread(history=history)
        if sink.proposals:
            await _lock_live(True)


async def _workspace_id() -> uuid.UUID | None:
    workspace = await _workspace(wait=10.0)
    return uuid.UUID(workspace["workspace_id"]) if workspace else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _tell_agent(note: str) -> None:
    """The user's decision, as a user turn the chat does not show; the agent may carry on from it."""
    asyncio.create_task(_run_turn(note))


# -- proposal previews ----------------------------------------------------------------------------------


class _Elements:
    """This chat's proposal elements by proposal id (the only ones a callback may change). Not a dict:
    Chainlit saves the user session into the thread's metadata, and must leave this out."""

    def __init__(self) -> None:
        self._by_id: dict[str, cl.CustomElement] = {}

    def get(self, proposal_id: str) -> cl.CustomElement | None:
        return self._by_id.get(proposal_id)

    def __setitem__(self, proposal_id: str, element: cl.CustomElement) -> None:
        self._by_id[proposal_id] = element

    def __bool__(self) -> bool:
        return bool(self._by_id)


def _elements() -> _Elements:
    found = cl.user_session.get("proposal_elements")
    if not isinstance(found, _Elements):
        found = _Elements()
        cl.user_session.set("proposal_elements", found)
    return found


def _proposal_props(preview: dict[str, Any], *, element_id: str, keep: dict[str, Any] | None = None,
                    outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the Proposal element renders: the preview, the user's choices, and the outcome once decided."""
    keep = keep or {}
    props = dict(preview)
    props["element_id"] = element_id
    props["unselected"] = [i for i in keep.get("unselected", []) if isinstance(i, int)]
    props["include_samples"] = bool(keep.get("include_samples", True))
    props["acknowledged"] = bool(keep.get("acknowledged", False))
    props["outcome"] = outcome if outcome is not None else keep.get("outcome")
    props["error"] = None
    return props


def _outcome(results: list[dict[str, Any]], status: str, message: str | None = None) -> dict[str, Any]:
    applied = sum(bool(r.get("ok")) for r in results)
    return {"applied": applied, "failed": len(results) - applied, "total": len(results),
            "message": message or _summary(status, applied, len(results))}


def _summary(status: str, applied: int, total: int) -> str:
    if status == "dismissed":
        return "Dismissed; nothing changed"
    if status == "superseded":
        return "Superseded by a newer proposal"
    if status == "stale" and not applied:
        return "Nothing applied: the table changed since this proposal was made"
    if applied == total:
        return f"All {applied} change{'s' if applied != 1 else ''} applied"
    return f"Applied {applied} of {total} — {total - applied} failed"


async def _show_decided(proposal_id: str, *, status: str) -> None:
    """A preview whose proposal was decided elsewhere (superseded, stale) shows that state."""
    element = _elements().get(proposal_id)
    if element is None:
        return
    element.props = {**element.props, "status": status,
                     "outcome": element.props.get("outcome") or _outcome([], status)}
    await element.update()


async def _restore_elements(elements: list[dict[str, Any]]) -> None:
    """After a reload: this chat's previews as the callbacks know them, each brought up to its stored
    state (a proposal may have been decided while no browser was connected), and the live view."""
    found = _elements()
    live = None
    for e in elements:
        props = e.get("props") or {}
        if isinstance(props, str):
            props = json.loads(props)
        if e.get("type") != "custom":
            continue
        element = cl.CustomElement(id=e["id"], name=e["name"], props=props, display=e.get("display") or "inline",
                                   for_id=e.get("forId"))
        if e["name"] == "Proposal" and props.get("proposal_id"):
            found[props["proposal_id"]] = element
        elif e["name"] == "LiveTable":
            live = element
    if live is not None:
        cl.user_session.set("live", live)
    if not found:
        return
    account_id = _account_id()
    async with transaction(account_id) as conn:
        stored = await store.list_by_thread(conn, cl.context.session.thread_id, account_id=account_id)
    for p in stored:
        element = found.get(str(p.id))
        if element is not None and element.props.get("status") != p.status:
            results = p.results or []
            element.props = {**element.props, "status": p.status, "results": results,
                             "outcome": element.props.get("outcome") or _outcome(results, p.status)}
            await element.update()


def _account_id() -> uuid.UUID:
    return uuid.UUID(cl.user_session.get("user").metadata["account_id"])


def _int_list(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)][:100_000]


@cl.action_callback("proposal_apply")
async def on_apply(action: cl.Action) -> dict[str, Any]:
    """Apply the checked operations of this chat's proposal (the payload is untrusted: re-checked)."""
    payload = action.payload or {}
    pid = str(payload.get("proposal_id", ""))
    element = _elements().get(pid)
    if element is None:
        return {"ok": False, "error": "This proposal is not part of this conversation."}
    account_id = _account_id()
    unselected = set(_int_list(payload.get("unselected")))
    include_samples = payload.get("include_samples", True) is not False
    total = int(element.props.get("total_ops") or 0)
    selected = [i for i in range(total) if i not in unselected]
    if imports.import_of(account_id, pid):
        return await _apply_import(element, pid, selected, unselected)
    try:
        async with transaction(account_id) as conn:
            stored = await store.get(conn, pid, account_id=account_id, thread_id=cl.context.session.thread_id)
            result = await apply_proposal(conn, stored, selected, account_id, include_sample_rows=include_samples)
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
    outcome = _outcome(results, result.status, result.message)
    outcome["sample_rows"] = result.sample_rows
    # the preview as the user decided on it (the table has changed since), with each operation's result
    element.props = {**element.props, "status": result.status, "results": results, "outcome": outcome,
                     "unselected": sorted(unselected), "include_samples": include_samples, "error": None}
    await element.update()
    await _lock_live(False)
    if result.already_decided or result.status != "applied":
        return {"ok": result.status == "applied", "status": result.status}

    name = table_name or element.props.get("table_name") or ""
    await _follow_jobs(account_id, result.jobs)
    if stored.kind == "schema_create" and result.table_id is not None:
        cl.user_session.set("active_table_id", str(result.table_id))
        await _save_to_thread()
        await _open_live(result.table_id, name)
        samples = result.sample_rows
        extra = f" with {samples} sample row{'s' if samples != 1 else ''}" if samples else ""
        _tell_agent(f'[User accepted and created "{name}"{extra}. It is now the active table, open in the live view.]')
    elif stored.kind == "schema_update":
        await _open_live(result.table_id, name)
        _tell_agent(f'[User accepted the schema proposal and applied changes to "{name}".]')
    else:
        await _open_live(result.table_id, name)  # the agent is told when the user presses Done
    return {"ok": True, "status": result.status}


async def _apply_import(element: cl.CustomElement, pid: str, selected: list[int],
                        unselected: set[int]) -> dict[str, Any]:
    """Create Table of an uploaded file: every row goes in, with a progress message for big files."""
    account_id = _account_id()
    progress = cl.Message(content=f"Importing {element.props.get('import_rows', 0):,} rows…", author=_author())
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
        async with transaction(account_id) as conn:
            stored = await store.get(conn, pid, account_id=account_id, thread_id=cl.context.session.thread_id)
            done = await imports.apply_import(conn, stored, account_id, selected, progress=report)
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
    outcome = _outcome(results, result.status, result.message)
    element.props = {**element.props, "status": result.status, "results": results, "outcome": outcome,
                     "unselected": sorted(unselected), "error": None}
    await element.update()
    await _lock_live(False)
    if result.already_decided or result.status != "applied":
        return {"ok": result.status == "applied", "status": result.status}
    imports.discard(account_id, pid, with_upload=True)
    name = element.props.get("table_name") or ""
    cl.user_session.set("active_table_id", str(result.table_id))
    await _save_to_thread()
    await _open_live(result.table_id, name)
    _tell_agent(f'[User accepted and created "{name}" with all {done.rows:,} rows of {done.filename} imported. '
                "It is now the active table, open in the live view.]")
    return {"ok": True, "status": result.status}


@cl.action_callback("proposal_done")
async def on_done(action: cl.Action) -> dict[str, Any]:
    """The user has seen a data proposal's results: the agent is told, once."""
    pid = str((action.payload or {}).get("proposal_id", ""))
    element = _elements().get(pid)
    if element is None or element.props.get("acknowledged"):
        return {"ok": False}
    account_id = _account_id()
    async with transaction(account_id) as conn:
        try:
            stored = await store.get(conn, pid, account_id=account_id, thread_id=cl.context.session.thread_id)
        except NotFound:
            return {"ok": False}
    if stored.status != "applied":
        return {"ok": False}
    element.props = {**element.props, "acknowledged": True}
    await element.update()
    results = stored.results or []
    applied = sum(bool(r.get("ok")) for r in results)
    if applied == len(results):
        _tell_agent("[User accepted the data proposal and applied all changes.]")
    else:
        _tell_agent(f"[User accepted the data proposal and applied {applied} of {len(results)} changes.]")
    return {"ok": True}


@cl.action_callback("proposal_dismiss")
async def on_dismiss(action: cl.Action) -> dict[str, Any]:
    """Dismiss: nothing changes and the agent is not told."""
    pid = str((action.payload or {}).get("proposal_id", ""))
    element = _elements().get(pid)
    if element is None:
        return {"ok": False}
    account_id = _account_id()
    try:
        async with transaction(account_id) as conn:
            stored = await store.dismiss(conn, pid, account_id=account_id, thread_id=cl.context.session.thread_id)
    except NotFound:
        return {"ok": False}
    imports.discard(account_id, pid)
    element.props = {**element.props, "status": stored.status, "error": None,
                     "outcome": element.props.get("outcome") or _outcome(stored.results or [], stored.status)}
    await element.update()
    await _lock_live(False)
    return {"ok": stored.status == "dismissed", "status": stored.status}


@cl.action_callback("proposal_page")
async def on_page(action: cl.Action) -> dict[str, Any]:
    """Another page of a long data proposal, keeping the user's checkboxes."""
    payload = action.payload or {}
    pid = str(payload.get("proposal_id", ""))
    element = _elements().get(pid)
    if element is None:
        return {"ok": False}
    page = payload.get("page")
    page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 0 else 0
    account_id = _account_id()
    try:
        async with transaction(account_id) as conn:
            stored = await store.get(conn, pid, account_id=account_id, thread_id=cl.context.session.thread_id)
            preview = await service.render(conn, stored, page=page)
    except NotFound:
        return {"ok": False}
    keep = {**element.props, "unselected": _int_list(payload.get("unselected")),
            "include_samples": payload.get("include_samples", True) is not False}
    element.props = _proposal_props(preview.model_dump(mode="json"), element_id=element.id, keep=keep)
    await element.update()
    return {"ok": True}


# -- AI fill progress -----------------------------------------------------------------------------------


_FOLLOWERS: dict[str, tuple[asyncio.Task, cl.Message]] = {}  # by job id: one follower per job in this process


def _follow_job(job_id: Any, column: str, *, take_over: bool = False) -> asyncio.Task | None:
    """One message per fill job, updated as it moves (≤ 4 times a second), ending with its summary. The
    message is saved on each update, so a reload shows where it got; `take_over` moves a job's follower
    to this session (a reloaded page), still updating the same message."""
    jid = str(job_id)
    old = _FOLLOWERS.get(jid)
    if old is not None and not take_over:
        return None
    if old is not None:
        old[0].cancel()
    if old is not None:
        msg = old[1]
        for action in msg.actions:  # buttons are not part of a resumed thread: send them to this page again
            action.forId = None
    else:
        msg = cl.Message(content=f"Filling **{column}**…", author=_author(), actions=[cl.Action(
            name="stop_job", label="Stop", icon="square", payload={"job_id": jid},
            tooltip="Stop: the cells not computed yet go back to what they were; computed ones stay")])
    ctx = ToolContext(account_id=_account_id())

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
        try:
            await ai.follow_job(ctx, jid, column, show, interval_s=PROGRESS_EVERY_S)
        except Exception:
            log.exception("following job %s failed", jid)
            return
        try:  # the job is over: its Stop button goes
            await msg.remove_actions()
            msg.actions = []
        except Exception:
            log.debug("the Stop button of job %s not removed", jid, exc_info=True)

    # the task inherits this session's context, so its updates reach this session's browser
    task = asyncio.create_task(run())
    _FOLLOWERS[jid] = (task, msg)  # a task nobody holds may be garbage-collected mid-run
    task.add_done_callback(lambda t: _FOLLOWERS.pop(jid) if _FOLLOWERS.get(jid, (None,))[0] is t else None)
    return task


@cl.action_callback("stop_job")
async def on_stop_job(action: cl.Action) -> dict[str, Any]:
    """The Stop button of a progress message: the job is cancelled (its follower then shows how it
    ended). The payload is untrusted: a job outside this user's workspaces is not found."""
    job_id = _uuid((action.payload or {}).get("job_id"))
    if job_id is None:
        return {"ok": False, "error": "Which fill to stop was not understood; reload the page."}
    try:
        job = await ai.cancel_job(ToolContext(account_id=_account_id()), job_id)
    except NotFound:
        return {"ok": False, "error": "This fill was not found in your workspace."}
    except Exception:
        log.exception("stopping job %s failed", job_id)
        return {"ok": False, "error": "Stopping failed unexpectedly; the fill goes on."}
    return {"ok": True, "status": job.status}


@cl.action_callback("live_retry_failed")
async def on_retry_failed(action: cl.Action) -> dict[str, Any]:
    """Retry failed in the live view: the column's failed cells are filled again as a fill of this chat,
    followed by a progress message like any other. The payload is untrusted: the fill_column tool checks
    the table is in this chat's workspace and the column is an AI column."""
    live: cl.CustomElement | None = cl.user_session.get("live")
    if live is not None and live.props.get("locked"):
        return {"ok": False, "error": "Editing is paused while a proposal is open: apply or dismiss it first."}
    payload = action.payload or {}
    table_id, column_id = _uuid(payload.get("table_id")), _uuid(payload.get("column_id"))
    if table_id is None or column_id is None:
        return {"ok": False, "error": "Which column to retry was not understood; reload the page."}
    started: list[JobEvent] = []

    async def collect(event: object) -> None:
        if isinstance(event, JobEvent):
            started.append(event)

    ctx = ToolContext(account_id=_account_id(), workspace_id=_workspace_id,
                      thread_id=cl.context.session.thread_id, emit=collect)
    try:
        result = await ai.fill_column.fn(ctx, ai.FillColumn(table_id=str(table_id), column_id=str(column_id),
                                                            scope="failed"))
    except ToolError as exc:
        return {"ok": False, "error": str(exc)}
    except ServiceError as exc:
        return {"ok": False, "error": exc.message}
    except Exception:
        log.exception("retrying the failed cells of column %s failed", column_id)
        return {"ok": False, "error": "Retrying failed unexpectedly; nothing was started."}
    for event in started:
        _follow_job(event.job_id, event.column_name)
    return {"ok": True, "total": result.content["cells_queued"], "job_id": result.content["job_id"]}


async def _follow_running(thread_id: str) -> None:
    """After a reload: the thread's fills still running are followed in this session."""
    account_id = _account_id()
    async with transaction(account_id) as conn:
        ids = await ai.running_jobs(conn, thread_id)
    await _follow_jobs(account_id, ids, take_over=True)


async def _follow_jobs(account_id: uuid.UUID, job_ids: list[str], *, take_over: bool = False) -> None:
    if not job_ids:
        return
    async with transaction(account_id) as conn:
        for jid in job_ids:
            job = await ai_jobs.get_job(conn, jid)
            _follow_job(job.id, await ai.column_name(conn, job), take_over=take_over)


# -- the live view and the table list -------------------------------------------------------------------


async def _open_live(table_id: Any, name: str) -> None:
    """Show the table in the side view: the same element is refreshed, a new table gets a new one."""
    if table_id is None:
        return
    live: cl.CustomElement | None = cl.user_session.get("live")
    props = {"table_id": str(table_id), "locked": False}
    if live is not None and live.props.get("table_id") == str(table_id):
        live.props = {**live.props, **props, "refresh": uuid.uuid4().hex[:8]}
        await live.update()
        return
    live = cl.CustomElement(name="LiveTable", props=props, display="side")
    cl.user_session.set("live", live)
    await cl.Message(content=f"**{name}** is open in the live view beside the chat (reopen it: LiveTable)", author=_author(),
                     elements=[live]).send()


async def _lock_live(locked: bool) -> None:
    """Editing in the live view is off while a proposal waits for the user."""
    live: cl.CustomElement | None = cl.user_session.get("live")
    if live is None or bool(live.props.get("locked")) == locked:
        return
    live.props = {**live.props, "locked": locked}
    await live.update()


async def _list_tables() -> None:
    workspace = await _workspace(wait=5.0)
    if workspace is None:
        await cl.Message(content="Your workspace is still being prepared; try again in a moment.",
                         author=_author()).send()
        return
    async with transaction(_account_id()) as conn:
        found = await db_tables.list_tables(conn, workspace_id=uuid.UUID(workspace["workspace_id"]))
    if not found:
        await cl.Message(content="There are no tables in this workspace yet. Try “Create a table of Italian "
                                 "restaurants in Chicago”.", author=_author()).send()
        return
    lines = [f"- **{t.name}** — {t.row_count} row{'s' if t.row_count != 1 else ''}" for t in found[:50]]
    actions = [cl.Action(name="open_table", label=f"Open {t.name}", payload={"table_id": str(t.id)})
               for t in found[:50]]
    await cl.Message(content="Your tables:\n" + "\n".join(lines), author=_author(), actions=actions).send()


@cl.action_callback("open_table")
async def on_open_table(action: cl.Action) -> None:
    """Make a table of this chat's workspace the active one and show it."""
    table_id = _uuid((action.payload or {}).get("table_id"))
    workspace = await _workspace(wait=5.0)
    if table_id is None or workspace is None:
        return
    try:
        async with transaction(_account_id()) as conn:
            table = await db_tables.get_table(conn, table_id)
    except NotFound:
        table = None
    if table is None or str(table.workspace_id) != workspace["workspace_id"]:
        await cl.Message(content="That table is not in this chat's workspace.", author=_author()).send()
        return
    cl.user_session.set("active_table_id", str(table.id))
    await _save_to_thread()
    await _open_live(table.id, table.name)


async def _commands() -> None:
    await cl.context.emitter.set_commands([
        {"id": "tables", "icon": "table-2", "description": "List your tables and open one", "button": True,
         "persistent": False},
    ])


# -- the workspace --------------------------------------------------------------------------------------


def _welcome(name: str | None, *, failed: bool = False) -> str:
    intro = "Welcome to **tablechat**: describe the data you want to keep and we will build the table together."
    if get_settings().llm_kind == "offline":
        intro += ("\n\nNo Anthropic API key is set, so answers come from the built-in **offline model**, which "
                  "understands a fixed set of requests (say “help” to see them).")
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
        cl.user_session.set("active_table_id", None)
        await cl.Message(content=f"This chat's workspace is no longer yours; it now works in workspace "
                                 f"**{ws['name']}**.", author=_author()).send()
    await _save_to_thread()
    return workspace


async def _workspace(wait: float) -> dict[str, Any] | None:
    """This chat's workspace, waiting at most `wait` seconds for it; a failed attempt starts again."""
    task: asyncio.Task | None = cl.user_session.get("workspace_task")
    if task is None or (task.done() and (task.cancelled() or task.result() is None)):
        task = _attach_workspace(prefer=cl.user_session.get("workspace_id"))
    done, _ = await asyncio.wait({task}, timeout=wait)
    return task.result() if done else None


async def _load_history(thread_id: str) -> None:
    """Put the agent's stored conversation of this thread in the session (older threads kept it in the
    thread's metadata, which Chainlit has already restored)."""
    user = cl.user_session.get("user")
    async with transaction(None) as conn:
        stored = await histories.load(conn, thread_id=thread_id, account_id=user.metadata["account_id"])
    if stored is not None:
        cl.user_session.set("history", stored)


async def _save_to_thread(*, history: list[dict] | None = None) -> None:
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
