"""Refuse request bodies over the limit with 413 in the API's error shape. (FastAPI's own
`max_body_size` answers a too-long Content-Length with plain text, whatever the handlers say.)"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import envelope


class BodyLimit:
    """413 up front when Content-Length is too large, or as soon as a streamed body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes or max_bytes  # file imports (paths ending in /import)

    @staticmethod
    def _message(limit: int) -> str:
        return f"Request body larger than {limit // (1024 * 1024)} MB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"].rstrip("/").endswith("/import") else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await envelope(413, "too_large", self._message(limit))(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI lets an HTTPException from reading the body through to the handlers
                    raise HTTPException(413, self._message(limit))
            return message

        await self.app(scope, counting_receive, send)
