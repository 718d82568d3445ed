"""Names users chose (tables, columns, uploaded files) and the errors that quote them reach the chat as
literal text: rendered as markdown, no message of the app's own words makes an image, a link or HTML."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from test_chat_app import Chat, _account, _elements, _message, app  # noqa: F401 (app: the fixture)

from db.engine import transaction

# what the chat's renderer understands: CommonMark with tables and strikethrough (remark-gfm), raw HTML on
MD = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")

PING = "![x](http://127.0.0.1:9/ping)"
HOSTILE = [PING, "<img src=x onerror=alert(1)>", "[a](javascript:alert(1))"]


def assert_inert(text: str, *hostile: str) -> None:
    """`text` renders with no image, link or HTML, and each hostile name shows as its own characters."""
    html = MD.render(text)
    assert "<img" not in html and "<a " not in html and "<script" not in html, (text, html)
    assert "javascript:" not in re.findall(r'(?:href|src)="([^"]*)"', html), html
    shown = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">")
    shown = shown.replace("&quot;", '"').replace("&amp;", "&")
    for name in hostile:
        assert name in shown, (name, shown)


def _outputs(chat: Chat) -> list[str]:
    return [d.get("output", "") for kind, d in chat.events if kind in ("new_message", "update_message")
            and d.get("type") in ("assistant_message", "system_message")]


async def _hostile_table(engine, account_id, ws, name: str, column: str):
    from db import tables
    from db.schemas import ColumnCreate

    async with transaction(account_id, engine=engine) as conn:
        return await tables.create_table(conn, workspace_id=ws["id"], name=name, description="",
                                         columns=[ColumnCreate(name=column, type="text")])


async def _chat(app, engine, unique):  # noqa: F811
    acc, ws = await _account(engine, unique, workspace=True)
    chat = Chat(acc, f"c{unique}")
    await app.start()
    await chat.wait_for("update_message", "Workspace: **")
    chat.session.has_first_interaction = True
    return acc, ws, chat


async def test_tables_list_and_open_show_hostile_names_as_text(app, engine, unique):  # noqa: F811
    import chainlit as cl

    acc, ws, chat = await _chat(app, engine, unique)
    made = [await _hostile_table(engine, acc, ws, f"{name} {unique}", "Title") for name in HOSTILE]
    await app.on_message(_message("/tables"))
    listing = await chat.wait_for("new_message", "Your tables")
    assert_inert(listing, *(f"{name} {unique}" for name in HOSTILE))
    for table in made:
        await app.on_open_table(cl.Action(name="open_table", payload={"table_id": str(table.id)}))
        opened = await chat.wait_for("new_message", f"{unique}** is open")
        assert_inert(opened, table.name)
        chat.events.clear()


async def test_tool_steps_show_results_that_quote_names_as_code(app, engine, unique):  # noqa: F811
    acc, ws, chat = await _chat(app, engine, unique)
    await _hostile_table(engine, acc, ws, f"{PING} {unique}", HOSTILE[1])
    await app.on_message(_message("list my tables"))
    await chat.wait_for("new_message", "Your tables")
    (output,) = [d["output"] for kind, d in chat.events if kind == "update_message" and d.get("type") == "tool"]
    assert unique in output
    assert_inert(output)


async def test_workspace_greeting_shows_its_name_as_text(app, engine, unique):  # noqa: F811
    from ui.workspace import welcome_text

    for name in HOSTILE:
        assert_inert(welcome_text({"name": name, "tables": 2, "role": "owner"}), name)


def _job(status: str, *, done: int, failed: int, error: str | None = None, mode: str = "write"):
    import jobs

    return jobs.JobPublic(id=uuid.uuid4(), table_id=uuid.uuid4(), column_id=uuid.uuid4(), mode=mode,
                          status=status, reason="fill", scope="all", total=done + failed + 2,
                          queued=0 if status != "running" else 2, done=done, failed=failed, cost_usd=0.01,
                          error=error, eta_s=3.0, created_at=datetime.now(UTC))


@pytest.mark.parametrize("column", HOSTILE)
async def test_fill_progress_and_summary_show_the_column_and_errors_as_text(column, monkeypatch):
    import jobs
    from tools import ai

    assert_inert(ai.progress_line(_job("running", done=1, failed=0), column), column)
    assert_inert(ai.progress_line(_job("running", done=1, failed=0, mode="preview"), column), column)

    async def failed_cells(conn, job, limit):  # the workers' errors quote the cells' (user) values
        return [(7, f"could not read {column}"), (8, None)], 3

    monkeypatch.setattr(jobs, "failed_cells", failed_cells)
    summary = await ai.final_summary(None, _job("stopped", done=1, failed=3, error=f"Stopped: {column}"), column)
    assert "Failed cells:" in summary and "- row 7:" in summary
    assert_inert(summary, column, f"could not read {column}", f"Stopped: {column}")
    cancelled = await ai.final_summary(None, _job("cancelled", done=1, failed=0), column)
    assert_inert(cancelled, column)


async def test_fill_progress_message_starts_with_the_column_as_text(app, engine, unique):  # noqa: F811
    from ui import job_progress

    acc, _ = await _account(engine, unique)
    Chat(acc, f"c{unique}")
    jid = uuid.uuid4()  # no such job: the follower stops at once, which is all this test needs
    task = job_progress.follow_job(jid, PING)
    _, msg = job_progress.FOLLOWERS[str(jid)]
    assert_inert(msg.content, PING)
    await task


async def test_upload_and_its_import_show_the_file_name_as_text(app, engine, unique, tmp_path: Path):  # noqa: F811
    import chainlit as cl

    _, _, chat = await _chat(app, engine, unique)
    link = HOSTILE[2]  # the new table is named after the file: a name with no "/" or "." survives whole
    name = f"{link}.csv"
    path = tmp_path / "upload.csv"
    path.write_text("Title,Pages\nDune,412\nEmma,474\n")
    await app.on_message(cl.Message(content="import this as a new table", author="user", type="user_message",
                                    elements=[cl.File(name=name, path=str(path))]))
    read = await chat.wait_for("update_message", "Read **")
    assert_inert(read, name)
    assert_inert(next(t for t in _outputs(chat) if t.startswith("Reading")), name)
    for text in _outputs(chat):  # the offline model's reply too
        assert_inert(text)

    (preview,) = _elements(chat, "Proposal")
    done = await app.on_apply(cl.Action(name="proposal_apply", payload={"proposal_id": preview["props"]["proposal_id"]}))
    assert done["ok"], done
    created = await chat.wait_for("update_message", "Created table")
    assert_inert(created, link)
    opened = await chat.wait_for("new_message", "is open in the live view")
    assert_inert(opened, link)

    refused = tmp_path / "bad.csv"
    refused.write_text("")  # no columns: refused, and the refusal quotes the name
    bad = f"{PING}.csv"
    await app.on_message(cl.Message(content="", author="user", type="user_message",
                                    elements=[cl.File(name=bad, path=str(refused))]))
    said = await chat.wait_for("update_message", "could not be imported")
    assert_inert(said, bad)
