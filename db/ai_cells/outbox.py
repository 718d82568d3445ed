"""Work messages in the outbox: written in the caller's transaction, relayed to the broker after commit.

A message names its job and some of its rows, and its kind: `fill` (compute and write cells) or
`preview` (compute, keep as the job's results). The kind fills the outbox's `queue` and `actor`
columns; which broker queue and actor a kind goes to is the jobs layer's business (jobs/names.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.ai_cells.settings import rows_per_message

FILL = "fill"
PREVIEW = "preview"


def outbox_rows(job_id: str, ids: Sequence[int], delay_ms: int = 0) -> list[dict[str, Any]]:
    """The messages for `ids` of a job, a few calls' worth of rows each, due in `delay_ms`."""
    chunk = rows_per_message()
    ids = sorted(ids)
    return [{"job": job_id, "rows": ids[i: i + chunk], "delay_ms": delay_ms} for i in range(0, len(ids), chunk)]


async def enqueue(conn: AsyncConnection, messages: Sequence[Mapping[str, Any]], kind: str = FILL) -> None:
    """Write messages of `kind` to the outbox (relayed to the broker after commit)."""
    if not messages:
        return
    await conn.execute(_ENQUEUE, {"k": kind, "m": json.dumps(list(messages))})


_ENQUEUE = text("INSERT INTO outbox (queue, actor, payload) "
                "SELECT :k, :k, e FROM jsonb_array_elements(CAST(:m AS jsonb)) AS e")
