"""Fan the change feed out to the open event streams of this process (`GET …/tables/{id}/events`).

One `FeedHub` per API app: one LISTEN connection (`db.listener`), and per table that has open streams one
shared reader. A notification for a table makes its reader read the new feed rows once, as one of that
table's subscribers (under row-level security, so the read can never see more than a person allowed to
see the table), and hand the same serialized events to every subscriber of that table; subscribers are
only ever streams whose caller was authorized for the table when they opened. 200 open views of a table
thus cost one read per change, not 200.

A subscriber registers before it reads its own catch-up from its cursor, so nothing committed in between
is missed; its stream drops what it has already sent (by seq). More than a page of changes at once (a
bulk write) becomes one `reset` event with the new cursor: the view reloads its page, as the poll does
when `more` is set. When the listener is down the hub says so (`push` event) and the views poll; when it
is back every table is read again, since notifications sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette import ServerSentEvent

from db import changes, tables
from db.engine import transaction
from db.errors import NotFound
from db.listener import FeedListener

log = logging.getLogger(__name__)

PAGE = 500  # changes read at once; more than this at once is a `reset`
MAX_BACKLOG = 2000  # events waiting for one slow stream before it is told to reset instead


@dataclass(frozen=True)
class Event:
    """One server-sent event, serialized once and shared by every stream that sends it."""

    name: str
    data: str
    seq: int | None = None

    @cached_property
    def wire(self) -> bytes:
        """The event as sent (`event:`, `data:`, `id:` lines), encoded once for all its streams."""
        return ServerSentEvent(data=self.data, event=self.name,
                               id=None if self.seq is None else str(self.seq)).encode()


def change_event(change: Any) -> Event:
    return Event("change", change.model_dump_json(), change.seq)


def reset_event(cursor: int) -> Event:
    return Event("reset", json.dumps({"cursor": cursor}), cursor)


def push_event(up: bool) -> Event:
    return Event("push", json.dumps({"up": up}))


GONE = Event("gone", json.dumps({"message": "This table no longer exists (or is no longer yours)."}))


OVERFLOW = Event("overflow", "{}")


@dataclass(eq=False)
class Subscriber:
    """One open stream's mailbox: the hub appends events and wakes the stream, which sends everything
    waiting in one write. Waking is one future per stream and batch of events (no queue, no task)."""

    account_id: uuid.UUID
    table_id: uuid.UUID
    pending: list[Event] = field(default_factory=list)
    overflowed: bool = False
    gone: bool = False  # its account can no longer read the table: it gets nothing more
    _waiter: asyncio.Future[None] | None = None

    def put(self, event: Event) -> None:
        if self.overflowed:
            return
        if len(self.pending) >= MAX_BACKLOG:
            # too slow to follow: drop what waits and let it reload from the table's cursor
            self.overflowed = True
            self.pending = [OVERFLOW]
        else:
            self.pending.append(event)
        self.wake()

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        """Until something is pending, or `wake()` is called."""
        if self.pending:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def take(self) -> list[Event]:
        events, self.pending = self.pending, []
        return events


@dataclass(eq=False)
class _Table:
    subscribers: set[Subscriber] = field(default_factory=set)
    cursor: int | None = None  # everything up to here was read and handed out
    dirty: bool = False
    reader: asyncio.Task[None] | None = None


class FeedHub:
    def __init__(self, engine: AsyncEngine, *, listener: FeedListener | None = None) -> None:
        self.engine = engine
        self.listener = listener or FeedListener(engine.url, self.changed, self.push_state)
        self._tables: dict[uuid.UUID, _Table] = {}
        self._started = False
        self.reads = 0  # shared reads done (the bench and tests look at it)

    @property
    def up(self) -> bool:
        return self.listener.up

    async def subscribe(self, account_id: uuid.UUID, table_id: uuid.UUID) -> Subscriber:
        """A new subscriber of `table_id`, registered before its caller reads its catch-up."""
        if not self._started:
            self._started = True
            await self.listener.start()
        sub = Subscriber(account_id, table_id)
        self._tables.setdefault(table_id, _Table()).subscribers.add(sub)
        return sub

    def caught_up(self, sub: Subscriber, cursor: int) -> None:
        """`sub` has read the feed up to `cursor` by itself: the shared reader may start from there."""
        state = self._tables.get(sub.table_id)
        if state is None:
            return
        if state.cursor is None:
            state.cursor = cursor
            if state.dirty:
                self._schedule(sub.table_id, state)

    def unsubscribe(self, sub: Subscriber) -> None:
        state = self._tables.get(sub.table_id)
        if state is None:
            return
        state.subscribers.discard(sub)
        if not state.subscribers:
            if state.reader is not None:
                state.reader.cancel()
            del self._tables[sub.table_id]

    async def close(self) -> None:
        for state in list(self._tables.values()):
            if state.reader is not None:
                state.reader.cancel()
        self._tables.clear()
        await self.listener.close()

    # -- from the listener ----------------------------------------------------------------------------

    def changed(self, table_id: str) -> None:
        try:
            key = uuid.UUID(table_id)
        except ValueError:
            return
        state = self._tables.get(key)
        if state is not None:
            self._schedule(key, state)

    def push_state(self, up: bool) -> None:
        event = push_event(up)
        for key, state in list(self._tables.items()):
            for sub in state.subscribers:
                sub.put(event)
            if up:  # what was notified while the listener was down is lost: read every table again
                self._schedule(key, state)

    # -- the shared reader ------------------------------------------------------------------------------

    def _schedule(self, key: uuid.UUID, state: _Table) -> None:
        state.dirty = True
        if state.cursor is not None and (state.reader is None or state.reader.done()):
            state.reader = asyncio.create_task(self._read(key, state), name=f"feed-read-{key}")

    async def _read(self, key: uuid.UUID, state: _Table) -> None:
        while state.dirty and state.subscribers:
            state.dirty = False
            try:
                await self._read_once(key, state)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed read: the streams stay, the next change retries
                log.exception("reading the change feed of table %s", key)
                return

    async def _read_once(self, key: uuid.UUID, state: _Table) -> None:
        assert state.cursor is not None
        for account in list(dict.fromkeys(s.account_id for s in state.subscribers if not s.gone)):
            try:
                async with transaction(account, engine=self.engine) as conn:
                    table = await tables.get_table(conn, key)
                    page = await changes.read_changes(conn, table, cursor=state.cursor, limit=PAGE)
                    latest = await tables.current_seq(conn, table.id) if page.more else page.cursor
            except NotFound:
                # this account lost the table (deleted, or no longer in its workspace): its streams end
                for sub in [s for s in state.subscribers if s.account_id == account]:
                    sub.put(GONE)
                    sub.gone = True
                continue
            self.reads += 1
            events = [reset_event(latest)] if page.more else [change_event(c) for c in page.changes]
            state.cursor = max(state.cursor, latest)
            for sub in list(state.subscribers):
                if not sub.gone:
                    for event in events:
                        sub.put(event)
            return
