"""Accounts, API tokens and workspaces. Lookups here run before anyone is known, so callers use a
system transaction; everything after uses the account's own (row-level security)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.passwords import password_problem
from db import sessions, workspaces
from db.errors import Conflict, Invalid

_hasher = PasswordHasher()
TOKEN_PREFIX = "tc_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_account(conn: AsyncConnection, *, name: str, password: str) -> uuid.UUID:
    """A new login; the name is unique."""
    name = name.strip()
    if not name or len(name) > 64:
        raise Invalid("A user name is 1–64 characters", name=name)
    if problem := password_problem(password, name=name):
        raise Invalid(problem)
    try:
        async with conn.begin_nested():
            row = await conn.execute(
                text("INSERT INTO accounts (name, password_hash) VALUES (:n, :h) RETURNING id"),
                {"n": name, "h": await asyncio.to_thread(_hasher.hash, password)},
            )
    except IntegrityError:
        raise Conflict(f'User "{name}" already exists', name=name) from None
    return row.scalar_one()


async def set_password(conn: AsyncConnection, *, name: str, password: str) -> bool:
    """A new password for the account (False when there is none); its sign-ins are ended."""
    if problem := password_problem(password, name=name):
        raise Invalid(problem)
    row = await conn.execute(
        text("UPDATE accounts SET password_hash = :h WHERE name = :n RETURNING id"),
        {"n": name, "h": await asyncio.to_thread(_hasher.hash, password)},
    )
    account_id = row.scalar_one_or_none()
    if account_id is None:
        return False
    await sessions.revoke_all(conn, account_id)
    return True


async def account_by_name(conn: AsyncConnection, name: str) -> dict[str, Any] | None:
    row = await conn.execute(text("SELECT id, name FROM accounts WHERE name = :n"), {"n": name})
    m = row.mappings().first()
    return dict(m) if m else None


async def authenticate(conn: AsyncConnection, *, name: str, password: str) -> dict[str, Any] | None:
    """The account when the password matches, else None."""
    row = await conn.execute(
        text("SELECT id, name, password_hash FROM accounts WHERE name = :n"), {"n": name}
    )
    m = row.mappings().first()
    if m is None:
        # same work either way: no timing hint that the name exists
        await asyncio.to_thread(_hasher.hash, password)
        return None
    try:
        # argon2 takes a few hundred ms: off the event loop, so other chats keep flowing
        await asyncio.to_thread(_hasher.verify, m["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return {"id": m["id"], "name": m["name"]}


async def count_accounts(conn: AsyncConnection) -> int:
    return (await conn.execute(text("SELECT count(*) FROM accounts"))).scalar_one()


async def create_token(
    conn: AsyncConnection, *, account_id: uuid.UUID, name: str = "api", expires_in: timedelta | None = None
) -> str:
    """A new API token for the account (refused after `expires_in`, when given); only its hash is stored,
    so this is the one chance to see it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        text("INSERT INTO api_tokens (account_id, name, token_hash, expires_at) "
             "VALUES (:a, :n, :h, now() + :e)"),
        {"a": account_id, "n": name[:100], "h": hash_token(token), "e": expires_in},
    )
    return token


async def tokens_of(conn: AsyncConnection, account_id: uuid.UUID) -> list[dict[str, Any]]:
    """The account's tokens, oldest first (never the tokens themselves: only their hashes are kept)."""
    rows = await conn.execute(
        text("SELECT id, name, created_at, last_used_at, expires_at, "
             "       expires_at IS NOT NULL AND expires_at <= now() AS expired "
             "FROM api_tokens WHERE account_id = :a ORDER BY created_at, id"),
        {"a": account_id},
    )
    return [dict(m) for m in rows.mappings()]


async def revoke_tokens(conn: AsyncConnection, account_id: uuid.UUID, ref: str) -> int:
    """Delete the account's token whose id is `ref`, or every one of its tokens named `ref`; how many went."""
    try:
        token_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        token_id = None
    res = await conn.execute(
        text("DELETE FROM api_tokens WHERE account_id = :a AND (id = :i OR (CAST(:i AS uuid) IS NULL AND name = :n))"),
        {"a": account_id, "i": token_id, "n": ref},
    )
    return res.rowcount


async def create_workspace(conn: AsyncConnection, *, owner_id: uuid.UUID, name: str | None = None) -> dict[str, Any]:
    """A workspace with a fresh three-word name (or `name`), owned by `owner_id` (system transaction)."""
    return await workspaces.create(conn, owner_id=owner_id, name=name)


async def workspaces_of(conn: AsyncConnection, account_id: uuid.UUID) -> list[dict[str, Any]]:
    """The account's workspaces, oldest first, with the account's role in each."""
    rows = await conn.execute(
        text(
            "SELECT w.id, w.name, w.created_at, m.role FROM workspaces w JOIN memberships m "
            "ON m.workspace_id = w.id WHERE m.account_id = :a ORDER BY w.created_at"
        ),
        {"a": account_id},
    )
    return [dict(m) for m in rows.mappings()]


async def default_workspace(conn: AsyncConnection, account_id: uuid.UUID) -> dict[str, Any]:
    """The account's most recently used workspace, created when it has none (system transaction)."""
    return await workspaces.most_recent(conn, account_id) or await create_workspace(conn, owner_id=account_id)
