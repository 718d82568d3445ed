"""Serve the REST API from the Chainlit process, on the same port as the UI."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Mount

from api.app import PREFIX, create_api
from api.auth import LoginCookie


def api_mount(api: FastAPI) -> Mount:
    """A Mount of `api` at /api/v1 that also matches paths holding a percent-encoded newline: Starlette's
    default pattern does not, and such a request would fall through to the parent's plain-text 404."""
    mount = Mount(PREFIX, app=api, name="api")
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


def mount_api(fastapi_app: FastAPI, engine: AsyncEngine | None = None, *,
              login_cookie: LoginCookie | None = None) -> FastAPI:
    """Mount the API at /api/v1 ahead of every other route (Chainlit ends with a catch-all that
    would otherwise answer with its HTML page); returns the API app. Mounting twice is a no-op."""
    for route in fastapi_app.router.routes:
        if isinstance(route, Mount) and route.path == PREFIX:
            return route.app  # type: ignore[return-value]
    api = create_api(engine, login_cookie=login_cookie)
    fastapi_app.router.routes.insert(0, api_mount(api))
    return api
