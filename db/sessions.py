"""Sign-ins of the chat pages. The login cookie is a signed token that stays valid until it expires; its
session id is checked against this table on every request, so logout (or a new password) ends it at once.
System transactions: the check runs before anyone is known."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# longer than Chainlit's cookie lifetime (user_session_timeout, 15 days): rows older than this can only
# belong to cookies that have expired on their own
KEEP_DAYS = 30
SESSION_KEY = "session_id"  # where a login cookie's user metadata carries its session


async def open_session(conn: AsyncConnection, account_id: uuid.UUID | str) -> uuid.UUID:
    """A new session of the account (and its sessions too old to matter are forgotten)."""
    await conn.execute(
        text("DELETE FROM login_sessions WHERE account_id = :a AND created_at < now() - make_interval(days => :d)"),
        {"a": account_id, "d": KEEP_DAYS},
    )
    row = await conn.execute(text("INSERT INTO login_sessions (account_id) VALUES (:a) RETURNING id"), {"a": account_id})
    return row.scalar_one()


async def is_active(conn: AsyncConnection, session_id: uuid.UUID | str, account_id: uuid.UUID | str) -> bool:
    """True while the session exists, belongs to the account and has not been revoked."""
    row = await conn.execute(
        text("SELECT 1 FROM login_sessions WHERE id = :s AND account_id = :a AND revoked_at IS NULL "
             "AND created_at > now() - make_interval(days => :d)"),
        {"s": session_id, "a": account_id, "d": KEEP_DAYS},
    )
    return row.first() is not None


async def is_active_for(conn: AsyncConnection, metadata: Mapping[str, Any] | None) -> bool:
    """True when a login cookie's metadata names a live session of its account. Cookies signed before
    sessions existed name none: they are refused (their owner signs in again)."""
    metadata = metadata or {}
    try:
        session_id = uuid.UUID(str(metadata[SESSION_KEY]))
        account_id = uuid.UUID(str(metadata["account_id"]))
    except (KeyError, ValueError):
        return False
    return await is_active(conn, session_id, account_id)


async def revoke(conn: AsyncConnection, session_id: uuid.UUID | str) -> bool:
    res = await conn.execute(
        text("UPDATE login_sessions SET revoked_at = now() WHERE id = :s AND revoked_at IS NULL"), {"s": session_id}
    )
    return res.rowcount == 1


async def revoke_all(conn: AsyncConnection, account_id: uuid.UUID | str) -> int:
    """End every session of the account (its password changed)."""
    res = await conn.execute(
        text("UPDATE login_sessions SET revoked_at = now() WHERE account_id = :a AND revoked_at IS NULL"),
        {"a": account_id},
    )
    return res.rowcount
