"""Files uploaded in the chat, at handler level: upload → the offline model proposes the import → Create
Table imports every row (or Apply changes the open table); bad files are refused with nothing kept."""

from __future__ import annotations

import csv
import io

import pytest

from agent.loop import run_turn
from agent.offline import OfflineModel
from agent.sink import CollectingSink
from core.settings import get_settings
from db import records, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from proposals import decisions, store
from proposals.apply import apply
from tools import imports
from tools.base import ProposalEvent, ToolContext

NEIGHBORHOODS = ["River North", "West Loop", "Lincoln Park", "Wicker Park"]


def restaurants_csv(n: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Name", "Neighborhood", "Rating", "Email"])
    for i in range(n):
        w.writerow([f"Place {i}", NEIGHBORHOODS[i % 4], f"{3 + (i % 20) / 10:.1f}", f"owner{i}@example.com"])
    return out.getvalue().encode()


class Events(list):
    async def __call__(self, event: object) -> None:
        self.append(event)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Uploads go to a directory of this test."""
    monkeypatch.setenv("TABLECHAT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def ctx(engine, owner) -> ToolContext:
    return ToolContext(account_id=owner.id, workspace_id=owner.workspace_id, thread_id=f"chat-{owner.id}",
                       engine=engine, emit=Events())


def kept(data_dir) -> list[str]:
    return sorted(p.name for p in (data_dir / "uploads").rglob("*") if p.is_file())


async def turn(ctx: ToolContext, text: str) -> tuple[str, list[ProposalEvent]]:
    sink = CollectingSink()
    before = len(ctx.emit)
    result = await run_turn(OfflineModel(), ctx, [], text, sink)
    return result.text, [e for e in ctx.emit[before:] if isinstance(e, ProposalEvent)]


async def test_upload_to_new_table_imports_every_row(ctx, engine, owner, data_dir):
    upload = imports.receive_upload(owner.id, "chicago_restaurants.csv", restaurants_csv(1200))
    assert (upload.rows, upload.columns) == (1200, ["Name", "Neighborhood", "Rating", "Email"])

    text, shown = await turn(ctx, upload.note(None))
    assert "**Create Table**" in text and "1,200 rows" in text
    [event] = shown
    assert event.kind == "schema_create"
    preview = event.preview.model_dump()
    assert [c["name"] for c in preview["columns"]] == ["Name", "Neighborhood", "Rating", "Email"]
    assert {c["name"]: c["type"] for c in preview["columns"]}["Rating"] == "number"
    assert len(event.payload["sample_rows"]) == imports.SAMPLE_ROWS  # the payload never carries every row
    assert imports.import_of(owner.id, event.proposal_id) == {
        "filename": "chicago_restaurants.csv", "rows": 1200, "upload_id": upload.id,
        "proposal_id": str(event.proposal_id)}

    reports: list[tuple[int, int]] = []
    async with transaction(owner.id, engine=engine) as conn:
        stored = await store.get(conn, event.proposal_id, account_id=owner.id, thread_id=ctx.thread_id)
        # the one apply path of every proposal kind
        done = await apply(conn, stored, [0, 1, 2], owner.id,  # Email unchecked
                           progress=lambda d, t: reports.append((d, t)))
    assert done.status == "applied" and done.imported_rows == 1200
    assert done.import_file == "chicago_restaurants.csv"
    assert "imported all 1,200 rows" in done.message
    assert reports[-1] == (1200, 1200)
    async with transaction(owner.id, engine=engine) as conn:
        table = await tables.get_table(conn, done.table_id)
        page = await records.list_records(conn, table, limit=5, offset=0)
        again = await apply(conn, stored, None, owner.id)  # a second click imports nothing more
        stored_now = await store.get(conn, event.proposal_id, account_id=owner.id, thread_id=ctx.thread_id)
    assert table.name == "Chicago restaurants"
    assert [c.name for c in table.columns] == ["Name", "Neighborhood", "Rating"]
    assert page.total == 1200  # every row of the file, not the proposal's 5 sample rows
    assert again.already_decided and again.imported_rows == 0 and again.status == "applied"
    assert stored_now.status == "applied" and stored_now.table_id == table.id

    imports.discard(owner.id, event.proposal_id, with_upload=True)
    assert kept(data_dir) == []


async def test_upload_with_a_table_open_updates_rows_matched_on_the_key(ctx, engine, owner):
    async with transaction(owner.id, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=owner.workspace_id, name="Places", columns=[
            ColumnCreate(name="Name", type="text"), ColumnCreate(name="Neighborhood", type="text"),
            ColumnCreate(name="Rating", type="number"), ColumnCreate(name="Email", type="email")])
        await records.create_records(conn, table, [
            {"Name": "Place 0", "Neighborhood": "River North", "Rating": 1, "Email": "owner0@example.com"},
            {"Name": "Place 1", "Neighborhood": "West Loop", "Rating": 3.1, "Email": "owner1@example.com"}])
    ctx.active_table_id = table.id
    upload = imports.receive_upload(owner.id, "update.csv", restaurants_csv(3))

    text, [event] = await turn(ctx, upload.note("Places") + "\nupdate by Email")
    assert event.kind == "data" and "**Apply**" in text
    ops = event.payload["operations"]
    # Place 0's rating changed; Place 1 is as it was (no operation); Place 2 is new
    assert [op["action"] for op in ops] == ["update", "add"]
    ids = {str(c.id): c.name for c in table.columns}  # stored proposals name columns by id
    assert {ids[k]: v for k, v in ops[0]["changes"].items()} == {"Rating": 3}
    assert {ids.get(k, k): v for k, v in ops[1]["data"].items()}["Name"] == "Place 2"

    async with transaction(owner.id, engine=engine) as conn:
        result = await apply(conn, event.proposal_id, None, owner.id)
        page = await records.list_records(conn, await tables.get_table(conn, table.id), limit=10, offset=0)
    assert result.status == "applied"
    assert page.total == 3
    rating = next(c.id for c in table.columns if c.name == "Rating")
    assert sorted(r.cells[str(rating)].value for r in page.items) == [3, 3.1, 3.2]


async def test_file_columns_the_table_lacks_are_named_back(ctx, engine, owner):
    async with transaction(owner.id, engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=owner.workspace_id, name="Names",
                                          columns=[ColumnCreate(name="Name", type="text")])
    ctx.active_table_id = table.id
    upload = imports.receive_upload(owner.id, "wide.csv", restaurants_csv(2))
    text, shown = await turn(ctx, upload.note("Names"))
    assert shown == []
    assert "Neighborhood" in text and "couldn't" in text


@pytest.mark.parametrize("name, body, says", [
    ("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "CSV"),
    ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n", "line 3"),
    ("empty.csv", b"", "empty"),
])
async def test_bad_files_get_a_clear_message_and_nothing_is_kept(owner, data_dir, name, body, says):
    with pytest.raises(imports.BadFile) as caught:
        imports.receive_upload(owner.id, name, body)
    assert says.lower() in caught.value.message.lower()
    assert not (data_dir / "uploads").exists() or kept(data_dir) == []


async def test_nothing_half_imported_and_dismiss_cleans_up(ctx, engine, owner, data_dir):
    upload = imports.receive_upload(owner.id, "r.csv", restaurants_csv(30))
    _, [event] = await turn(ctx, upload.note(None))
    async with transaction(owner.id, engine=engine) as conn:
        before = len(await tables.list_tables(conn, workspace_id=owner.workspace_id))
        stored = await store.get(conn, event.proposal_id, account_id=owner.id, thread_id=ctx.thread_id)
        with pytest.raises(imports.Invalid, match="select at least one"):
            await apply(conn, stored, [], owner.id)  # every column unchecked
        after = len(await tables.list_tables(conn, workspace_id=owner.workspace_id))
        still = await store.get(conn, event.proposal_id, account_id=owner.id, thread_id=ctx.thread_id)
    assert after == before and still.status == "pending"

    _, [again] = await turn(ctx, upload.note(None))  # the upload is still there to try again
    assert str(event.proposal_id) in {str(p) for p in again.superseded}
    assert imports.import_of(owner.id, event.proposal_id) is None  # the superseded one's file is gone
    async with transaction(owner.id, engine=engine) as conn:
        await store.dismiss(conn, again.proposal_id, account_id=owner.id, thread_id=ctx.thread_id)
    imports.discard(owner.id, again.proposal_id)
    assert kept(data_dir) == sorted([upload.id, f"{upload.id}.json"])


async def test_the_chats_apply_button_imports_through_the_one_apply_path(ctx, engine, owner):
    upload = imports.receive_upload(owner.id, "r.csv", restaurants_csv(12))
    _, [event] = await turn(ctx, upload.note(None))
    async with transaction(owner.id, engine=engine) as conn:
        stored = await store.get(conn, event.proposal_id, account_id=owner.id, thread_id=ctx.thread_id)
        done = await decisions.apply_choice(conn, stored, owner.id, unselected=set())
        page = await records.list_records(conn, await tables.get_table(conn, done.table_id), limit=1, offset=0)
    assert (done.status, done.activate, page.total) == ("applied", True, 12)
    assert "all 12 rows of r.csv imported" in done.note and done.progress_line
