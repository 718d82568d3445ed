"""How the REST API reads the login cookie Chainlit sets, so the live view's script calls are signed in
as the chat's user (the API itself knows no Chainlit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainlit.auth.cookie import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt

from api.auth import LoginCookie


def _claims(token: str) -> tuple[str, Mapping[str, Any]]:
    user = decode_jwt(token)
    return user.identifier, user.metadata or {}


LOGIN_COOKIE = LoginCookie(token=lambda cookies: get_token_from_cookies(dict(cookies)), claims=_claims)
