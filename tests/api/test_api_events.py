"""`GET …/tables/{id}/events`: changes pushed over server-sent events through one LISTEN connection per
process. Against a real HTTP server (uvicorn on the test loop): an in-process ASGI client would wait for
the end of a stream that never ends."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from api import routes_events
from api.app import create_api

WAIT_S = 10


@pytest.fixture(scope="module")
async def server(engine) -> AsyncIterator[tuple[str, Any]]:
    """The API on a free local port, served from the test loop; yields (base url, app)."""
    app = create_api(engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app
    for hub in getattr(app.state, "feed_hubs", {}).values():
        await hub.close()
    srv.should_exit = True
    await task


class Stream:
    """An open event stream: `next()` gives the next event as (name, data), ping comments as ("ping", None)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = WAIT_S) -> tuple[str, Any]:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> tuple[str, Any]:
        name, data = "message", []
        async for line in self.lines:
            if line.startswith(":"):
                return "ping", None
            if line == "":
                if data:
                    return name, json.loads("\n".join(data))
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        raise EOFError("the stream ended")

    async def until(self, name: str, timeout: float = WAIT_S) -> list[tuple[str, Any]]:
        """Every event up to and including the first called `name` (pings left out)."""
        seen = []
        while True:
            event = await self.next(timeout)
            if event[0] != "ping":
                seen.append(event)
            if event[0] == name:
                return seen

    async def nothing_for(self, seconds: float) -> None:
        try:
            event = await self.next(seconds)
        except TimeoutError:
            return
        while event[0] == "ping":
            try:
                event = await self.next(seconds)
            except TimeoutError:
                return
        raise AssertionError(f"expected no event, got {event}")


@asynccontextmanager
async def open_stream(base: str, table_id: str, headers: dict[str, str], cursor: int | None = None,
                      ) -> AsyncIterator[Stream]:
    params = {} if cursor is None else {"cursor": cursor}
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(WAIT_S, read=None)) as http, \
            http.stream("GET", f"/tables/{table_id}/events", params=params, headers=headers) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        yield Stream(r)


async def make_table(client, user) -> tuple[str, dict[str, str], int]:
    r = await client.post("/tables", json={"name": "Live", "columns": [{"name": "Title", "type": "text"},
                                                                       {"name": "Points", "type": "number"}]},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    table = r.json()
    cols = {c["name"]: c["id"] for c in table["columns"]}
    r = await client.post(f"/tables/{table['id']}/records", json={"rows": [{"Title": "a", "Points": 1},
                                                                            {"Title": "b", "Points": 2}]},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    page = (await client.get(f"/tables/{table['id']}/records", headers=user.headers)).json()
    return table["id"], cols, page["cursor"]


async def edit(client, user, table_id: str, col: str, value: Any) -> None:
    page = (await client.get(f"/tables/{table_id}/records", headers=user.headers)).json()
    row = page["items"][0]
    r = await client.patch(f"/tables/{table_id}/records/{row['id']}", json={"values": {col: value}},
                           headers=user.headers)
    assert r.status_code == 200, r.text


async def test_an_edit_is_pushed_shaped_like_an_update(server, client, user):
    base, _ = server
    tid, cols, cursor = await make_table(client, user)
    async with open_stream(base, tid, user.headers, cursor) as stream:
        ready = await stream.until("ready")
        assert ready == [("ready", {"cursor": cursor, "push": True})]
        await edit(client, user, tid, "Points", 42)
        name, data = await stream.next()
        assert name == "change"
        updates = (await client.get(f"/tables/{tid}/updates?cursor={cursor}", headers=user.headers)).json()
        assert data == updates["changes"][0]
        assert data["kind"] == "cell" and data["column_id"] == cols["Points"] and data["data"]["value"] == 42


async def test_catch_up_from_the_cursor_then_follow(server, client, user):
    base, _ = server
    tid, _, cursor = await make_table(client, user)
    await edit(client, user, tid, "Title", "first")
    await edit(client, user, tid, "Title", "second")
    async with open_stream(base, tid, user.headers, cursor) as stream:
        seen = await stream.until("ready")
        assert [(n, d["data"]["value"]) for n, d in seen[:-1]] == [("change", "first"), ("change", "second")]
        await edit(client, user, tid, "Title", "third")
        name, data = await stream.next()
        assert (name, data["data"]["value"]) == ("change", "third")
        assert data["seq"] > seen[-2][1]["seq"]
    # Last-Event-ID, as a browser's EventSource sends it after a dropped connection, counts as the cursor
    async with open_stream(base, tid, {**user.headers, "Last-Event-ID": str(data["seq"] - 1)}, 0) as stream:
        seen = await stream.until("ready")
        assert [d["data"]["value"] for n, d in seen[:-1]] == ["third"]


async def test_a_bulk_write_is_one_reset(server, client, user):
    base, _ = server
    tid, _, cursor = await make_table(client, user)
    async with open_stream(base, tid, user.headers, cursor) as stream:
        await stream.until("ready")
        r = await client.post(f"/tables/{tid}/records", json={"rows": [{"Title": str(i)} for i in range(800)]},
                              headers=user.headers)
        assert r.status_code == 201
        name, data = await stream.next()
        page = (await client.get(f"/tables/{tid}/records", headers=user.headers)).json()
        assert (name, data) == ("reset", {"cursor": page["cursor"]})
    async with open_stream(base, tid, user.headers, cursor) as stream:  # the catch-up too
        assert await stream.until("ready") == [("reset", {"cursor": page["cursor"]}),
                                               ("ready", {"cursor": page["cursor"], "push": True})]


async def test_another_workspace_gets_nothing(server, client, make_user):
    base, _ = server
    alice, bob = await make_user(), await make_user()
    tid, _, cursor = await make_table(client, alice)
    bob_tid, _, bob_cursor = await make_table(client, bob)
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.get(f"/tables/{tid}/events", headers=bob.headers)
        assert r.status_code == 404
        r = await http.get(f"/tables/{tid}/events")
        assert r.status_code == 401
        r = await http.get("/tables/not-a-table/events", headers=bob.headers)
        assert r.status_code == 404
    async with open_stream(base, bob_tid, bob.headers, bob_cursor) as bob_stream, \
            open_stream(base, tid, alice.headers, cursor) as alice_stream:
        await bob_stream.until("ready")
        await alice_stream.until("ready")
        await edit(client, alice, tid, "Title", "secret")
        assert (await alice_stream.next())[1]["data"]["value"] == "secret"
        await bob_stream.nothing_for(1.0)


async def test_many_views_of_a_table_share_one_read(server, client, user):
    base, app = server
    tid, _, cursor = await make_table(client, user)
    async with open_stream(base, tid, user.headers, cursor) as first:
        await first.until("ready")
        hub = next(iter(app.state.feed_hubs.values()))
        async with open_stream(base, tid, user.headers, cursor) as s2, \
                open_stream(base, tid, user.headers, cursor) as s3, \
                open_stream(base, tid, user.headers, cursor) as s4:
            streams = [first, s2, s3, s4]
            for s in streams[1:]:
                await s.until("ready")
            before = hub.reads
            await edit(client, user, tid, "Points", 7)
            for s in streams:
                assert (await s.next())[1]["data"]["value"] == 7
            assert hub.reads == before + 1


async def test_heartbeats(server, client, user, monkeypatch):
    base, _ = server
    monkeypatch.setattr(routes_events, "PING_S", 0.2)
    tid, _, cursor = await make_table(client, user)
    async with open_stream(base, tid, user.headers, cursor) as stream:
        await stream.until("ready")
        assert await stream.next(timeout=5) == ("ping", None)


async def test_the_listener_reconnects_and_nothing_is_lost(server, client, user, services):
    """PostgreSQL drops the listening connection: the stream says the push is down, then up again, and
    sends what changed meanwhile."""
    import psycopg

    from db.listener import asyncpg_dsn

    base, app = server
    tid, _, cursor = await make_table(client, user)
    async with open_stream(base, tid, user.headers, cursor) as stream:
        await stream.until("ready")
        hub = next(iter(app.state.feed_hubs.values()))
        pid = hub.listener.connection.get_server_pid()
        with psycopg.connect(asyncpg_dsn(services.owner_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await stream.until("push") == [("push", {"up": False})]
        await edit(client, user, tid, "Title", "while down")
        seen = await stream.until("push")
        assert seen[-1] == ("push", {"up": True})
        if len(seen) == 1:  # the reconnect came before the edit's commit: it arrives as a plain notification
            seen = [await stream.next()]
        changes = [d for n, d in seen if n == "change"]
        assert [d["data"]["value"] for d in changes] == ["while down"]
        assert hub.listener.connection.get_server_pid() != pid
        await edit(client, user, tid, "Title", "after")
        assert (await stream.next())[1]["data"]["value"] == "after"


async def test_a_stream_ends_when_its_token_is_revoked(server, client, user, engine, monkeypatch):
    from db import accounts
    from db.engine import transaction

    base, _ = server
    monkeypatch.setattr(routes_events, "RECHECK_S", 0.5)
    tid, _, cursor = await make_table(client, user)
    async with open_stream(base, tid, user.headers, cursor) as stream:
        await stream.until("ready")
        await edit(client, user, tid, "Title", "still mine")
        assert (await stream.next())[1]["data"]["value"] == "still mine"
        await asyncio.sleep(0.7)  # a recheck passes: the stream goes on
        await edit(client, user, tid, "Title", "checked")
        assert (await stream.until("change"))[-1][1]["data"]["value"] == "checked"
        async with transaction(None, engine=engine) as conn:
            assert await accounts.revoke_tokens(conn, user.id, "tests") == 1
        assert (await stream.until("gone"))[-1][0] == "gone"
        with pytest.raises(EOFError):
            await stream.next()
