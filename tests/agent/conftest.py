"""Fixtures for the agent tests: a fake Anthropic server (real SSE) shared by the module, reset per test;
and, for the offline model's tests, the account, tool context and bug tables that tests/tools uses."""

from __future__ import annotations

import pytest
from fakes.anthropic_server import Behaviour, FakeAnthropic

from db import accounts, records, tables
from db.engine import transaction
from db.schemas import ColumnCreate
from tools.base import ToolContext


@pytest.fixture(scope="session")
def anthropic_server():
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_anthropic(anthropic_server):
    """The fake server with an empty script and a prompt cache that caches any prefix."""
    anthropic_server.reset(Behaviour(min_cache_tokens=0))
    yield anthropic_server
    anthropic_server.reset()


@pytest.fixture(scope="session")
def sdk_client(anthropic_server):
    """One real `AsyncAnthropic` pointed at the fake (making one costs ~0.1 s), strict about what it gets."""
    return anthropic_server.client()


# -- the same tables as tests/tools/conftest.py ------------------------------------------------------------

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
