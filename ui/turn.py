"""The chat turn: a user message (with any uploaded files) goes to the agent, whose reply streams in
with a step per tool call, proposal previews, analyses, files and fill progress."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import chainlit as cl

from agent import loop
from core.markdown import md_block, md_text
from db.errors import ServiceError
from tools import imports
from tools.base import AnalysisEvent, FileEvent, JobEvent, ProposalEvent, ToolContext
from tools.registry import facts
from ui.common import account_id, as_uuid, author, the_model, thread_id
from ui.job_progress import follow_job
from ui.live_view import active_table_name, list_tables, lock_live
from ui.proposal_view import new_element, show_decided
from ui.usage import show_usage
from ui.workspace import save_to_thread, take_agent_notes, workspace_id
from ui.workspace_actions import list_workspaces, take_rename_reply

log = logging.getLogger("tablechat.app")

STEP_OUTPUT_MAX = 2000



class ChatSink:
    """The agent's output as Chainlit sees it: a streamed reply, a step per tool call, proposal previews."""

    def __init__(self) -> None:
        self.reply = cl.Message(content="", author=author())
        self.steps: dict[str, cl.Step] = {}
        self.proposals: list[ProposalEvent] = []
        self.sent = ""  # the turn's text already sent in earlier messages (see finish_text)
        self.status: cl.Message | None = None  # a passing state (Claude is busy), removed when it is over

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
        step = cl.Step(name=facts(name).label, type="tool", show_input="json")
        step.input = input
        self.steps[id] = step
        await step.send()

    async def on_tool_end(self, id: str, name: str, result: Any) -> None:
        step = self.steps.pop(id, None)
        if step is None:
            return
        text = result.text() if hasattr(result, "text") else str(getattr(result, "content", result))
        text = text if len(text) <= STEP_OUTPUT_MAX else text[: STEP_OUTPUT_MAX - 1] + "…"
        # the step shows its output as markdown, and a result quotes user names and values: a code block
        step.output = md_block(text, info="json" if text.startswith(("{", "[")) else "")
        step.is_error = bool(getattr(result, "is_error", False))
        await step.update()

    async def on_error(self, message: str) -> None:
        await cl.Message(content=message, author=author()).send()

    async def on_notice(self, message: str) -> None:
        await cl.Message(content=f"_{message}_", author=author()).send()

    async def on_status(self, text: str | None) -> None:
        if text is None:
            if self.status is not None:
                await self.status.remove()
                self.status = None
        elif self.status is None:
            self.status = cl.Message(content=f"_{text}_", author=author())
            await self.status.send()
        else:
            self.status.content = f"_{text}_"
            await self.status.update()

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
            follow_job(event.job_id, event.column_name)
        elif isinstance(event, FileEvent):
            self.reply.elements.append(cl.File(name=event.name, content=event.content, mime=event.mime,
                                               display="inline"))

    async def on_proposal(self, event: ProposalEvent) -> None:
        """The preview becomes one inline element of the reply; the ones it superseded say so."""
        self.reply.elements.append(new_element(event))
        for old in event.superseded:
            await show_decided(str(old), status="superseded")
        self.proposals.append(event)

    async def finish_text(self) -> None:
        """Send what was said so far, so a progress message started now comes after it."""
        if self.reply.content and not self.reply.elements:
            await self.reply.send()
            self.sent += self.reply.content
            self.reply = cl.Message(content="", author=author())

    async def finish(self) -> None:
        await self.on_status(None)  # a turn that broke off mid-retry leaves no "trying again" behind
        if self.reply.content or self.reply.elements:
            await self.reply.send()


async def on_message(message: cl.Message) -> None:
    said = message.content.strip().lower()
    if message.command == "tables" or said == "/tables":
        await list_tables()
        return
    if message.command == "usage" or said == "/usage":
        await show_usage()
        return
    if message.command == "workspaces" or said == "/workspaces":
        await list_workspaces()
        return
    if not message.elements and await take_rename_reply(message.content):
        return
    files = [e for e in message.elements or [] if getattr(e, "path", None)]
    notes = [note for f in files if (note := await _receive_upload(f)) is not None]
    if files and not notes:
        return  # every file was refused, and the user was told why: nothing for the agent to do
    await run_turn("\n".join([*notes, message.content]).strip())


async def _receive_upload(file: Any) -> str | None:
    """Keep an uploaded file for an import, or tell the user why it is not a table (nothing is kept)."""
    name = file.name or "upload"
    shown = md_text(name)  # the file's name is the uploader's text: inert in the markdown message
    progress = cl.Message(content=f"Reading **{shown}**…", author=author())
    await progress.send()
    try:
        upload = await asyncio.to_thread(imports.receive_upload, account_id(), name, file.path)
    except ServiceError as exc:
        progress.content = f"**{shown}** could not be imported: {md_text(exc.message, limit=None)}"
        await progress.update()
        return None
    progress.content = f"Read **{shown}**: {upload.rows:,} rows, {len(upload.columns)} columns."
    await progress.update()
    return upload.note(await active_table_name())


async def run_turn(text: str) -> None:
    """One agent turn for `text` (a user message or the app's note of a decision); turns never overlap."""
    lock: asyncio.Lock = cl.user_session.get("turn_lock") or asyncio.Lock()
    cl.user_session.set("turn_lock", lock)
    async with lock:
        sink = ChatSink()
        ctx = ToolContext(
            account_id=account_id(),
            workspace_id=workspace_id,
            thread_id=thread_id(),
            active_table_id=as_uuid(cl.user_session.get("active_table_id")),
            emit=sink.on_event,
        )
        history = list(cl.user_session.get("history") or [])
        text = "\n".join([*take_agent_notes(), text])  # e.g. the chat switched workspace since the last turn
        try:
            result = await loop.run_turn(the_model(), ctx, history, text, sink)
            history = result.history
        except Exception:
            log.exception("the turn failed")
            await sink.on_error("Something went wrong while answering; please try again.")
        finally:
            await sink.finish()
        cl.user_session.set("history", history)
        await save_to_thread(history=history)
        if sink.proposals:
            await lock_live(True)


def tell_agent(note: str) -> None:
    """The user's decision, as a user turn the chat does not show; the agent may carry on from it."""
    asyncio.create_task(run_turn(note))
