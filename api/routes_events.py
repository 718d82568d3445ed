"""`GET /tables/{id}/events`: the change feed pushed as server-sent events (`api.live_feed`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials

from api.auth import Caller, CallerDep, bearer, current_caller, engine_of
from api.common import TableId
from api.event_stream import EventStream
from api.live_feed import PAGE, FeedHub, change_event, reset_event
from db import changes, tables
from db.errors import NotFound, ServiceError

router = APIRouter(tags=["changes"])
MAX_CURSOR = 2**63 - 1
PING_S = 15  # a comment line this often keeps proxies from closing an idle stream
SEND_TIMEOUT_S = 30  # a client that takes no bytes for this long is dropped (it reconnects from its cursor)
RECHECK_S = 600  # the caller's token or login and the table are checked again this often (two transactions)

EVENTS_DOC = """A stream (`text/event-stream`) of the table's changes after `cursor`:

- `change`: one change, its data shaped like one entry of `/updates` (its `id:` is the change's `seq`);
- `reset` `{cursor}`: more changed at once than is worth sending (a bulk write): read the rows again,
  then follow from `cursor`;
- `ready` `{cursor, push}`: sent once, after the changes the stream caught up with;
- `push` `{up}`: whether changes are being pushed; while `up` is false, poll `/updates` instead (the stream
  stays open and says when it is back, then sends what changed meanwhile);
- `gone`: the table was deleted, or is no longer yours; the stream ends (also when your token or login
  has ended: the stream checks them again every 10 minutes).

A comment line comes every 15 s when nothing else does. After a dropped connection, reconnect with the
last `seq` you saw as `cursor` (or `Last-Event-ID`)."""


def hub_of(request: Request) -> FeedHub:
    """The app's hub for the engine this request uses (one listener per process and engine)."""
    engine = engine_of(request)
    hubs: dict[int, FeedHub] | None = getattr(request.app.state, "feed_hubs", None)
    if hubs is None:
        hubs = request.app.state.feed_hubs = {}
    hub = hubs.get(id(engine))
    if hub is None:
        hub = hubs[id(engine)] = FeedHub(engine)
    return hub


async def _still_allowed(request: Request, caller: Caller, table_id: uuid.UUID) -> bool:
    """The stream's token or login is still valid and its table still the caller's."""
    try:
        credentials: HTTPAuthorizationCredentials | None = await bearer(request)
        again = await current_caller(request, credentials)
        if again.account_id != caller.account_id:
            return False
        async with again.tx() as conn:
            await tables.get_table(conn, table_id)
    except ServiceError:
        return False
    return True


@router.get("/tables/{table_id}/events", response_class=EventStream, status_code=200, description=EVENTS_DOC,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "Server-sent events"}})
async def events(
    request: Request,
    caller: CallerDep,
    table_id: TableId,
    cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR, description="The last change you have (as for `/updates`)")] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20, include_in_schema=False)] = None,
) -> EventStream:
    if last_event_id and last_event_id.isdigit() and int(last_event_id) <= MAX_CURSOR:
        cursor = max(cursor, int(last_event_id))
    try:
        key = uuid.UUID(table_id)
    except ValueError:
        raise NotFound(f"No table {table_id}", table_id=table_id[:80]) from None
    hub = hub_of(request)
    # registered before the catch-up is read, so that nothing committed in between is missed
    sub = await hub.subscribe(caller.account_id, key)
    try:
        async with caller.tx() as conn:
            table = await tables.get_table(conn, key)  # the table is the caller's, or 404
            page = await changes.read_changes(conn, table, cursor=cursor, limit=PAGE)
            latest = await tables.current_seq(conn, table.id) if page.more else page.cursor
    except BaseException:
        hub.unsubscribe(sub)
        raise
    hub.caught_up(sub, latest)
    first = [reset_event(latest)] if page.more else [change_event(c) for c in page.changes]
    return EventStream(hub, sub, first, cursor=cursor, latest=latest,
                       still_allowed=lambda: _still_allowed(request, caller, key),
                       ping_s=PING_S, recheck_s=RECHECK_S, send_timeout_s=SEND_TIMEOUT_S,
                       headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
