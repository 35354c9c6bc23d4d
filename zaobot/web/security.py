"""Headers every page carries, and the same-origin test for state-changing requests."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Only our own scripts, styles and media; no framing; a Referer only to ourselves (a sign-in link
# carries its token in the URL, and must not leak elsewhere). Not "no-referrer": with it, Chromium
# sends `Origin: null` on our own form posts, and the same-origin check would refuse them.
HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Pure ASGI middleware: adds HEADERS to the responses under the given path prefixes."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/console", "/playground", "/web-static")) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)


def same_origin(request: Request, also: tuple[str, ...] = ()) -> bool:
    """A state-changing request must come from our own pages: its Origin (or, failing that, its
    Referer) names this host, or one of `also` (the public URL's host, when a proxy rewrites Host).
    Browsers send Origin on every cross-site POST; a request with neither header is not from a
    browser page, and the CSRF token still has to match."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    if source == "null":
        return False
    return urlsplit(source).netloc in (request.headers.get("host", ""), *also)


def hex_id(value: str, length: int) -> bool:
    """`value` is `length` lowercase hex digits: an id from a URL or cookie is checked before use."""
    return len(value) == length and all(c in "0123456789abcdef" for c in value)
