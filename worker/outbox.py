"""The outbox relay: messages written to PostgreSQL in the same transaction as the cells they concern
are sent to the broker afterwards, and marked sent only once Redis took them. With Redis down they
wait in the table; nothing is lost. A message sent twice is harmless (claims are conditional). A row
holds the kind of its message; jobs/names.py says which queue and actor take that kind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from dramatiq import Message
from dramatiq.broker import Broker
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import transaction
from jobs.names import destination

log = logging.getLogger(__name__)

BATCH = 1000


def _send(broker: Broker, rows: Sequence[Any]) -> list[int]:
    """Enqueue rows in order; stop at the first failure. Returns the ids sent."""
    sent = []
    for row in rows:
        payload = row.payload
        queue, actor = destination(row.queue, row.actor)
        message = Message(queue_name=queue, actor_name=actor, args=(payload["job"], payload["rows"]),
                          kwargs={}, options={})
        try:
            broker.enqueue(message, delay=int(payload.get("delay_ms") or 0) or None)
        except (RedisError, OSError) as exc:
            log.warning("outbox: broker unavailable (%s); %d message(s) wait", exc, len(rows) - len(sent))
            break
        sent.append(row.id)
    return sent


class Relay:
    def __init__(self, engine: AsyncEngine, broker: Broker, batch: int = BATCH):
        self.engine, self.broker, self.batch = engine, broker, batch

    async def relay_once(self) -> int:
        """Send up to one batch of unsent messages; returns how many went out (0: nothing waited;
        -1: the broker took none)."""
        async with transaction(None, engine=self.engine) as conn:
            rows = (await conn.execute(
                text("SELECT id, queue, actor, payload FROM outbox WHERE sent_at IS NULL ORDER BY id "
                     "LIMIT :n FOR UPDATE SKIP LOCKED"), {"n": self.batch})).all()
            if not rows:
                return 0
            sent = await asyncio.to_thread(_send, self.broker, rows)
            await conn.execute(
                text("UPDATE outbox SET attempts = attempts + 1, "
                     "sent_at = CASE WHEN id = ANY(:sent) THEN now() END WHERE id = ANY(:ids)"),
                {"sent": sent, "ids": [r.id for r in rows]},
            )
        return len(sent) if sent else -1

    async def drain(self) -> int:
        """Send everything waiting; returns how many went out (stops early when the broker is down)."""
        total = 0
        while True:
            n = await self.relay_once()
            if n <= 0:
                return total
            total += n

    async def forget_sent(self, older_than_s: float = 24 * 3600) -> int:
        """Delete messages sent long ago."""
        async with transaction(None, engine=self.engine) as conn:
            res = await conn.execute(text("DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => :s)"),
                                     {"s": older_than_s})
        return res.rowcount
