"""The review page, served by starlette under uvicorn on 127.0.0.1 only.

Safe by default:

- it binds 127.0.0.1 (never another interface) and answers only requests whose path starts
  with ``/<token>/``, a fresh ``secrets.token_urlsafe(24)`` per start that the command prints in
  the page's URL; every other request gets 403, and a Host header other than 127.0.0.1 or
  localhost gets 400 (a DNS-rebinding page cannot reach it either);
- the answers are model output, untrusted: the page is static (static/page.html) and its
  script (static/app.js) puts every text into the page with ``textContent``, never as HTML;
  each response carries ``Content-Security-Policy: default-src 'none'; script-src 'self'; ...``,
  so no inline script, no inline handler (``onerror=``) and no other origin can run or load,
  whatever an answer holds;
- no-store caching, no referrer (the token stays out of other sites' logs), no framing.

The page loads nothing from the network: its script and style come from this server.
"""

from __future__ import annotations

import secrets
import socket
from importlib import resources
from typing import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from careal.review.session import ReviewSession

HOST = "127.0.0.1"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
]
STATIC = {"": ("page.html", "text/html; charset=utf-8"), "app.js": ("app.js", "text/javascript; charset=utf-8"), "style.css": ("style.css", "text/css; charset=utf-8")}


class TokenGate:
    """ASGI middleware: 403 unless the path starts with /<token>/ (then strips it), and the
    security headers on every response."""

    def __init__(self, app, token: str):
        self.app = app
        self.prefix = f"/{token}/".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        path = scope["path"].encode("utf-8", "surrogateescape")
        if not secrets.compare_digest(path[: len(self.prefix)], self.prefix):
            response = PlainTextResponse("forbidden: open the page with the URL that `careal review serve` printed (it holds the token)\n", status_code=403)
            return await response(scope, receive, send_with_headers)
        inner_path = scope["path"][len(self.prefix) - 1:]
        inner = dict(scope, path=inner_path, raw_path=inner_path.encode("utf-8", "surrogateescape"))
        return await self.app(inner, receive, send_with_headers)


def make_app(session: ReviewSession, token: str) -> Starlette:
    """The review page's ASGI app for ``session``, gated by ``token``."""
    files = resources.files("careal.review") / "static"

    def static(name: str) -> Callable[[Request], Response]:
        file, media = STATIC[name]
        return lambda request: Response((files / file).read_bytes(), media_type=media)

    def state(request: Request) -> JSONResponse:
        return JSONResponse(session.state())

    async def verdict(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send JSON"}, status_code=415)
        try:
            body = await request.json()
            return JSONResponse(session.verdict(str(body["key"]), str(body["label"])))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    routes = [
        Route("/", static(""), methods=["GET"]),
        Route("/app.js", static("app.js"), methods=["GET"]),
        Route("/style.css", static("style.css"), methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/verdict", verdict, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[HOST, "localhost"])])


def serve(session: ReviewSession, port: int = 0, token: str | None = None, ready: Callable[[str], None] | None = None) -> None:
    """Serve the page on 127.0.0.1:``port`` (0: a free port) until interrupted; ``ready`` gets
    the page's URL (with the token) once the socket is bound."""
    token = token or secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)  # connections made as soon as the URL is printed wait in the backlog
    url = f"http://{HOST}:{sock.getsockname()[1]}/{token}/"
    app = TokenGate(make_app(session, token), token)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, date_header=False))
    if ready:
        ready(url)
    server.run(sockets=[sock])
