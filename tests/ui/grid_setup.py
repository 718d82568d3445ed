"""A table made straight in the database and opened in the live view through `/tables` → Open: the
setup the grid's browser tests share (a chat-made table would cost a proposal round trip each time)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from browser import login, send_message
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import expect
from sqlalchemy import text

from db import accounts, records, tables
from db.engine import transaction
from db.schemas import AiConfig, ColumnCreate

FRUIT = [
    {"Name": "banana", "Points": 3, "Ripe": True},
    {"Name": "Apple", "Points": 10, "Ripe": False},
    {"Name": "cherry", "Points": 2.5},
    {"Name": "date", "Points": 7, "Ripe": True},
    {"Name": "elderberry", "Points": 1, "Ripe": False},
]


async def make_user(engine) -> dict[str, Any]:
    name, password = f"grid{uuid.uuid4().hex[:8]}", "pw-grid-test"
    async with transaction(None, engine=engine) as conn:
        account_id = await accounts.create_account(conn, name=name, password=password)
        ws = await accounts.default_workspace(conn, account_id)
    return {"name": name, "password": password, "id": account_id, "workspace_id": ws["id"]}


async def make_table(engine, user: dict[str, Any], *, ai: bool = False,
                     rows: list[dict] | None = None) -> tuple[Any, list[int]]:
    """A table of fruit (and an AI column when `ai`) and its row ids (rows are numbered across tables)."""
    columns = [ColumnCreate(name="Name", required=True), ColumnCreate(name="Points", type="number"),
               ColumnCreate(name="Ripe", type="boolean")]
    if ai:
        columns.append(ColumnCreate(name="Blurb", ai=AiConfig(prompt="Describe {Name}", depends_on=["Name"])))
    async with transaction(user["id"], engine=engine) as conn:
        table = await tables.create_table(conn, workspace_id=user["workspace_id"], name=f"Fruit {uuid.uuid4().hex[:4]}",
                                          columns=columns)
        added = await records.add_records(conn, table, rows if rows is not None else FRUIT)
    return table, list(added.ids)


async def set_cell_state(engine, record_id: int, column_id: Any, state: dict, value: Any = None) -> None:
    """A cell's state (and value) as a worker or an edit would leave it."""
    async with transaction(None, engine=engine) as conn:
        await conn.execute(text(
            "UPDATE records SET meta = jsonb_set(meta, ARRAY[:c], CAST(:m AS jsonb)), "
            "data = CASE WHEN CAST(:v AS jsonb) = 'null' THEN data ELSE jsonb_set(data, ARRAY[:c], CAST(:v AS jsonb)) END "
            "WHERE id = :r"), {"c": str(column_id), "r": record_id, "m": json.dumps(state), "v": json.dumps(value)})


async def open_grid(page: Any, base_url: str, user: dict[str, Any], table: Any) -> Any:
    """Sign in, list the tables, open this one; the live view once its rows are shown."""
    await login(page, base_url, user["name"], user["password"])
    await send_message(page, "/tables")
    await page.get_by_role("button", name=f"Open {table.name}").click()
    live = page.locator("#side-view-content [data-testid=live-table]")
    await expect(live.get_by_test_id("live-table-count")).to_contain_text("of ", timeout=30_000)
    return live


def column_texts(live: Any, name: str) -> Any:
    return live.locator(f'tbody td[data-col="{name}"]')


async def reopen_grid(page: Any) -> Any:
    """After a reload: the live view, reopened from its message when the side view did not come back."""
    live = page.locator("#side-view-content [data-testid=live-table]")
    try:
        await live.wait_for(state="visible", timeout=8_000)
    except PlaywrightTimeout:
        await page.get_by_text("LiveTable", exact=False).last.click()
        await live.wait_for(state="visible")
    return live


async def paste_text(live: Any, block: str) -> None:
    """Paste `block` into the grid as a spreadsheet would put it on the clipboard."""
    await live.get_by_test_id("grid").evaluate(
        """(el, text) => { const dt = new DataTransfer(); dt.setData('text/plain', text);
             el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })); }""",
        block)


async def stored(engine, table: Any) -> dict[int, dict[str, Any]]:
    """Each row's values by column name, as the database holds them, by position (1 = the first row)."""
    names = {str(c.id): c.name for c in table.columns}
    async with transaction(None, engine=engine) as conn:
        found = await conn.execute(text("SELECT id, data FROM records WHERE table_id = :t ORDER BY id"), {"t": table.id})
        return {n: {names.get(k, k): v for k, v in r.data.items()}
                for n, r in enumerate(found, start=1)}
