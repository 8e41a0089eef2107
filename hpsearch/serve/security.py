"""What every request goes through: the token, the Host and Origin checks, body size, and
the response headers.

Loopback only (the default): reading needs nothing; with a token (given), writing needs it.
Any other address: a token is required for everything. The browser gets the token once in
a page's URL (`?token=`), which is swapped for an HttpOnly, SameSite=Strict cookie and dropped
from the address bar; the API takes it only in `Authorization: Bearer`, never in the URL
(where it would stay in logs and histories).

Every response, a crash's 500 included, carries the headers below; HEAD answers as GET with
no body.
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
MAX_UPLOAD = 200 * 1000 * 1000  # a data file (`serve --max-upload`, in MB)
UPLOAD_PATH = "/api/data"  # the one route whose body may pass MAX_BODY: up to max_upload
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
    max_upload: int = MAX_UPLOAD

    def body_limit(self, path: str) -> int:
        """The most bytes a write to `path` may send."""
        return self.max_upload if path == UPLOAD_PATH else self.max_body

    @property
    def cookie(self) -> str:
        return f"{COOKIE}_{self.port}"

    def needs_token(self, method: str) -> bool:
        return self.token is not None and (method not in READ_METHODS or not self.loopback)

    def has_token(self, request: Request) -> bool:
        """The cookie or the Authorization header holds the token (a URL's ?token= never does:
        pages trade it for the cookie first, the API refuses it)."""
        given = [request.cookies.get(self.cookie)]
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given.append(auth[7:].strip())
        return any(g and self.is_token(g) for g in given)

    def is_token(self, given: str) -> bool:
        return self.token is not None and secrets.compare_digest(
            given.encode(), self.token.encode()
        )


def is_page(request: Request) -> bool:
    """A read outside the JSON API: a page, a download, a static file."""
    return request.method in READ_METHODS and not request.url.path.startswith("/api/")


# in the scope of a HEAD answered as GET: a route whose GET never ends (an event stream) looks
HEAD_ASKED = "hpsearch.head"


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
        head = scope["method"] == "HEAD"
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["Cache-Control"] = "no-store" if private else "public, max-age=3600"
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}  # GET's headers (Content-Length too), no body
            await send(message)

        try:
            response = _refuse(self.guard, request)
            if response is not None:
                await response(scope, receive, with_headers)
            else:
                # the routes answer HEAD as GET (their body is dropped above), so that no route
                # needs a HEAD twin, in the OpenAPI document or in the routers
                inner = {**scope, "method": "GET", HEAD_ASKED: True} if head else scope
                await self.app(inner, receive, with_headers)
        except Exception as exc:
            if started:
                raise
            # FastAPI's handler for Exception sits outside this middleware: its 500 would go
            # out without the headers above. Raised again so that the server logs it.
            await error(500, f"internal error: {type(exc).__name__}: {exc}"[:500])(
                scope, receive, with_headers
            )
            raise


def _token_redirect(guard: Guard, request: Request) -> Response | None:
    """A page opened with ?token=: the right token goes into a cookie; either way it leaves the
    address (and so the history, the logs and the next Referer)."""
    given = request.query_params.get("token")
    if guard.token is None or given is None or not is_page(request):
        return None
    right = guard.is_token(given)
    if not right and guard.needs_token(request.method) and not guard.has_token(request):
        return None  # refused as a wrong token
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    response = RedirectResponse(
        request.url.path + (f"?{urlencode(rest)}" if rest else ""), status_code=303
    )
    if right:
        response.set_cookie(
            guard.cookie,
            guard.token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def _refuse(guard: Guard, request: Request) -> Response | None:
    """The answer to a request the rules refuse (or redirect), or None to let it through."""
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
    if guard.loopback and not is_loopback(host):
        # a page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding)
        return error(
            400, f"Host: expected a loopback name such as 127.0.0.1, got {host or 'none'!r}"
        )
    length = request.headers.get("content-length")
    # uvicorn's parser refuses these before the app (see server.py); other servers may not
    if length is not None and not (length.isascii() and length.isdigit()):
        return error(400, f"Content-Length: expected a number of bytes, got {length!r}")
    redirect = _token_redirect(guard, request)
    if redirect is not None:
        return redirect
    if guard.needs_token(request.method) and not guard.has_token(request):
        if "token" in request.query_params and not is_page(request):
            return error(
                401,
                "token: expected the header Authorization: Bearer TOKEN, got ?token= "
                "in the URL (taken by pages only)",
                **{"WWW-Authenticate": "Bearer"},
            )
        why = (
            "wrong"
            if request.cookies.get(guard.cookie)
            or request.query_params.get("token")
            or request.headers.get("authorization")
            else "missing"
        )
        return error(
            401,
            f"token {why}: open the address `hpsearch serve` printed (with ?token=), "
            "or send the header Authorization: Bearer TOKEN",
            **{"WWW-Authenticate": "Bearer"},
        )
    if request.method not in READ_METHODS:
        # Another site's page posting here (CSRF): browsers say so in Origin and Sec-Fetch-Site
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return error(403, f"Origin: expected this server's own pages, got {origin!r}")
        if request.headers.get("sec-fetch-site") == "cross-site":
            return error(
                403,
                "Sec-Fetch-Site: expected a request from this server's own pages, got cross-site",
            )
        limit = guard.body_limit(request.url.path)
        if length is not None and int(length) > limit:
            return error(413, f"body: expected at most {limit} bytes, got {length}")
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
