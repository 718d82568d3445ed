"""Who is calling: a bearer token looked up in a system transaction (or, for the app's own pages, the login
cookie), then every query of the request runs in a transaction under row-level security for that account."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.throttle import token_failed
from db import accounts, sessions, token_auth
from db.engine import get_engine, transaction
from db.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="An API token from `tablechat token create NAME`")
MAX_TOKEN = 512
MAX_COOKIE = 16_384
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "tablechat"


@dataclass(frozen=True)
class LoginCookie:
    """How the chat pages' login cookie is read. The chat UI supplies it (to `create_api`), so this package
    knows no UI framework: an API without one accepts bearer tokens only."""

    token: Callable[[Mapping[str, str]], str | None]  # the signed token held in the cookies, if any
    claims: Callable[[str], tuple[str, Mapping[str, Any]]]  # (user name, metadata); raises if not valid


@dataclass(frozen=True)
class Caller:
    """The authenticated account and the engine its transactions run on."""

    account_id: uuid.UUID
    name: str
    engine: AsyncEngine

    def tx(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction that row-level security scopes to this account's workspaces."""
        return transaction(self.account_id, engine=self.engine)

    def system_tx(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction outside row-level security, for the few steps that precede it."""
        return transaction(None, engine=self.engine)


def engine_of(request: Request) -> AsyncEngine:
    """The engine given to `create_api`, else the process-wide one for this event loop."""
    return request.app.state.engine or get_engine()


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller named by `Authorization: Bearer <token>`, else by the login cookie of the app's pages; or 401."""
    engine = engine_of(request)
    if credentials is None or not credentials.credentials:
        cookie_caller = await _cookie_caller(request, engine)
        if cookie_caller is not None:
            return cookie_caller
        raise Unauthorized("Missing API token: send `Authorization: Bearer <token>`")
    token = credentials.credentials
    found = None
    if len(token) <= MAX_TOKEN and token.isascii():
        async with transaction(None, engine=engine) as conn:
            found = await token_auth.account_for_token(conn, token)
    if found is None:
        await token_failed(request.scope)
        raise Unauthorized("Invalid API token")
    return Caller(account_id=found["id"], name=found["name"], engine=engine)


async def _cookie_caller(request: Request, engine: AsyncEngine) -> Caller | None:
    """The signed-in user of the chat pages (the `access_token` cookie Chainlit sets at login). Only
    same-origin script calls carry the `X-Requested-With: tablechat` header, which a cross-site form or
    link cannot send, so a cookie alone never authorises a request (CSRF)."""
    if not any(k.startswith("access_token") for k in request.cookies):
        return None
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise Unauthorized(f"Requests signed in by cookie must send the header `{CSRF_HEADER}: {CSRF_VALUE}`")
    reader: LoginCookie | None = getattr(request.app.state, "login_cookie", None)
    if reader is None:
        raise Unauthorized("Invalid login cookie")
    token = reader.token(dict(request.cookies))
    if not token or len(token) > MAX_COOKIE:
        raise Unauthorized("Invalid login cookie")
    try:
        name, metadata = reader.claims(token)
        account_id = uuid.UUID(str((metadata or {})["account_id"]))
    except Exception:  # noqa: BLE001 -- expired, forged or from another secret: all the same to the caller
        raise Unauthorized("Your login has expired; sign in again") from None
    async with transaction(None, engine=engine) as conn:
        found = await accounts.account_by_name(conn, name)
        active = await sessions.is_active_for(conn, metadata)
    if found is None or found["id"] != account_id or not active:
        raise Unauthorized("Your login has expired; sign in again")
    return Caller(account_id=account_id, name=found["name"], engine=engine)


CallerDep = Annotated[Caller, Depends(current_caller)]
