"""The agent's conversation per chat thread. System transactions; the account is checked here."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def save(conn: AsyncConnection, *, thread_id: str, account_id: uuid.UUID | str,
               history: list[dict[str, Any]]) -> None:
    """Store the thread's history; a thread that belongs to another account is left alone."""
    await conn.execute(
        text(
            "INSERT INTO agent_histories (thread_id, account_id, history) VALUES (:t, :a, CAST(:h AS jsonb)) "
            "ON CONFLICT (thread_id) DO UPDATE SET history = EXCLUDED.history, updated_at = now() "
            "WHERE agent_histories.account_id = EXCLUDED.account_id"
        ),
        {"t": thread_id, "a": str(account_id), "h": json.dumps(history)},
    )


async def load(conn: AsyncConnection, *, thread_id: str, account_id: uuid.UUID | str) -> list[dict[str, Any]] | None:
    """The thread's history when it is this account's, else None."""
    row = await conn.execute(
        text("SELECT history FROM agent_histories WHERE thread_id = :t AND account_id = :a"),
        {"t": thread_id, "a": str(account_id)},
    )
    return row.scalar_one_or_none()
