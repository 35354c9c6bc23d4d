"""Console sign-in: who is signed in, the session cookie, and the CSRF checks.

The session cookie holds a random token (its digest is in SQLite); it is HttpOnly, SameSite=Strict,
and Secure whenever the console is reached over HTTPS. Every form carries the session's CSRF token;
sign-in forms, made before there is a session, carry a double-submit token instead.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from zaobot.config import Settings
from zaobot.handlers.webhook_body import BodyTooLarge
from zaobot.storage import Store, console
from zaobot.storage.aio import StorageThread
from zaobot.storage.console import ConsoleSession
from zaobot.storage.store import utcnow
from zaobot.web.forms import read_form
from zaobot.web.security import same_origin

SESSION_COOKIE = "zaobot_console"
SIGNIN_COOKIE = "zaobot_signin"  # the double-submit token of the sign-in forms
TOKEN_ACTOR = ("console", "token")  # the audit identity of a sign-in with ZAOBOT_CONSOLE_TOKEN
FAILED_WINDOW = timedelta(minutes=10)
FAILED_LIMIT = 10  # failed sign-ins in FAILED_WINDOW before sign-in pauses (links and token alike)

Page = Callable[[Request, ConsoleSession], Awaitable[Response]]


class ConsoleAuth:
    def __init__(self, settings: Settings, store: Store, io: StorageThread) -> None:
        self.settings = settings
        self.store = store
        self.io = io

    # ---------------------------------------------------------------- who is signed in

    def still_moderator(self, session: ConsoleSession) -> bool:
        """A session ends when its moderator leaves the moderator list (or the token is unset)."""
        if (session.platform, session.actor_hash) == (TOKEN_ACTOR[0], self.token_actor()):
            return self.settings.console_token is not None
        return any(hmac.compare_digest(self.store.user_hash(session.platform, m), session.actor_hash)
                   for m in self.settings.moderators(session.platform))

    def token_actor(self) -> str:
        return self.store.user_hash(*TOKEN_ACTOR)

    async def current(self, request: Request) -> ConsoleSession | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        session = await self.io(console.find_session, token)
        if session is None or not self.still_moderator(session):
            return None
        return session

    # ---------------------------------------------------------------- cookies

    def secure(self, request: Request) -> bool:
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

    @staticmethod
    def signin_form_ok(request: Request, form_token: str) -> bool:
        cookie = request.cookies.get(SIGNIN_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, form_token) and same_origin(request)

    @staticmethod
    def csrf_ok(request: Request, session: ConsoleSession, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given, session.csrf) and same_origin(request)

    async def too_many_failures(self) -> bool:
        return await self.io(console.failed_signins, utcnow() - FAILED_WINDOW) >= FAILED_LIMIT

    # ---------------------------------------------------------------- route guards

    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """A console page: without a session, a redirect to the sign-in page."""

        async def guarded(request: Request) -> Response:
            session = await self.current(request)
            if session is None:
                return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)
            return await handler(request, session)

        return guarded

    def action(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """A state-changing request: 401 without a session, 403 without the session's CSRF token
        (a form field `csrf`, or the X-CSRF-Token header for uploads sent by script)."""

        async def guarded(request: Request) -> Response:
            session = await self.current(request)
            if session is None:
                return PlainTextResponse("Sign in first.", status_code=401)
            try:
                given = request.headers.get("x-csrf-token", "") or (await read_form(request)).get("csrf", "")
            except BodyTooLarge:
                return PlainTextResponse("That form is too large.", status_code=413)
            if not self.csrf_ok(request, session, given):
                return PlainTextResponse("This form has expired or did not come from the console: "
                                         "reload the page and try again.", status_code=403)
            return await handler(request, session)

        return guarded

    def data(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """Something a console page loads (a reported clip): 401 without a session."""

        async def guarded(request: Request) -> Response:
            session = await self.current(request)
            if session is None:
                return PlainTextResponse("Sign in first.", status_code=401)
            return await handler(request, session)

        return guarded
