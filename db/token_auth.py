"""Token lookup for every API request: a read, with `last_used_at` refreshed at most once a minute so
that a burst of requests does not turn each one into a write (and a commit that waits for the disk)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.accounts import hash_token

TOUCH_EVERY_S = 60


async def account_for_token(conn: AsyncConnection, token: str) -> dict[str, Any] | None:
    """`{id, name}` of the token's account, or None when there is no such token or it has expired (system
    transaction)."""
    row = await conn.execute(
        text(
            "WITH hit AS (SELECT t.id AS token_id, t.last_used_at, a.id, a.name FROM api_tokens t "
            "  JOIN accounts a ON a.id = t.account_id "
            "  WHERE t.token_hash = :h AND (t.expires_at IS NULL OR t.expires_at > now())), "
            "touch AS (UPDATE api_tokens t SET last_used_at = now() FROM hit WHERE t.id = hit.token_id "
            "  AND (hit.last_used_at IS NULL OR hit.last_used_at < now() - make_interval(secs => :every))) "
            "SELECT id, name FROM hit"
        ),
        {"h": hash_token(token), "every": TOUCH_EVERY_S},
    )
    m = row.mappings().first()
    return dict(m) if m else None
