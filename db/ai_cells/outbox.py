"""Fill messages in the outbox: written in the caller's transaction, relayed to the broker after commit."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells.settings import rows_per_message

QUEUE = "cells"
FILL_ACTOR = "fill_rows"


def outbox_rows(job_id: str, ids: Sequence[int], delay_ms: int = 0) -> list[dict[str, Any]]:
    chunk = rows_per_message()
    ids = sorted(ids)
    return [{"job": job_id, "rows": ids[i: i + chunk], "delay_ms": delay_ms} for i in range(0, len(ids), chunk)]


async def enqueue(conn: AsyncConnection, messages: Sequence[Mapping[str, Any]]) -> None:
    """Write fill messages to the outbox (relayed to the broker after commit)."""
    if not messages:
        return
    await conn.execute(_ENQUEUE, {"q": QUEUE, "a": FILL_ACTOR, "m": json.dumps(list(messages))})


_ENQUEUE = text("INSERT INTO outbox (queue, actor, payload) "
                "SELECT :q, :a, e FROM jsonb_array_elements(CAST(:m AS jsonb)) AS e")
