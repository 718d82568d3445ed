"""Fixtures for import and export: a user with a workspace and a token, and the REST API with the
import/export routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from db import accounts
from db.engine import transaction


@dataclass
class Owner:
    id: uuid.UUID
    name: str
    workspace_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def owner(engine, unique) -> Owner:
    """A new account with its workspace and an API token."""
    async with transaction(None, engine=engine) as conn:
        acc = await accounts.create_account(conn, name=f"io{unique}", password="secret-pw")
        ws = await accounts.create_workspace(conn, owner_id=acc)
        token = await accounts.create_token(conn, account_id=acc, name="tests")
    return Owner(id=acc, name=f"io{unique}", workspace_id=ws["id"], token=token)


