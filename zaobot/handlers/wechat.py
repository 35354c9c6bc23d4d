"""WeChat Official Account adapter: a Starlette webhook plus the customer-service API over httpx.

wechatpy checks signatures, decrypts and encrypts (AES safe mode), parses
messages and renders passive replies; it has no async client, so API calls
(access token, media, customer-service messages) go through `httpx.AsyncClient`.
WeChat waits 5 s for an answer and then retries the same message, so every POST
is answered within ~4 s (a passive reply or "success") and retries are dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from zaobot import wording
from zaobot.config import Settings
from zaobot.errors import ImageTooLarge
from zaobot.handlers.core import Conversation
from zaobot.handlers.events import DeliveryRefused, Event, Reply
from zaobot.handlers.webhook_body import body_or_413
from zaobot.media.images import size_over_limit
from zaobot.storage.seen import first_sighting

log = logging.getLogger(__name__)
PLATFORM = "wechat"
REPLY_BUDGET_S = 4.0  # WeChat gives up after 5 s
MAX_SKEW_S = 300  # older (or future) timestamps are treated as replays
SEEN_TTL = timedelta(seconds=2 * MAX_SKEW_S)  # how long signatures and MsgIds are remembered
TOKEN_ERRORS = {40001, 40014, 42001}
OUTSIDE_WINDOW = 45015  # customer-service messages only within 48 h of the user's last message
TEXT_BYTES = 2000
PICTURE_HOSTS = (".qpic.cn", ".qlogo.cn", ".weixin.qq.com", ".wx.qq.com")  # WeChat's image CDN

# What users type, for what the Telegram adapter gets from buttons and commands.
_CALLBACKS = {"同意": "consent:yes", "agree": "consent:yes", "拒绝": "consent:no", "decline": "consent:no",
              "撤回": "consent:revoke", "revoke": "consent:revoke", "确认删除": "delete:yes", "confirm": "delete:yes",
              "取消": "delete:no", "cancel": "delete:no"}
_COMMANDS = {"场景": "scenes", "scenes": "scenes", "删除": "delete", "delete": "delete", "隐私": "privacy",
             "privacy": "privacy", "我的数据": "mydata", "mydata": "mydata", "举报": "report", "report": "report",
             "帮助": "help", "help": "help", "同意书": "consent", "consent": "consent"}
_BUTTON_WORDS = {"consent:yes": "同意 / agree", "consent:no": "拒绝 / decline", "consent:revoke": "撤回 / revoke",
                 "delete:yes": "确认删除 / confirm", "delete:no": "取消 / cancel"}


class WeChatAPIError(Exception):
    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode


class WeChatAPI:
    """The few API calls we need, with one shared, cached access token."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret.get_secret_value() if settings.wechat_app_secret else ""
        self.client = client or httpx.AsyncClient(base_url=settings.wechat_api_base_url, timeout=30.0)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._expires:
                r = await self.client.get("/cgi-bin/token", params={"grant_type": "client_credential",
                                                                     "appid": self.app_id, "secret": self._secret})
                data = r.json()
                if "access_token" not in data:
                    raise WeChatAPIError(int(data.get("errcode", -1)), data.get("errmsg", ""))
                self._token = data["access_token"]
                self._expires = time.monotonic() + max(60, int(data.get("expires_in", 7200)) - 300)
            return self._token

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        for attempt in range(2):
            token = await self.token(refresh=attempt > 0)
            params = {**kw.pop("params", {}), "access_token": token}
            r = await self.client.request(method, path, params=params, **kw)
            if r.headers.get("content-type", "").startswith(("application/json", "text/plain")):
                data = r.json()
                code = int(data.get("errcode", 0) or 0)
                if code in TOKEN_ERRORS and attempt == 0:
                    log.info("wechat access token rejected (%s); refreshing", code)
                    kw["params"] = {k: v for k, v in params.items() if k != "access_token"}
                    continue
                if code == OUTSIDE_WINDOW:
                    raise DeliveryRefused(f"{code} outside the 48-hour customer-service window")
                if code:
                    raise WeChatAPIError(code, data.get("errmsg", ""))
            r.raise_for_status()
            return r
        raise WeChatAPIError(40001, "token refresh failed")

    async def get_media(self, media_id: str) -> bytes:
        return (await self._request("GET", "/cgi-bin/media/get", params={"media_id": media_id})).content

    async def upload_video(self, path: Path) -> str:
        with open(path, "rb") as fh:
            r = await self._request("POST", "/cgi-bin/media/upload", params={"type": "video"},
                                    files={"media": ("zaobot.mp4", fh, "video/mp4")})
        return str(r.json()["media_id"])

    async def send(self, openid: str, msgtype: str, body: dict[str, Any]) -> None:
        payload = {"touser": openid, "msgtype": msgtype, msgtype: body}
        await self._request("POST", "/cgi-bin/message/custom/send",
                            content=json.dumps(payload, ensure_ascii=False).encode(),
                            headers={"Content-Type": "application/json; charset=utf-8"})

    async def close(self) -> None:
        await self.client.aclose()


def _chunks(text: str, limit: int = TEXT_BYTES) -> list[str]:
    out, current = [], ""
    for line in text.splitlines(keepends=True):
        if len((current + line).encode()) > limit and current:
            out.append(current)
            current = ""
        while len(line.encode()) > limit:
            cut = limit // 3
            out.append(line[:cut])
            line = line[cut:]
        current += line
    if current or not out:
        out.append(current)
    return out


def render_text(reply: Reply) -> str:
    """WeChat text has no buttons: list the words to reply with instead."""
    words = [_BUTTON_WORDS.get(b.data, b.data.split(":", 1)[1] if b.data.startswith("scene:") else b.label)
             for row in reply.buttons for b in row]
    text = reply.text
    if words:
        text += "\n\n回复 Reply: " + " | ".join(words)
    if reply.document is not None:
        text += "\n\n" + reply.document[1].decode("utf-8", "replace")
    return text


class WeChatOutbox:
    supports_edit = False

    def __init__(self, api: WeChatAPI, settings: Settings) -> None:
        self.api = api
        self.settings = settings

    async def send(self, chat_id: str, reply: Reply) -> str:
        if reply.video is not None:
            from zaobot.media.fit import fit_under

            fitted = reply.video.with_name(reply.video.stem + "-wechat.mp4")
            try:
                await asyncio.to_thread(fit_under, reply.video, self.settings.max_output_bytes, fitted)
                media_id = await self.api.upload_video(fitted)
            finally:
                fitted.unlink(missing_ok=True)
            await self.api.send(chat_id, "video", {"media_id": media_id, "title": "AI生成 · AI-generated",
                                                   "description": reply.text[:120]})
            return media_id
        for part in _chunks(render_text(reply)):
            await self.api.send(chat_id, "text", {"content": part})
        return ""

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        await self.send(chat_id, Reply(text))

    async def delete(self, chat_id: str, message_id: str) -> None:
        return None  # WeChat cannot recall customer-service messages

    async def action(self, chat_id: str, action: str) -> None:
        return None


def picture_url_allowed(url: str, api_base_url: str) -> bool:
    """Only WeChat's own image hosts (or the API server the operator configured) are fetched from:
    a message's PicUrl is whatever the sender's request says, and must not make us fetch anything."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.netloc == urlsplit(api_base_url).netloc:
        return True
    return any(parts.hostname == h.lstrip(".") or parts.hostname.endswith(h) for h in PICTURE_HOSTS)


async def fetch_picture(client: httpx.AsyncClient, url: str, limit: int) -> bytes:
    """The picture at `url`, read no further than `limit` bytes (ImageTooLarge past it)."""
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ImageTooLarge(detail=size_over_limit(int(declared), limit))
        chunks, total = [], 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > limit:
                raise ImageTooLarge(detail=size_over_limit(total, limit))
            chunks.append(chunk)
    return b"".join(chunks)


def to_event(message: Any, api: WeChatAPI, moderators: frozenset[str] = frozenset(),
             max_bytes: int = 20 * 1024 * 1024) -> Event | None:
    """Translate a parsed WeChat message into the core's Event (None: nothing to do).

    WeChat videos carry no caption, so a video from a moderator means /verify; from anyone else it
    is a recording for the live check (WeChat offers no forwarding of a short video into an
    Official Account chat, and both kinds are recorded or picked by the user, so both are taken)."""
    base = {"platform": PLATFORM, "user_id": message.source, "chat_id": message.source, "language": "zh"}
    if message.type == "event":
        if message.event == "subscribe":
            return Event(kind="command", command="start", **base)
        if message.event == "unsubscribe":
            return Event(kind="callback", text="consent:revoke", **base)
        return None
    if message.type == "image":
        media_id, pic_url = message.media_id, message.image

        async def fetch() -> bytes:
            try:
                return await api.get_media(media_id)
            except (WeChatAPIError, httpx.HTTPError):
                if not pic_url or not picture_url_allowed(pic_url, str(api.client.base_url)):
                    raise
                return await fetch_picture(api.client, pic_url, max_bytes)

        return Event(kind="photo", fetch_bytes=fetch, **base)
    if message.type in ("video", "shortvideo") and message.source in moderators:
        media_id = message.media_id

        async def fetch_video() -> bytes:
            return await api.get_media(media_id)

        return Event(kind="command", command="verify", fetch_bytes=fetch_video, **base)
    if message.type in ("video", "shortvideo"):  # a recording for the live check, fetched only if one is due
        media_id = message.media_id

        async def fetch_recording() -> bytes:
            return await api.get_media(media_id)

        return Event(kind="video", fetch_bytes=fetch_recording, live=True, **base)
    if message.type != "text":
        return Event(kind="text", text="", **base)  # voice, location...: answered with help
    text = (message.content or "").strip()
    head, _, rest = text.partition(" ")
    word = head.lower()
    if text.lower() in _CALLBACKS:
        return Event(kind="callback", text=_CALLBACKS[text.lower()], **base)
    if word.startswith("/"):
        return Event(kind="command", command=word[1:], text=rest.strip(), **base)
    if word in _COMMANDS:
        return Event(kind="command", command=_COMMANDS[word], text=rest.strip(), **base)
    return Event(kind="text", text=text, **base)


class WeChatWebhook:
    def __init__(self, settings: Settings, core: Conversation, api: WeChatAPI) -> None:
        self.settings = settings
        self.core = core
        self.api = api
        self.token = settings.wechat_token.get_secret_value() if settings.wechat_token else ""
        aes = settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else ""
        self.crypto = WeChatCrypto(self.token, aes, settings.wechat_app_id) if aes else None
        self._background: set[asyncio.Task] = set()

    def routes(self) -> list[Route]:
        return [Route("/wechat", self.verify, methods=["GET"]), Route("/wechat", self.receive, methods=["POST"])]

    def _fresh(self, timestamp: str) -> bool:
        try:
            return abs(time.time() - int(timestamp)) <= MAX_SKEW_S
        except ValueError:
            return False

    async def verify(self, request: Request) -> Response:
        q = request.query_params
        try:
            check_signature(self.token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
        except InvalidSignatureException:
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(q.get("echostr", ""))

    async def receive(self, request: Request) -> Response:
        q = request.query_params
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        aes = q.get("encrypt_type") == "aes"
        # The signature covers only the query string: check it before reading a byte of the body.
        try:
            check_signature(self.token, q.get("signature", ""), timestamp, nonce)
            if not self._fresh(timestamp):
                raise InvalidSignatureException()
            if aes != (self.crypto is not None):  # safe mode is all or nothing: no downgrade to plain
                raise InvalidSignatureException()
        except InvalidSignatureException:
            return PlainTextResponse("forbidden", status_code=403)
        body = await body_or_413(request)
        if isinstance(body, Response):
            return body
        try:
            if aes:
                assert self.crypto is not None
                xml = self.crypto.decrypt_message(body, q.get("msg_signature", ""), timestamp, nonce)
            else:
                xml = body
        except (InvalidSignatureException, InvalidAppIdException):
            return PlainTextResponse("forbidden", status_code=403)
        except Exception:  # noqa: BLE001 - not an encrypted envelope at all
            return PlainTextResponse("bad request", status_code=400)
        try:
            message = parse_message(xml)
            if not getattr(message, "source", None):
                raise ValueError("no FromUserName")
        except Exception:  # noqa: BLE001 - empty or malformed XML, or no sender: nothing to act on
            log.info("wechat: signed request with an unreadable body (%d bytes)", len(body))
            return PlainTextResponse("bad request", status_code=400)

        # A signature is good for one request: the same (timestamp, nonce, signature) again within the
        # freshness window is a replay, perhaps with a forged body (plain mode signs no body).
        signature = q.get("signature", "")
        if not await self.core.io(first_sighting, f"wechat-sig:{timestamp}:{nonce}:{signature}", SEEN_TTL):
            log.info("wechat: a signature was used twice; ignored")
            return PlainTextResponse("success")
        # Messages carry a MsgId; events don't, so they are keyed by sender, time and event type.
        key = str(getattr(message, "id", None)
                  or f"{message.source}:{message.create_time}:{message.type}:{getattr(message, 'event', '')}")
        if not await self.core.io(first_sighting, f"wechat-msg:{key}", SEEN_TTL):
            return PlainTextResponse("success")  # a retry of a message we already have, even across a restart
        # In plain mode the body is not authenticated, so nobody gets moderator powers from it.
        event = to_event(message, self.api, self.settings.moderators(PLATFORM) if aes else frozenset(),
                         self.settings.max_upload_bytes)
        if event is not None and not aes:
            event = replace(event, authenticated=False)
        if event is None:
            return PlainTextResponse("success")

        task = asyncio.create_task(self.core.handle(event))
        done, _ = await asyncio.wait({task}, timeout=REPLY_BUDGET_S)
        if not done:  # too slow for a passive reply: send everything later
            self._later(task, event)
            return PlainTextResponse("success")
        try:
            replies = task.result()
        except Exception:  # noqa: BLE001 - the message is not lost in silence: the user is told
            log.exception("wechat event failed")
            replies = [Reply(wording.text("bot.try_again", "zh"))]
        if event.kind == "callback" and event.text == "consent:revoke" and message.type == "event":
            return PlainTextResponse("success")  # unsubscribed: nobody to answer
        first = next((r for r in replies if r.video is None), None)
        rest = [r for r in replies if r is not first]
        if rest:
            self._send_later(event.chat_id, rest)
        if first is None:
            return PlainTextResponse("success")
        parts = _chunks(render_text(first))
        if len(parts) > 1:
            self._send_later(event.chat_id, [Reply(p) for p in parts[1:]])
        xml_reply = TextReply(message=message, content=parts[0]).render()
        if aes and self.crypto is not None:
            xml_reply = self.crypto.encrypt_message(xml_reply, nonce, timestamp)
        return Response(xml_reply, media_type="application/xml")

    def _later(self, task: asyncio.Task, event: Event) -> None:
        async def deliver() -> None:
            try:
                replies = await task
            except Exception:  # noqa: BLE001 - as in receive: tell the user, don't go silent
                log.exception("wechat event failed")
                replies = [Reply(wording.text("bot.try_again", "zh"))]
            await self._send_all(event.chat_id, replies)

        self._spawn(deliver())

    def _send_later(self, chat_id: str, replies: list[Reply]) -> None:
        self._spawn(self._send_all(chat_id, replies))

    async def _send_all(self, chat_id: str, replies: list[Reply]) -> None:
        outbox = self.core.outboxes[PLATFORM]
        for reply in replies:
            try:
                await outbox.send(chat_id, reply)
            except Exception:  # noqa: BLE001
                log.warning("wechat customer-service send failed", exc_info=True)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def build_wechat(settings: Settings, core: Conversation) -> tuple[WeChatWebhook, WeChatAPI]:
    api = WeChatAPI(settings)
    core.register(PLATFORM, WeChatOutbox(api, settings))
    return WeChatWebhook(settings, core, api), api
