"""The response of `GET …/tables/{id}/events`: one open stream of server-sent events fed by a `Subscriber`
of the process's `FeedHub` (api/live_feed.py).

A change reaches every open view of its table, so the cost that counts is the one paid per stream and
event. Here it is one wake-up and one write: the hub appends the already encoded event to each stream's
mailbox and resolves one future; the stream sends everything waiting as one chunk. The timers a stream
needs (the heartbeat, the periodic check of its caller, the send timeout) share one timer per stream
that fires every `ping_s` (or `recheck_s` if shorter), not one per event. (sse-starlette's `EventSourceResponse`, used before,
armed a cancel scope around every send and ran a task per stream for its pings: at 200 views of a table
that cost more than the event's whole way from the database.)"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from api.live_feed import GONE, Event, FeedHub, Subscriber

log = logging.getLogger(__name__)

PING = b": ping\r\n\r\n"


class EventStream(Response):
    """Sends `first`, then whatever `sub` receives until the client leaves, the stream is told `gone`,
    or it falls too far behind (`overflow`: the client reconnects from its cursor).

    - `first`: the catch-up from the client's `cursor` up to `latest`, which the `ready` event names; a
      `change` or `reset` at or below the last one sent is dropped.
    - `still_allowed()`: awaited every `recheck_s`; False ends the stream with `gone`.
    - a comment line goes out when nothing else has for `ping_s`;
    - a client that takes no bytes for `send_timeout_s` (its socket buffer full) is dropped.
    """

    media_type = "text/event-stream"

    def __init__(self, hub: FeedHub, sub: Subscriber, first: list[Event], *, cursor: int, latest: int,
                 still_allowed: Callable[[], Awaitable[bool]], ping_s: float, recheck_s: float,
                 send_timeout_s: float, headers: dict[str, str] | None = None) -> None:
        # as a StreamingResponse does: no body, so no Content-Length
        self.status_code = 200
        self.background = None
        self.init_headers(headers)
        self.hub, self.sub, self.first = hub, sub, first
        self.sent, self.latest = cursor, latest
        self.still_allowed = still_allowed
        self.ping_s, self.recheck_s, self.send_timeout_s = ping_s, recheck_s, send_timeout_s
        self._closed = False
        self._recheck_due = False
        self._sending_since: float | None = None
        self._last_write = 0.0
        self._timed_out = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        watcher = asyncio.ensure_future(self._until_disconnect(receive))
        recheck_at = loop.time() + self.recheck_s
        every = min(self.ping_s, self.recheck_s)

        def tick() -> None:
            nonlocal recheck_at, timer
            now = loop.time()
            if self._sending_since is not None and now - self._sending_since >= self.send_timeout_s:
                assert me is not None
                self._timed_out = True
                me.cancel()  # the client takes nothing: drop it (it reconnects from its cursor)
                return
            if now >= recheck_at:
                recheck_at = now + self.recheck_s
                self._recheck_due = True
                self.sub.wake()
            elif now - self._last_write >= self.ping_s * 0.99:
                self.sub.wake()  # nothing pending: the loop sends a heartbeat
            timer = loop.call_later(every, tick)

        timer = loop.call_later(every, tick)
        try:
            await self._send(send, {"type": "http.response.start", "status": self.status_code,
                                    "headers": self.raw_headers})
            caught_up = self._encode(self.first)
            self.sent = max(self.sent, self.latest)
            ready = Event("ready", json.dumps({"cursor": self.latest, "push": self.hub.up}))
            await self._write(send, caught_up + ready.wire)
            while not self._closed:
                await self.sub.wait()
                if self._closed:
                    break
                if self._recheck_due:
                    self._recheck_due = False
                    if not await self.still_allowed():
                        self.sub.put(GONE)
                events = self.sub.take()
                body = self._encode(events)
                if body:
                    await self._write(send, body)
                elif loop.time() - self._last_write >= self.ping_s * 0.99:
                    await self._write(send, PING)
                if any(e.name in ("gone", "overflow") for e in events):
                    break
            if not self._closed:
                await self._send(send, {"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self._timed_out or me is None or me.uncancel() > 0:
                raise
            # returning unfinished makes the server close the connection
            log.info("dropped an event stream that took no bytes for %s s", self.send_timeout_s)
        finally:
            timer.cancel()
            watcher.cancel()
            self.hub.unsubscribe(self.sub)

    def _encode(self, events: list[Event]) -> bytes:
        """The events to send, encoded once by the hub; the changes this stream sent already are left out."""
        out = []
        for event in events:
            if event.name in ("change", "reset"):
                assert event.seq is not None
                if event.seq <= self.sent:
                    continue  # sent already (in the catch-up, or before a reset)
                self.sent = event.seq
            elif event.name == "overflow":
                break  # too far behind: the stream ends and the client reconnects from its cursor
            out.append(event.wire)
        return b"".join(out)

    async def _write(self, send: Send, body: bytes) -> None:
        await self._send(send, {"type": "http.response.body", "body": body, "more_body": True})
        self._last_write = asyncio.get_running_loop().time()

    async def _send(self, send: Send, message: Message) -> None:
        self._sending_since = asyncio.get_running_loop().time()
        try:
            await send(message)
        finally:
            self._sending_since = None

    async def _until_disconnect(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:
            log.debug("event stream receive failed", exc_info=True)
        self._closed = True
        self.sub.wake()
