"""The outbox relay: messages written to PostgreSQL in the same transaction as the cells they concern
are sent to the broker afterwards, and marked sent only once Redis took them. With Redis down they
wait in the table; nothing is lost. A message sent twice is harmless (claims are conditional). A row
holds the kind of its message; jobs/names.py says which queue and actor take that kind.

Interactive messages are sent at once. Bulk messages (jobs/names.py `is_bulk`) are sent only while the
bulk queue holds fewer than `window` of them, in turns: each workspace's next message in turn (the one
served least recently first), and within a workspace its jobs' in turn. So a fill started while another
workspace's 100,000 cells are queued is served from the next turn on, not after them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from dramatiq import Message
from dramatiq.broker import Broker
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import transaction
from jobs.names import BULK_QUEUE, BULK_SQL, URGENT_KINDS, destination

log = logging.getLogger(__name__)

BATCH = 1000
BULK_WINDOW = 8  # bulk messages waiting in the broker at most (the workers hold a few more each)
SERVED_KEPT = 10_000  # workspaces whose last turn the relay remembers

_INTERACTIVE = text(
    "SELECT o.id, o.queue, o.actor, o.payload, false AS bulk, NULL::text AS workspace FROM outbox o "
    "LEFT JOIN jobs j ON j.id = CAST(o.payload ->> 'job' AS uuid) "
    f"WHERE o.sent_at IS NULL AND (j.id IS NULL OR o.queue = ANY(:urgent) OR NOT {BULK_SQL}) "
    "ORDER BY o.id LIMIT :n FOR UPDATE OF o SKIP LOCKED")
# the next `n` bulk messages in turn: k-th message of each job, jobs of a workspace interleaved, then
# workspaces in the order they were served (never served first)
_BULK_TURNS = text(
    "WITH b AS (SELECT o.id, j.workspace_id AS w, j.id AS job, j.created_at, "
    "  row_number() OVER (PARTITION BY j.id ORDER BY o.id) AS k "
    " FROM outbox o JOIN jobs j ON j.id = CAST(o.payload ->> 'job' AS uuid) "
    f" WHERE o.sent_at IS NULL AND NOT o.queue = ANY(:urgent) AND {BULK_SQL}"
    "), t AS (SELECT id, w, row_number() OVER (PARTITION BY w ORDER BY k, created_at, job) AS turn FROM b) "
    "SELECT id FROM t ORDER BY turn, array_position(CAST(:served AS text[]), w::text) NULLS FIRST, id LIMIT :n")
# bulk messages of jobs that ended (cancelled, stopped) have nothing left to do: they are not sent
_DROP_ENDED = text(
    "UPDATE outbox o SET sent_at = now() FROM jobs j WHERE o.sent_at IS NULL "
    f"AND j.id = CAST(o.payload ->> 'job' AS uuid) AND j.status NOT IN ('queued', 'running') "
    f"AND NOT o.queue = ANY(:urgent) AND {BULK_SQL}")
_BULK = text(
    "SELECT o.id, o.queue, o.actor, o.payload, true AS bulk, j.workspace_id::text AS workspace FROM outbox o "
    "JOIN jobs j ON j.id = CAST(o.payload ->> 'job' AS uuid) "
    "WHERE o.id = ANY(:ids) AND o.sent_at IS NULL FOR UPDATE OF o SKIP LOCKED")


def _send(broker: Broker, rows: Sequence[Any]) -> list[int]:
    """Enqueue rows in order; stop at the first failure. Returns the ids sent."""
    sent = []
    for row in rows:
        payload = row.payload
        queue, actor = destination(row.queue, row.actor, row.bulk)
        args = (payload["job"], payload["rows"], *((payload["batch"],) if "batch" in payload else ()))
        message = Message(queue_name=queue, actor_name=actor, args=args,
                          kwargs={}, options={})
        try:
            broker.enqueue(message, delay=int(payload.get("delay_ms") or 0) or None)
        except (RedisError, OSError) as exc:
            log.warning("outbox: broker unavailable (%s); %d message(s) wait", exc, len(rows) - len(sent))
            break
        sent.append(row.id)
    return sent


def _bulk_waiting(broker: Broker) -> int | None:
    """Bulk messages in the broker that no worker has fetched yet (None: this broker cannot say)."""
    client, namespace = getattr(broker, "client", None), getattr(broker, "namespace", None)
    if client is None or namespace is None:
        return None
    return int(client.llen(f"{namespace}:{BULK_QUEUE}"))


class Relay:
    def __init__(self, engine: AsyncEngine, broker: Broker, batch: int = BATCH, window: int = BULK_WINDOW):
        self.engine, self.broker, self.batch, self.window = engine, broker, batch, window
        self.served: dict[str, float] = {}  # workspace → when its last bulk message went out
        self.bulk_waits = False  # bulk messages were left in the outbox for want of room

    async def relay_once(self) -> int:
        """Send up to one batch of unsent messages (bulk ones as the window allows); returns how many went
        out (0: nothing could go; -1: the broker took none)."""
        async with transaction(None, engine=self.engine) as conn:
            urgent = list(URGENT_KINDS)
            rows = list((await conn.execute(_INTERACTIVE, {"n": self.batch, "urgent": urgent})).all())
            room = await self._room(self.batch - len(rows))
            self.bulk_waits = room == 0  # no room now: look again soon (None: the broker is down)
            if room:
                await conn.execute(_DROP_ENDED, {"urgent": urgent})
                served = [w for w, _ in sorted(self.served.items(), key=lambda kv: kv[1])]
                ids = (await conn.execute(_BULK_TURNS, {"served": served, "n": room, "urgent": urgent})).scalars().all()
                if ids:
                    bulk = {r.id: r for r in (await conn.execute(_BULK, {"ids": list(ids)})).all()}
                    rows += [bulk[i] for i in ids if i in bulk]
                self.bulk_waits = len(ids) == room  # perhaps more than there was room for
            if not rows:
                return 0
            sent = await asyncio.to_thread(_send, self.broker, rows)
            await conn.execute(
                text("UPDATE outbox SET attempts = attempts + 1, "
                     "sent_at = CASE WHEN id = ANY(:sent) THEN now() END WHERE id = ANY(:ids)"),
                {"sent": sent, "ids": [r.id for r in rows]},
            )
        done, now = set(sent), time.monotonic()
        for row in rows:
            if row.bulk and row.id in done:
                self.served[row.workspace] = now
        if len(self.served) > SERVED_KEPT:  # workspaces not served for long are as good as never served
            self.served = dict(sorted(self.served.items(), key=lambda kv: kv[1])[-SERVED_KEPT // 2:])
        return len(sent) if sent else -1

    async def _room(self, most: int) -> int | None:
        """How many bulk messages may go now: up to `most`, and no more than the window has room for;
        None when the broker is down."""
        if most <= 0:
            return 0
        try:
            waiting = await asyncio.to_thread(_bulk_waiting, self.broker)
        except (RedisError, OSError):
            return None
        return most if waiting is None else max(0, min(most, self.window - waiting))

    async def drain(self) -> int:
        """Send everything that may go now; returns how many went out (stops early when the broker is
        down). `bulk_waits` then says whether bulk messages wait for room in the broker."""
        total = 0
        while True:
            n = await self.relay_once()
            if n <= 0:
                return total
            total += n
            if self.bulk_waits:  # the window is full: more later
                return total

    async def forget_sent(self, older_than_s: float = 24 * 3600) -> int:
        """Delete messages sent long ago."""
        async with transaction(None, engine=self.engine) as conn:
            res = await conn.execute(text("DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => :s)"),
                                     {"s": older_than_s})
        return res.rowcount
