"""The event stream's own behaviour (api/event_stream.py), driven as the server drives an ASGI app: batching,
heartbeats, a client that leaves, one that takes no bytes, one that falls too far behind. The whole path
from an edit through PostgreSQL is tested in test_api_events.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from api.event_stream import EventStream
from api.live_feed import MAX_BACKLOG, Event, FeedHub, push_event


class QuietListener:
    up = True

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class Client:
    """The server side of one connection: what the stream sent, and a switch that makes it stop reading."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.reading = asyncio.Event()
        self.reading.set()
        self.left = asyncio.Event()
        self.received_request = False

    async def send(self, message: dict[str, Any]) -> None:
        await self.reading.wait()  # a full socket buffer: the server's send waits
        self.messages.append(message)

    async def receive(self) -> dict[str, Any]:
        if not self.received_request:
            self.received_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages)

    @property
    def writes(self) -> int:
        return sum(1 for m in self.messages if m.get("more_body"))


def change(seq: int) -> Event:
    return Event("change", f'{{"seq":{seq}}}', seq)


async def open_stream(**timing: float) -> tuple[FeedHub, Any, Client, asyncio.Task[None]]:
    hub = FeedHub(None, listener=QuietListener())  # type: ignore[arg-type]
    sub = await hub.subscribe(uuid.uuid4(), uuid.uuid4())
    client = Client()
    stream = EventStream(hub, sub, [change(5)], cursor=4, latest=5, still_allowed=_allowed,
                         ping_s=timing.get("ping_s", 30), recheck_s=timing.get("recheck_s", 600),
                         send_timeout_s=timing.get("send_timeout_s", 30))
    task = asyncio.create_task(stream({"type": "http"}, client.receive, client.send))
    await _until(lambda: b"event: ready" in client.body)
    return hub, sub, client, task


async def _allowed() -> bool:
    return True


async def _until(condition: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_the_catch_up_then_ready_in_one_write_and_events_after_it():
    hub, sub, client, task = await open_stream()
    assert client.messages[0]["type"] == "http.response.start"
    assert client.writes == 1 and client.body.index(b"id: 5") < client.body.index(b"event: ready")
    sub.put(change(5))  # the catch-up had it already: dropped
    sub.put(change(6))
    await _until(lambda: b"id: 6" in client.body)
    assert client.body.count(b"id: 5") == 1
    client.left.set()
    await asyncio.wait_for(task, 5)
    assert not hub._tables  # unsubscribed


async def test_what_arrives_while_a_write_waits_goes_out_as_one_write():
    _, sub, client, task = await open_stream()
    client.reading.clear()
    sub.put(change(6))
    await asyncio.sleep(0.05)  # the stream is now waiting in its send
    for seq in range(7, 12):
        sub.put(change(seq))
    writes = client.writes
    client.reading.set()
    await _until(lambda: b"id: 11" in client.body)
    assert client.writes == writes + 2  # 6 alone, then 7 to 11 together
    client.left.set()
    await asyncio.wait_for(task, 5)


async def test_an_idle_stream_sends_heartbeats():
    _, _, client, task = await open_stream(ping_s=0.1)
    await _until(lambda: client.body.count(b": ping") >= 2)
    client.left.set()
    await asyncio.wait_for(task, 5)


async def test_a_client_that_takes_no_bytes_is_dropped():
    hub, sub, client, task = await open_stream(ping_s=0.05, send_timeout_s=0.2)
    client.reading.clear()
    sub.put(change(6))
    await asyncio.wait_for(task, 5)  # ends by itself: no exception, the connection is closed
    assert not task.cancelled() and not hub._tables
    assert not any(m.get("more_body") is False for m in client.messages)


async def test_a_stream_too_far_behind_ends_so_that_its_client_reconnects():
    hub, sub, client, task = await open_stream()
    client.reading.clear()
    sub.put(change(6))
    await asyncio.sleep(0.05)
    for seq in range(7, 8 + MAX_BACKLOG):
        sub.put(change(seq))
    sub.put(push_event(True))  # nothing more is kept for it
    assert sub.overflowed and len(sub.pending) == 1
    client.reading.set()
    await asyncio.wait_for(task, 5)
    assert b"id: 7\r\n" not in client.body and client.messages[-1] == {
        "type": "http.response.body", "body": b"", "more_body": False}
    assert not hub._tables


async def test_a_failed_recheck_ends_the_stream_with_gone():
    hub = FeedHub(None, listener=QuietListener())  # type: ignore[arg-type]
    sub = await hub.subscribe(uuid.uuid4(), uuid.uuid4())
    client = Client()
    allowed = [True, False]

    async def still_allowed() -> bool:
        return allowed.pop(0)

    stream = EventStream(hub, sub, [], cursor=0, latest=0, still_allowed=still_allowed, ping_s=30,
                         recheck_s=0.05, send_timeout_s=30)
    await asyncio.wait_for(stream({"type": "http"}, client.receive, client.send), 5)
    assert b"event: gone" in client.body and not allowed  # checked twice: passed, then refused
    assert not hub._tables
