"""`/playground`: a chat page that drives the same conversation core as the bots (ZAOBOT_PLAYGROUND=1).

A newcomer tries the real flow on their own machine, without a platform account: consent, a selfie,
the live check (recorded with the browser's camera), scene buttons, progress, the clip, /delete.
The page is one more platform: its `Outbox` keeps each browser's transcript in memory (clips
included, at most a few per browser), and the page polls it. Nothing here is stored on disk beyond
what the core stores for any platform, and /delete clears the transcript too.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from zaobot import storage
from zaobot.config import LOOPBACK
from zaobot.handlers.core import Conversation
from zaobot.handlers.events import Event, Reply
from zaobot.handlers.webhook_body import BodyTooLarge, read_capped
from zaobot.web.playground_outbox import PlaygroundOutbox
from zaobot.web.ranges import bytes_response
from zaobot.web.security import hex_id, same_origin

PLATFORM = "playground"
COOKIE = "zaobot_playground"
MAX_JSON = 8 * 1024
ACTION_SHOWN_S = 6.0  # how long "rendering…" shows after the core's last chat action


def _loopback(request: Request) -> bool:
    """The playground trusts whoever opens it: only this machine may (config refuses a public host).

    The Host header must name this machine too: a web page whose own name an attacker re-points
    at 127.0.0.1 (DNS rebinding) would otherwise pass as a local, same-origin caller."""
    client = request.client.host if request.client else ""
    name = (request.url.hostname or "").strip("[]").lower()
    return client in LOOPBACK and (name in LOOPBACK or name.endswith(".localhost"))


def _remember(request: Request, response: Response, user: str) -> None:
    """The browser's playground identity: a random id in a cookie, for this path only."""
    response.set_cookie(COOKIE, user, max_age=7 * 24 * 3600, path="/playground", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


class Playground:
    """The page and its small JSON API (same-origin only, with a custom header against CSRF)."""

    def __init__(self, core: Conversation, templates: Jinja2Templates) -> None:
        self.core = core
        self.templates = templates
        self.outbox = PlaygroundOutbox(media_ttl_s=core.settings.output_ttl_hours * 3600)
        core.register(PLATFORM, self.outbox)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/playground", self.page),
            Route("/playground/messages", self.messages),
            Route("/playground/say", self.say, methods=["POST"]),
            Route("/playground/press", self.press, methods=["POST"]),
            Route("/playground/photo", self.photo, methods=["POST"]),
            Route("/playground/video", self.video, methods=["POST"]),
            Route("/playground/media/{media_id}", self.media),
        ]

    # ---------------------------------------------------------------- who

    @staticmethod
    def _user(request: Request) -> str | None:
        value = request.cookies.get(COOKIE, "")
        return value if hex_id(value, 16) else None

    def _caller(self, request: Request) -> str | Response:
        """The browser's user id, for a request from our own page; otherwise the response to send."""
        if not _loopback(request):
            return PlainTextResponse("The playground answers only on this machine.", status_code=403)
        user = self._user(request)
        if user is None:
            return PlainTextResponse("Open /playground first.", status_code=401)
        if request.method == "POST" and (request.headers.get("x-playground") != "1" or not same_origin(request)):
            return PlainTextResponse("Requests must come from the playground page.", status_code=403)
        return user

    async def page(self, request: Request) -> Response:
        if not _loopback(request):
            return PlainTextResponse("The playground answers only on this machine.", status_code=403)
        user = self._user(request) or secrets.token_hex(8)
        response = self.templates.TemplateResponse(request, "playground.html", {
            "scenes": self.core.library.keywords(), "live": self.core.settings.liveness_required})
        _remember(request, response, user)
        return response

    async def messages(self, request: Request) -> Response:
        user = self._caller(request)
        if isinstance(user, Response):
            return user
        chat = self.outbox.transcript(user)
        since = request.query_params.get("version", "")
        busy = time.monotonic() - chat.action_at < ACTION_SHOWN_S
        if since == str(chat.version):
            return JSONResponse({"version": chat.version, "busy": busy})
        return JSONResponse({"version": chat.version, "busy": busy, "messages": chat.messages})

    async def media(self, request: Request) -> Response:
        user = self._caller(request)
        if isinstance(user, Response):
            return user
        item = self.outbox.get(user, request.path_params["media_id"])
        if item is None:
            return PlainTextResponse("Gone: deleted, or too old for the playground to keep.", status_code=404)
        disposition = "inline" if item.kind.startswith("video/") else 'attachment; filename="zaobot-mydata.json"'
        return bytes_response(request, item.data, item.kind, disposition)

    # ---------------------------------------------------------------- what the user does

    async def say(self, request: Request) -> Response:
        """Text or a /command typed in the page."""
        payload = await self._json(request)
        if isinstance(payload, Response):
            return payload
        user, body = payload
        text = str(body.get("text", "")).strip()[:500]
        if not text:
            return JSONResponse({"ok": True})
        self.outbox.transcript(user).add("you", Reply(text))
        if text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            event = self._event(user, body, "command", command=command.lower(), text=rest.strip())
        else:
            event = self._event(user, body, "text", text=text)
        return await self._handle(request, user, event)

    async def press(self, request: Request) -> Response:
        payload = await self._json(request)
        if isinstance(payload, Response):
            return payload
        user, body = payload
        data = str(body.get("data", ""))[:200]
        label = str(body.get("label", ""))[:100]
        if label:
            self.outbox.transcript(user).add("you", Reply(label))
        return await self._handle(request, user, self._event(user, body, "callback", text=data))

    async def photo(self, request: Request) -> Response:
        return await self._upload(request, "photo", "(selfie)")

    async def video(self, request: Request) -> Response:
        """A recording made with the page's camera button: recorded just now, so `live`."""
        return await self._upload(request, "video", "(live recording)")

    async def _upload(self, request: Request, kind: str, shown: str) -> Response:
        user = self._caller(request)
        if isinstance(user, Response):
            return user
        settings = self.core.settings
        limit = settings.max_upload_bytes if kind == "photo" else settings.liveness_max_bytes
        try:
            data = await read_capped(request, limit)
        except BodyTooLarge:
            return JSONResponse({"error": f"That file is too large (the limit is {limit / 1e6:.0f} MB)."},
                                status_code=413)
        self.outbox.transcript(user).add("you", Reply(shown))  # the upload itself is not kept here

        async def fetch() -> bytes:
            return data

        lang = request.query_params.get("lang", "en")[:10]
        event = Event(platform=PLATFORM, user_id=user, chat_id=user, kind=kind,  # type: ignore[arg-type]  # photo|video
                      language=lang, fetch_bytes=fetch, file_size=len(data), live=kind == "video",
                      authenticated=False)  # nobody in the playground is a moderator
        return await self._handle(request, user, event)

    # ---------------------------------------------------------------- helpers

    async def _json(self, request: Request) -> tuple[str, dict[str, Any]] | Response:
        user = self._caller(request)
        if isinstance(user, Response):
            return user
        try:
            body = json.loads(await read_capped(request, MAX_JSON) or b"{}")
        except (BodyTooLarge, ValueError):
            return JSONResponse({"error": "bad request"}, status_code=400)
        return (user, body) if isinstance(body, dict) else JSONResponse({"error": "bad request"}, status_code=400)

    @staticmethod
    def _event(user: str, body: dict[str, Any], kind: str, **fields: Any) -> Event:
        return Event(platform=PLATFORM, user_id=user, chat_id=user, kind=kind,  # type: ignore[arg-type]  # an EventKind
                     language=str(body.get("lang", "en"))[:10], authenticated=False, **fields)

    async def _handle(self, request: Request, user: str, event: Event) -> Response:
        replies = await self.core.handle(event)
        fresh = None
        if event.kind == "callback" and event.text == "delete:yes" \
                and await self.core.io(storage.find_user, PLATFORM, user) is None:
            # /delete went through: the page forgets the conversation and its clips too, and the
            # browser becomes someone new, so nothing it does next is linked to the deleted user's
            # audit rows (which keep a hash of the old id). The receipt starts the new transcript.
            self.outbox.forget(user)
            fresh = secrets.token_hex(8)
        chat = self.outbox.transcript(fresh or user)
        for reply in replies:
            await self.outbox.add_reply(fresh or user, reply)
        response = JSONResponse({"ok": True, "version": chat.version})
        if fresh is not None:
            _remember(request, response, fresh)
        return response

