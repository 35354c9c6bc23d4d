"""Console sign-in: who is signed in, the session cookie, and the CSRF checks.

The session cookie holds a random token (its digest is in SQLite); it is HttpOnly, SameSite=Strict,
and Secure whenever the console is reached over HTTPS. Every form carries the session's CSRF token;
sign-in forms, made before there is a session, carry a double-submit token instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from zaobot.config import Settings
from zaobot.storage import Store, console
from zaobot.storage.aio import StorageThread
from zaobot.storage.console import ConsoleSession
from zaobot.web.forms import read_form
from zaobot.web.security import same_origin

SESSION_COOKIE = "zaobot_console"
SIGNIN_COOKIE = "zaobot_signin"  # the double-submit token of the sign-in forms
TOKEN_PLATFORM = "console"  # the audit identity of a sign-in with ZAOBOT_CONSOLE_TOKEN
FAILED_TRIES = 5  # failed sign-ins (tokens or links) from one address within FAILED_WINDOW_S before it waits
FAILED_WINDOW_S = 600.0
MAX_TRACKED = 10_000  # addresses remembered by the limiter

Page = Callable[[Request, ConsoleSession], Awaitable[Response]]
Guard = Literal["page", "action", "data"]


def same_text(a: str, b: str) -> bool:
    """Constant-time comparison of two strings of any characters (compare_digest refuses
    non-ASCII str, which a forged form could send)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


class SigninLimiter:
    """Failed sign-ins, per client address, in memory: guessing is slowed down for the guesser
    alone (a global count would let anyone lock every moderator out). Addresses are never stored."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = time.monotonic()
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] > FAILED_WINDOW_S:
            failures.popleft()
        return failures

    def blocked(self, address: str) -> bool:
        """Too many recent failures from `address`: even a right token or link waits."""
        return len(self._recent(address)) >= FAILED_TRIES

    def failed(self, address: str) -> None:
        """Count a failure; the table of addresses is bounded, so a flood of them can't exhaust memory."""
        if len(self._failures) >= MAX_TRACKED:
            self._failures = {a: f for a, f in self._failures.items() if self._recent(a)}
            if len(self._failures) >= MAX_TRACKED:  # a flood of addresses: forget the oldest half
                self._failures = dict(list(self._failures.items())[MAX_TRACKED // 2:])
        failures = self._recent(address)
        failures.append(time.monotonic())
        self._failures[address] = failures


class ConsoleAuth:
    """Who is signed in to the console, its cookies, and the checks every page and form passes:
    one place, so that no route can forget a check."""

    def __init__(self, settings: Settings, store: Store, io: StorageThread) -> None:
        self.settings = settings
        self.store = store
        self.io = io
        self.limiter = SigninLimiter()

    # ---------------------------------------------------------------- who is signed in

    def token_actor(self) -> str | None:
        """The audit identity of the operator token: tied to the token itself, so that changing
        ZAOBOT_CONSOLE_TOKEN ends the sessions it opened. None when no token is set."""
        token = self.settings.console_token
        if token is None:
            return None
        digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:16]
        return self.store.user_hash(TOKEN_PLATFORM, f"token:{digest}")

    def still_moderator(self, session: ConsoleSession) -> bool:
        """A session ends when its moderator leaves the moderator list (or the token changes)."""
        if session.platform == TOKEN_PLATFORM:
            actor = self.token_actor()
            return actor is not None and same_text(actor, session.actor_hash)
        return any(same_text(self.store.user_hash(session.platform, m), session.actor_hash)
                   for m in self.settings.moderators(session.platform))

    async def current(self, request: Request) -> ConsoleSession | None:
        """The request's session, if its cookie names a live one whose moderator is still one."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        session = await self.io(console.find_session, token)
        if session is None or not self.still_moderator(session):
            return None
        return session

    # ---------------------------------------------------------------- cookies

    def secure(self, request: Request) -> bool:
        """Cookies are Secure over HTTPS, also when a proxy ends TLS and forwards plain HTTP."""
        return request.url.scheme == "https" or self.settings.base_url.startswith("https://")

    def set_session(self, response: Response, token: str, request: Request) -> None:
        response.set_cookie(SESSION_COOKIE, token, max_age=int(console.SESSION_TTL.total_seconds()), path="/console",
                            httponly=True, samesite="strict", secure=self.secure(request))

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="strict")

    def signin_token(self, request: Request) -> str:
        """The double-submit token for a sign-in form: the cookie's, or a new one (set by `remember`)."""
        return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)

    def remember_signin_token(self, response: Response, token: str, request: Request) -> None:
        response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, path="/console", httponly=True, samesite="strict",
                            secure=self.secure(request))

    # ---------------------------------------------------------------- checks

    def from_console(self, request: Request) -> bool:
        """Same origin: this Host, or the public URL's host (a proxy may rewrite Host)."""
        public = urlsplit(self.settings.public_url).netloc if self.settings.public_url else ""
        return same_origin(request, also=(public,) if public else ())

    def signin_form_ok(self, request: Request, form_token: str) -> bool:
        """A sign-in form posted from our own page (double submit: no session exists yet to bind to)."""
        cookie = request.cookies.get(SIGNIN_COOKIE, "")
        return bool(cookie) and same_text(cookie, form_token) and self.from_console(request)

    def csrf_ok(self, request: Request, session: ConsoleSession, given: str) -> bool:
        """The session's own CSRF token, from our own origin."""
        return bool(given) and same_text(given, session.csrf) and self.from_console(request)

    # ---------------------------------------------------------------- route guards

    def guard(self, kind: Guard, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler that needs a session.
        page: a console page; without a session, a redirect to the sign-in page.
        data: something a page loads (a clip); 401 without a session.
        action: a state-changing request; 401 without a session, 403 without the session's CSRF
        token (a form field `csrf`, or the X-CSRF-Token header for uploads sent by script)."""

        async def guarded(request: Request) -> Response:
            session = await self.current(request)
            if session is None:
                if kind == "page":
                    return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)
                return PlainTextResponse("Sign in first.", status_code=401)
            if kind == "action":
                given = request.headers.get("x-csrf-token", "") or (await read_form(request)).get("csrf", "")
                if not self.csrf_ok(request, session, given):
                    return PlainTextResponse("This form has expired or did not come from the console: "
                                             "reload the page and try again.", status_code=403)
            return await handler(request, session)

        return guarded
