"""Fixtures for the REST API: users with tokens (the app and its client are in tests/conftest.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from db import accounts
from db.engine import transaction


@dataclass
class User:
    id: uuid.UUID
    name: str
    token: str
    workspace_id: uuid.UUID | None
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def make_user(engine, unique):
    """A factory: a new account with a token, and a workspace unless `workspace=False`."""
    count = 0

    async def make(*, workspace: bool = True) -> User:
        nonlocal count
        count += 1
        name = f"api{unique}{count}"
        async with transaction(None, engine=engine) as conn:
            acc = await accounts.create_account(conn, name=name, password="secret-pw")
            ws = await accounts.create_workspace(conn, owner_id=acc) if workspace else None
            token = await accounts.create_token(conn, account_id=acc, name="tests")
        return User(id=acc, name=name, token=token, workspace_id=ws["id"] if ws else None,
                    headers={"Authorization": f"Bearer {token}"})

    return make


ALL_TYPES = [
    {"name": "Title", "type": "text", "required": True},
    {"name": "Notes", "type": "long_text"},
    {"name": "Points", "type": "number"},
    {"name": "Done", "type": "boolean"},
    {"name": "Due", "type": "date"},
    {"name": "Status", "type": "select", "options": ["Open", "Closed"]},
    {"name": "Tags", "type": "multi_select", "options": ["ui", "api", "db"]},
    {"name": "Link", "type": "url"},
    {"name": "Contact", "type": "email"},
    {"name": "Extra", "type": "json"},
]


@pytest.fixture
async def user(make_user) -> User:
    return await make_user()


@pytest.fixture
async def table(client, user) -> dict:
    """A table of the `user` with one column of every type."""
    r = await client.post("/tables", json={"name": "Tasks", "description": "things to do", "columns": ALL_TYPES},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def cols(table) -> dict[str, str]:
    """Column name → id of `table`."""
    return {c["name"]: c["id"] for c in table["columns"]}


@pytest.fixture(autouse=True)
def throttle(monkeypatch, services, unique):
    """Each test counts failed tokens on Redis keys of its own (tests share one address, 127.0.0.1)."""
    from api import throttle as module

    own = module.Throttle(services.redis_url, f"tctest{unique}")
    monkeypatch.setattr(module, "shared", lambda: own)
    return own
