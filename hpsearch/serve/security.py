"""What every request goes through: the token, the Host and Origin checks, body size, and
the response headers.

Loopback only (the default): reading needs nothing; with a token (given), writing needs it.
Any other address: a token is required for everything. The browser gets the token once in
the URL (`?token=`), which is swapped for an HttpOnly, SameSite=Strict cookie and dropped
from the address bar.
"""
from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "hpsearch_token"  # + the port: cookies are shared by every port of a host
MAX_BODY = 256 * 1024  # a study file is a few hundred bytes
READ_METHODS = ("GET", "HEAD")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # No inline script, no eval: an injected <script> cannot run. (Hence no Plotly parcoords:
    # its WebGL code is compiled at run time; the parallel plot is drawn with scatter lines.)
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                               "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Guard:
    """The server's access rules."""

    loopback: bool
    token: str | None
    max_body: int = MAX_BODY
    port: int = 0

    @property
    def cookie(self) -> str:
        return f"{COOKIE}_{self.port}"

    def needs_token(self, method: str) -> bool:
        return self.token is not None and (method not in READ_METHODS or not self.loopback)

    def has_token(self, request: Request) -> bool:
        given = [request.cookies.get(self.cookie), request.query_params.get("token")]
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        return any(g and secrets.compare_digest(g.encode(), self.token.encode()) for g in given)


def error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class GuardMiddleware:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs ~0.5 ms a request)."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        private = not request.url.path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["Cache-Control"] = "no-store" if private else "public, max-age=3600"
            await send(message)

        response = _refuse(self.guard, request) or _token_redirect(self.guard, request)
        if response is not None:
            await response(scope, receive, with_headers)
        else:
            await self.app(scope, receive, with_headers)


def _token_redirect(guard: Guard, request: Request) -> Response | None:
    """A page opened with ?token=: keep it in a cookie, take it out of the address."""
    if not (guard.token and request.method in READ_METHODS and request.query_params.get("token")
            and not request.url.path.startswith("/api/") and guard.has_token(request)):
        return None
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    response = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""),
                                status_code=303)
    response.set_cookie(guard.cookie, guard.token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


def _refuse(guard: Guard, request: Request) -> Response | None:
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
    if guard.loopback and not is_loopback(host):
        # a page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding)
        return error(400, f"Host: expected a loopback name such as 127.0.0.1, got {host or 'none'!r}")
    if guard.needs_token(request.method) and not guard.has_token(request):
        why = "wrong" if request.cookies.get(guard.cookie) or request.query_params.get("token") \
            or request.headers.get("authorization") else "missing"
        return error(401, f"token {why}: open the address `hpsearch serve` printed (with ?token=), "
                          "or send the header Authorization: Bearer TOKEN",
                     **{"WWW-Authenticate": "Bearer"})
    if request.method not in READ_METHODS:
        # Another site's page posting here (CSRF): browsers say so in Origin and Sec-Fetch-Site
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return error(403, f"Origin: expected this server's own pages, got {origin!r}")
        if request.headers.get("sec-fetch-site") == "cross-site":
            return error(403, "Sec-Fetch-Site: expected a request from this server's own pages, "
                              "got cross-site")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > guard.max_body):
            return error(413, f"body: expected at most {guard.max_body} bytes, got {length}")
    return None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past `limit` bytes even without a Content-Length."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body: expected at most {limit} bytes, got more")
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTooLarge(Exception):
    pass
