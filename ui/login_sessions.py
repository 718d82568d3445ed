"""Logout that holds: Chainlit's login cookie is a signed token (Chainlit 2.12 keeps no server-side session),
so a cookie copied before logout would stay good for its 15 days. Each sign-in records a session
(db/sessions.py) whose id travels in the cookie's user metadata; every request that Chainlit authenticates
(its HTTP routes and the websocket's connect both go through `chainlit.auth.authenticate_user`), and every
REST call signed in by cookie (api/auth.py, through db/sessions.py), is refused once that session is revoked. Logout revokes it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from db import sessions
from db.engine import get_engine, transaction
from db.sessions import SESSION_KEY

log = logging.getLogger(__name__)

__all__ = ["SESSION_KEY", "end", "install", "start"]

async def start(account_id: uuid.UUID | str) -> str:
    """A new session for a sign-in; its id goes into the user metadata Chainlit signs into the cookie."""
    async with transaction(None) as conn:
        return str(await sessions.open_session(conn, account_id))


def _metadata_of(token: str | None) -> dict[str, Any] | None:
    """The user metadata of a login cookie, or None when it is not one of ours (or no longer valid)."""
    from chainlit.auth.jwt import decode_jwt

    if not token:
        return None
    try:
        return decode_jwt(token).metadata or {}
    except Exception:  # noqa: BLE001 -- expired, forged, another secret: Chainlit refuses it itself
        return None


async def end(request: Any) -> None:
    """Chainlit's `on_logout`: revoke the session of the cookie the logout request carries."""
    from chainlit.auth.cookie import get_token_from_cookies

    metadata = _metadata_of(get_token_from_cookies(dict(request.cookies)))
    if not metadata or SESSION_KEY not in metadata:
        return
    try:
        session_id = uuid.UUID(str(metadata[SESSION_KEY]))
    except ValueError:
        return
    async with transaction(None) as conn:
        await sessions.revoke(conn, session_id)


def install() -> None:
    """Make Chainlit check the session of every cookie it accepts (idempotent)."""
    import chainlit.auth as chainlit_auth
    from fastapi import HTTPException

    # `get_current_user` (HTTP routes, websocket connect) calls this module-level function by name
    original = chainlit_auth.authenticate_user
    if getattr(original, "checks_sessions", False):
        return

    async def authenticate_user(token: str) -> Any:
        metadata = _metadata_of(token)
        if metadata is not None:
            async with transaction(None, engine=get_engine()) as conn:
                active = await sessions.is_active_for(conn, metadata)
            if not active:
                raise HTTPException(status_code=401, detail="Your session has ended; sign in again")
        return await original(token)

    authenticate_user.checks_sessions = True  # type: ignore[attr-defined]
    chainlit_auth.authenticate_user = authenticate_user
