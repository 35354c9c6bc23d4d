"""A fake WeChat API server on 127.0.0.1 (token, media/get, media/upload, message/custom/send),
with injectable errors, plus a client that posts signed (or AES-encrypted) XML like WeChat does."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import xmltodict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.crypto import WeChatCrypto

from tests.fake_telegram import _free_port, serve_in_thread

APP_ID = "wx0123456789abcdef"
APP_SECRET = "app-secret-never-logged"
TOKEN = "wechat-token"


@dataclass
class Sent:
    touser: str
    msgtype: str
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeWeChat:
    def __init__(self) -> None:
        self.port = _free_port()
        self.media: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.sent: list[Sent] = []
        self.token_calls = 0
        self.faults: dict[str, list[int]] = {}
        self._valid_token = ""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeWeChat:
        app = Starlette(routes=[Route("/cgi-bin/token", self._token),
                                Route("/cgi-bin/media/get", self._media_get),
                                Route("/cgi-bin/media/upload", self._upload, methods=["POST"]),
                                Route("/cgi-bin/message/custom/send", self._send, methods=["POST"]),
                                Route("/pic/{media_id}", self._pic)])
        self._server, _ = serve_in_thread(app, self.port)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True

    # ---------------------------------------------------------------- control

    def expire_token(self) -> None:
        with self._lock:
            self._valid_token = "expired"

    def fail_next(self, endpoint: str, *codes: int) -> None:
        with self._lock:
            self.faults.setdefault(endpoint, []).extend(codes)

    def add_media(self, data: bytes) -> str:
        media_id = f"MEDIA{next(self._ids)}"
        self.media[media_id] = data
        return media_id

    def wait_sent(self, touser: str, msgtype: str, needle: str = "", timeout: float = 60.0, since: int = 0) -> Sent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                items = self.sent[since:]
            for item in items:
                if (item.touser == touser and item.msgtype == msgtype
                        and needle in json.dumps(item.body, ensure_ascii=False)):
                    return item
            time.sleep(0.05)
        raise AssertionError(f"no {msgtype} to {touser} containing {needle!r}; sent: "
                             f"{[(s.touser, s.msgtype, str(s.body)[:60]) for s in self.sent[-6:]]}")

    def mark(self) -> int:
        with self._lock:
            return len(self.sent)

    # ---------------------------------------------------------------- HTTP

    def _check(self, request: Request, endpoint: str) -> JSONResponse | None:
        with self._lock:
            faults = self.faults.get(endpoint)
            fault = faults.pop(0) if faults else None
            valid = self._valid_token
        if request.query_params.get("access_token") != valid:
            return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
        if fault is not None:
            return JSONResponse({"errcode": fault, "errmsg": f"injected {fault}"})
        return None

    async def _token(self, request: Request) -> Response:
        q = request.query_params
        if q.get("appid") != APP_ID or q.get("secret") != APP_SECRET:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        with self._lock:
            self.token_calls += 1
            self._valid_token = f"ACCESS{self.token_calls}"
            return JSONResponse({"access_token": self._valid_token, "expires_in": 7200})

    async def _media_get(self, request: Request) -> Response:
        if (err := self._check(request, "media/get")) is not None:
            return err
        data = self.media.get(request.query_params.get("media_id", ""))
        if data is None:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        return Response(data, media_type="image/jpeg")

    async def _pic(self, request: Request) -> Response:
        """The image's PicUrl (WeChat's CDN)."""
        data = self.media.get(request.path_params["media_id"])
        return Response(data, media_type="image/jpeg") if data is not None else Response(status_code=404)

    async def _upload(self, request: Request) -> Response:
        if (err := self._check(request, "media/upload")) is not None:
            return err
        form = await request.form()
        data = await form["media"].read()  # type: ignore[union-attr]
        if request.query_params.get("type") != "video" or len(data) > 10 * 1024 * 1024:
            return JSONResponse({"errcode": 40006, "errmsg": "invalid media size"})
        media_id = f"UP{next(self._ids)}"
        self.uploads[media_id] = data
        return JSONResponse({"type": "video", "media_id": media_id, "created_at": int(time.time())})

    async def _send(self, request: Request) -> Response:
        if (err := self._check(request, "custom/send")) is not None:
            return err
        payload = json.loads(await request.body())
        with self._lock:
            self.sent.append(Sent(payload["touser"], payload["msgtype"], payload[payload["msgtype"]]))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


class WeChatClient:
    """Posts messages to zaobot's /wechat as WeChat's servers would."""

    def __init__(self, url: str, token: str = TOKEN, aes_key: str | None = None) -> None:
        self.url = url
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, APP_ID) if aes_key else None
        self.http = httpx.Client(timeout=30)
        self._ids = itertools.count(int(time.time() * 1000))

    def sign(self, timestamp: str, nonce: str, token: str | None = None) -> str:
        parts = sorted([token or self.token, timestamp, nonce])
        return hashlib.sha1("".join(parts).encode()).hexdigest()

    def verify(self, echostr: str, token: str | None = None) -> httpx.Response:
        ts, nonce = str(int(time.time())), "n123"
        return self.http.get(self.url, params={"signature": self.sign(ts, nonce, token), "timestamp": ts,
                                               "nonce": nonce, "echostr": echostr})

    def _xml(self, openid: str, body: dict[str, Any], msg_id: int | None) -> str:
        fields = {"ToUserName": "gh_zaobot", "FromUserName": openid, "CreateTime": str(int(time.time())), **body}
        if msg_id is not None:
            fields["MsgId"] = str(msg_id)
        return xmltodict.unparse({"xml": fields}, full_document=False)

    def post(self, openid: str, body: dict[str, Any], msg_id: int | None = None, *, forge: bool = False,
             timestamp: int | None = None) -> httpx.Response:
        if msg_id is None and body.get("MsgType") != "event":
            msg_id = next(self._ids)
        xml = self._xml(openid, body, msg_id)
        ts, nonce = str(timestamp or int(time.time())), f"nonce{next(self._ids)}"
        params = {"signature": self.sign(ts, nonce, "forged" if forge else None), "timestamp": ts, "nonce": nonce,
                  "openid": openid}
        if self.crypto is not None:
            wrapped = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
            params.update({"encrypt_type": "aes", "msg_signature": wrapped["MsgSignature"]})
            xml = xmltodict.unparse({"xml": {"ToUserName": "gh_zaobot", "Encrypt": wrapped["Encrypt"]}},
                                    full_document=False)
        self.last_msg_id = msg_id
        self._last = (ts, nonce)
        return self.http.post(self.url, params=params, content=xml.encode())

    def text(self, openid: str, content: str, msg_id: int | None = None, **kw: Any) -> httpx.Response:
        return self.post(openid, {"MsgType": "text", "Content": content}, msg_id, **kw)

    def image(self, openid: str, media_id: str, msg_id: int | None = None, pic_url: str = "") -> httpx.Response:
        return self.post(openid, {"MsgType": "image", "PicUrl": pic_url, "MediaId": media_id}, msg_id)

    def video(self, openid: str, media_id: str) -> httpx.Response:
        return self.post(openid, {"MsgType": "video", "MediaId": media_id, "ThumbMediaId": "thumb"})

    def event(self, openid: str, event: str) -> httpx.Response:
        return self.post(openid, {"MsgType": "event", "Event": event})

    def reply_text(self, response: httpx.Response) -> str:
        """The Content of a passive reply (decrypted in AES mode); '' for 'success'."""
        if response.text in ("success", ""):
            return ""
        data = xmltodict.parse(response.text)["xml"]
        if self.crypto is not None:
            ts, nonce = data["TimeStamp"], data["Nonce"]
            plain = self.crypto.decrypt_message(response.text, data["MsgSignature"], ts, nonce)
            data = xmltodict.parse(plain)["xml"]
        return data.get("Content", "")
