"""Every failure leaves the API as `{"error": {code, message, details}}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.errors import ServiceError

log = logging.getLogger("tablechat.api")

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
    429: "too_many_requests",
}


def envelope(status: int, code: str, message: str, details: Any = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape of the API."""
    try:
        details = jsonable_encoder(details if details is not None else {})
        return JSONResponse({"error": {"code": code, "message": message, "details": details}},
                            status_code=status, headers=headers)
    except ValueError:
        # details that JSON cannot carry (NaN from a client's body) must not turn a 4xx into a 500
        return JSONResponse({"error": {"code": code, "message": message, "details": {}}},
                            status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return envelope(exc.status, exc.code, exc.message, exc.details, headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # the offending input is left out on purpose: it may be huge, secret or not representable as JSON
    problems = [{"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return envelope(422, "invalid", f"Invalid request: {summary}", problems)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").capitalize()
    return envelope(exc.status_code, code, message, None, exc.headers)


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


def unexpected(exc: BaseException) -> JSONResponse:
    """The answer for an exception nothing else claimed: a few database refusals caused by the input
    itself are the client's fault; anything else is logged and answered without internals."""
    if isinstance(exc, HTTPException):  # raised where no handler could see it (e.g. a body read late)
        return envelope(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))
    if isinstance(exc, DBAPIError):
        state = _sqlstate(exc)
        if state.startswith("22"):  # data exception: NUL in text, a bad JSON escape, numeric overflow
            return envelope(422, "invalid", "A value cannot be stored (for example it contains a NUL "
                                            "character or a number out of range)", {"sqlstate": state})
        if state == "42501":  # row-level security refused a write outside the caller's workspaces
            return envelope(403, "forbidden", "Not allowed in this workspace")
        if state == "40001" or state == "40P01":
            return envelope(409, "conflict", "A concurrent change got in the way; try again")
    if isinstance(exc, UnicodeEncodeError):  # a lone surrogate in text that cannot be encoded as UTF-8
        return envelope(422, "invalid", "A value is not valid Unicode text")
    log.error("Unhandled error in the REST API", exc_info=exc)
    return envelope(500, "internal", "Internal server error")


class CatchAll:
    """Outermost guard inside the API: an unexpected exception becomes a 500 envelope and stops here,
    so that a parent app (Chainlit) never sees it and no stack trace reaches the client."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # too late for an answer of our own; the server closes the connection
            await unexpected(exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers and the catch-all on `app`."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(CatchAll)
