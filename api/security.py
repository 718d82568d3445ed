"""The web app's outer wall, for the UI, its socket and the REST API alike: requests from another origin are
refused (CORS only for origins listed in settings), every answer carries a Content-Security-Policy and the
framing / sniffing / referrer headers, cookies are `Secure` when the app is served over HTTPS, and
`POST /login` is throttled (api/throttle.py).

`install(app)` wires it into a Starlette app (the Chainlit server); the pieces are plain ASGI middleware."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import throttle
from api.throttle import LoginThrottle
from core.settings import get_settings

DEFAULT_PORTS = {"http": 80, "https": 443}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def normalise_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port; None for anything else ("null")."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")


def own_origin(scope: Scope) -> str | None:
    """The origin this request was addressed to: its scheme (as the trusted proxy layer left it) and Host."""
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return normalise_origin(f"{scheme}://{host}") if host else None


class OriginPolicy:
    """Which browser origins may talk to the app: its own, plus those listed (TABLECHAT_ALLOWED_ORIGINS)."""

    def __init__(self, allowed: Iterable[str] = ()):
        self.allowed = {o for o in (normalise_origin(a) for a in allowed) if o}

    def allows(self, origin: str, scope: Scope) -> bool:
        found = normalise_origin(origin)
        return found is not None and (found in self.allowed or found == own_origin(scope))

    def socket_check(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """For engine.io's `cors_allowed_origins`: called with the handshake's Origin, and with None for a
        request without one (then no CORS header is due; such a request is not refused for it)."""
        return origin is not None and self.allows(origin, environ.get("asgi.scope") or {})


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP sources for the inline `<script>` blocks of a page, so that no other inline script can run."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
            for body in _INLINE_SCRIPT.findall(html)]


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """The policy of every answer. 'unsafe-eval' is the one concession: Chainlit compiles the custom
    elements (public/elements/*.jsx) in the browser and runs them with `new Function`. Styles may be
    inline (the UI's components set them at run time); fonts and KaTeX's stylesheet come from the CDNs
    Chainlit's page links to."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'", "https://fonts.googleapis.com", "https://cdn.jsdelivr.net"],
        "font-src": ["'self'", "data:", "https://fonts.gstatic.com", "https://cdn.jsdelivr.net"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class SecurityMiddleware:
    """Refuses foreign origins (403, or a closed socket handshake), adds the security headers to every
    answer, and marks cookies `Secure` on HTTPS."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy, csp: str, force_secure: bool = False):
        self.app, self.policy = app, policy
        self.force_secure = force_secure
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin")
        if origin is not None and not self.policy.allows(origin.decode("latin-1"), scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before accept: answered 403
            else:
                await JSONResponse({"error": {"code": "forbidden", "message": "Cross-origin request refused",
                                              "details": {}}}, status_code=403,
                                   headers={k.decode(): v.decode() for k, v in self.headers}
                                   )(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        secure = self.force_secure or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in present]
                if secure:
                    headers = [(k, _secure_cookie(v) if k.lower() == b"set-cookie" else v) for k, v in headers]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure_cookie(value: bytes) -> bytes:
    attributes = [a.strip().lower() for a in value.split(b";")[1:]]
    return value if b"secure" in attributes else value + b"; Secure"


def _replace_cors(app: Starlette, origins: list[str]) -> None:
    """Chainlit adds CORS from `allow_origins` of .chainlit/config.toml; ours lists exactly the allowed
    origins (the app's own needs none), with credentials, for the methods and headers the app uses."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not CORSMiddleware]
    app.user_middleware.insert(0, Middleware(
        CORSMiddleware, allow_origins=origins, allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Requested-With", "Idempotency-Key"], expose_headers=["X-Fill-Job"]))


def install(app: Starlette, *, socket_server: Any = None, index_html: bytes = b"") -> None:
    """Put the wall around `app` (before it serves its first request). `socket_server` is the socket.io
    server whose handshake must check the origin too; `index_html` is the UI page, whose inline scripts
    the policy allows by hash."""
    if any(m.cls is SecurityMiddleware for m in app.user_middleware):
        return
    settings = get_settings()
    policy = OriginPolicy(settings.allowed_origins)
    _replace_cors(app, sorted(policy.allowed))
    if socket_server is not None:
        socket_server.eio.cors_allowed_origins = policy.socket_check
    account, client = throttle.limits()
    app.add_middleware(LoginThrottle, throttle=throttle.shared(), account=account, client=client)
    app.add_middleware(SecurityMiddleware, policy=policy, csp=content_security_policy(
        inline_script_hashes(index_html)), force_secure=settings.force_secure_cookies)
    # outermost: scheme and client address come from X-Forwarded-* only when a trusted proxy sent them.
    # uvicorn (under `chainlit run`) applies its own copy first, with FORWARDED_ALLOW_IPS, which it reads
    # when it starts, after the app module is imported: both trust the same list
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    os.environ["FORWARDED_ALLOW_IPS"] = ",".join(settings.trusted_proxies)
