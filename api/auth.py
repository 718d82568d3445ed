"""Who is calling: a bearer token looked up in a system transaction, then every query of the request
runs in a transaction under row-level security for that account."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import accounts
from db.engine import get_engine, transaction
from db.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="An API token from `tablechat token create NAME`")
MAX_TOKEN = 512


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
    """The caller named by `Authorization: Bearer <token>`, or 401."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("Missing API token: send `Authorization: Bearer <token>`")
    token = credentials.credentials
    if len(token) > MAX_TOKEN or not token.isascii():
        raise Unauthorized("Invalid API token")
    engine = engine_of(request)
    async with transaction(None, engine=engine) as conn:
        found = await accounts.account_for_token(conn, token)
    if found is None:
        raise Unauthorized("Invalid API token")
    return Caller(account_id=found["id"], name=found["name"], engine=engine)


CallerDep = Annotated[Caller, Depends(current_caller)]
