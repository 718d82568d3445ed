"""An account with a workspace, a tool context for it, and bug tables to work on: the fixtures of the tool
tests and of the offline model's tests (each conftest imports them)."""

from __future__ import annotations

import pytest

from db import accounts, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from tools.base import ToolContext

BUG_COLUMNS = [
    ColumnCreate(name="Title", type="text", required=True),
    ColumnCreate(name="Status", type="select", options=["Open", "In progress", "Resolved"]),
    ColumnCreate(name="Priority", type="select", options=["P0", "P1", "P2", "P3"]),
    ColumnCreate(name="Points", type="number"),
    ColumnCreate(name="Tags", type="multi_select", options=["ui", "api", "db"]),
    ColumnCreate(name="Due", type="date"),
    ColumnCreate(name="Notes", type="long_text"),
]


def _bug_row(n: int) -> dict:
    """A deterministic bug; every fifth has no points; every 50th (from the first) has long notes."""
    return {
        "Title": f"Bug {n}",
        "Status": ["Open", "In progress", "Resolved"][n % 3],
        "Priority": f"P{n % 4}",
        "Points": None if n % 5 == 0 else n % 13,
        "Tags": [["ui"], ["api", "db"], []][n % 3],
        "Due": f"2026-0{1 + n % 9}-1{n % 10}",
        "Notes": "x" * 5000 if n % 50 == 1 else f"Notes on bug {n}",
    }


@pytest.fixture
def bug_row():
    """The row generator behind `make_bugs`, to compute expectations."""
    return _bug_row


class Events(list):
    """Collects what the tools emit for the UI."""

    async def __call__(self, event: object) -> None:
        self.append(event)


@pytest.fixture
async def account(engine, unique):
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"tools{unique}", password="pw-12345678")
        ws = await accounts.create_workspace(conn, owner_id=acc)
    return acc, ws["id"]


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def ctx(engine, account, events) -> ToolContext:
    acc, ws = account
    return ToolContext(account_id=acc, workspace_id=ws, thread_id=f"thread-{ws}", engine=engine, emit=events)


@pytest.fixture
def make_bugs(engine, account):
    """Create a bug table with `n` rows; returns the table."""
    acc, ws = account

    async def make(n: int, name: str = "Bugs"):
        async with transaction(acc, engine=engine) as conn:
            t = await tables.create_table(
                conn, workspace_id=ws, name=name, description="Bug tracker", columns=BUG_COLUMNS
            )
            await records.create_records(conn, t, [_bug_row(i) for i in range(1, n + 1)])
        return t

    return make
