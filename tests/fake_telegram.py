"""A fake Telegram Bot API server on 127.0.0.1, for driving the real `zaobot serve` process.

It speaks the same HTTP interface as api.telegram.org (form or multipart POSTs to
/bot<token>/<method>, file downloads from /file/bot<token>/<path>), records every
call, and can be told to fail the next calls of a method (429 with retry_after, 502).
Unknown methods answer 400, as PTB reads 404 as an invalid token.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "123456:TEST-token-never-logged"
BOT_ID = 1000


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


class FakeTelegram:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[int]] = {}
        self.holds: dict[str, int] = {}  # method -> how many of its next calls hang unanswered
        self.held: list[Call] = []  # calls that arrived and were never answered
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(5000)
        self.port = _free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> FakeTelegram:
        app = Starlette(routes=[Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                                Route("/file/bot{token}/{path:path}", self._file)])
        self._server, self._thread = serve_in_thread(app, self.port)
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server:
            self._server.should_exit = True
        if self._thread:
            self._thread.join(5)

    # ------------------------------------------------------------ what users do

    def _user(self, user_id: int, lang: str) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}", "language_code": lang}

    def _message(self, user_id: int, lang: str, **fields: Any) -> dict:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"}, "from": self._user(user_id, lang), **fields}

    def push(self, update: dict) -> None:
        with self._lock:
            update["update_id"] = next(self._update_ids)
            self.updates.append(update)

    def send_text(self, user_id: int, text: str, lang: str = "en", reply_to: dict | None = None) -> None:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if reply_to is not None:
            fields["reply_to_message"] = reply_to
        self.push({"message": self._message(user_id, lang, **fields)})

    def send_photo(self, user_id: int, data: bytes, caption: str | None = None, lang: str = "en",
                   claimed_size: int | None = None) -> str:
        file_id = f"photo{next(self._ids)}"
        self.files[file_id] = data
        size = len(data) if claimed_size is None else claimed_size
        photo = [{"file_id": file_id + "s", "file_unique_id": file_id + "s", "width": 90, "height": 90,
                  "file_size": 100},
                 {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 800, "file_size": size}]
        fields: dict[str, Any] = {"photo": photo}
        if caption:
            fields["caption"] = caption
        self.push({"message": self._message(user_id, lang, **fields)})
        return file_id

    def send_document(self, user_id: int, data: bytes, name: str, mime: str, caption: str | None = None) -> str:
        file_id = f"doc{next(self._ids)}"
        self.files[file_id] = data
        fields: dict[str, Any] = {"document": {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                                               "mime_type": mime, "file_size": len(data)}}
        if caption:
            fields["caption"] = caption
        self.push({"message": self._message(user_id, "en", **fields)})
        return file_id

    def send_video_note(self, user_id: int, data: bytes, *, forwarded: bool = False, gallery: bool = False,
                        lang: str = "en") -> str:
        """A round video recorded in the app (or, with `gallery`, a plain video; with `forwarded`,
        one forwarded from another chat)."""
        file_id = f"vnote{next(self._ids)}"
        self.files[file_id] = data
        if gallery:
            fields: dict[str, Any] = {"video": {"file_id": file_id, "file_unique_id": file_id, "width": 480,
                                                "height": 480, "duration": 5, "file_size": len(data)}}
        else:
            fields = {"video_note": {"file_id": file_id, "file_unique_id": file_id, "length": 480, "duration": 5,
                                     "file_size": len(data)}}
        if forwarded:
            fields["forward_origin"] = {"type": "user", "date": int(time.time()) - 60,
                                        "sender_user": self._user(user_id + 1, lang)}
        self.push({"message": self._message(user_id, lang, **fields)})
        return file_id

    def press(self, user_id: int, data: str, lang: str = "en") -> None:
        message = self._message(BOT_ID, lang, text="buttons")
        message["chat"] = {"id": user_id, "type": "private"}
        self.push({"callback_query": {"id": str(next(self._ids)), "from": self._user(user_id, lang),
                                      "chat_instance": "ci", "data": data, "message": message}})

    # ------------------------------------------------------------ what tests check

    def calls_to(self, chat_id: int, method: str | None = None, since: int = 0) -> list[Call]:
        with self._lock:
            calls = self.calls[since:]
        return [c for c in calls if str(c.params.get("chat_id")) == str(chat_id)
                and (method is None or c.method == method)]

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 60.0, since: int = 0) -> Call:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                calls = self.calls[since:]
            for call in calls:
                if predicate(call):
                    return call
            time.sleep(0.05)
        raise AssertionError(f"no matching Bot API call within {timeout} s; last calls: "
                             f"{[(c.method, c.params.get('text', '')[:60]) for c in self.calls[-8:]]}")

    def wait_text(self, chat_id: int, needle: str, timeout: float = 30.0, since: int = 0) -> Call:
        return self.wait_for(lambda c: str(c.params.get("chat_id")) == str(chat_id)
                             and c.method in ("sendMessage", "editMessageText")
                             and needle.lower() in str(c.params.get("text", "")).lower(), timeout, since)

    def fail_next(self, method: str, *codes: int) -> None:
        with self._lock:
            self.faults.setdefault(method, []).extend(codes)

    def hold_next(self, method: str, count: int = 1) -> None:
        """The next `count` calls of `method` hang, unanswered, until `release_held` (a client
        killed meanwhile never learns whether they went through: they did not)."""
        with self._lock:
            self.holds[method] = self.holds.get(method, 0) + count
        self._released.clear()

    def release_held(self) -> None:
        self._released.set()

    # ------------------------------------------------------------ HTTP

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != TOKEN:
            return Response(status_code=401)
        file_id = request.path_params["path"].rsplit("/", 1)[-1].split(".")[0]
        data = self.files.get(file_id)
        return Response(data, media_type="application/octet-stream") if data is not None else Response(status_code=404)

    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] != TOKEN:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        form = await request.form()
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                files[key] = await value.read()
            else:
                params[key] = _maybe_json(value)
        with self._lock:
            faults = self.faults.get(method)
            fault = faults.pop(0) if faults else None
        if fault == 429:
            return JSONResponse({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                 "parameters": {"retry_after": 1}}, status_code=429)
        if fault is not None:
            return Response("Bad Gateway", status_code=fault)
        with self._lock:
            hold = self.holds.get(method, 0)
            if hold:
                self.holds[method] = hold - 1
                self.held.append(Call(method, params, files))
        if hold:
            while not self._released.is_set():
                await asyncio.sleep(0.05)
            return Response("Service Unavailable", status_code=503)
        with self._lock:
            self.calls.append(Call(method, params, files))
        if method == "getUpdates":
            return await self._get_updates(params)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return JSONResponse({"ok": False, "error_code": 400, "description": f"Bad Request: {method} not faked"},
                                status_code=400)
        return JSONResponse({"ok": True, "result": handler(params, files)})

    async def _get_updates(self, params: dict) -> Response:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 2.0)
        while True:
            with self._lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                ready = list(self.updates)
            if ready or time.monotonic() >= deadline:
                return JSONResponse({"ok": True, "result": ready})
            await asyncio.sleep(0.02)

    def _sent(self, params: dict, **extra: Any) -> dict:
        chat_id = int(params["chat_id"])
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "zaobot"}, **extra}

    def _m_getMe(self, params: dict, files: dict) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "zaobot", "username": "zaobot_test_bot",
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _m_sendMessage(self, params: dict, files: dict) -> dict:
        return self._sent(params, text=params.get("text", ""))

    def _m_editMessageText(self, params: dict, files: dict) -> dict:
        return self._sent(params, text=params.get("text", ""))

    def _m_sendVideo(self, params: dict, files: dict) -> dict:
        return self._sent(params, caption=params.get("caption", ""),
                          video={"file_id": f"vid{next(self._ids)}", "file_unique_id": "v", "width": 1280,
                                 "height": 720, "duration": 5})

    def _m_sendDocument(self, params: dict, files: dict) -> dict:
        return self._sent(params, document={"file_id": f"doc{next(self._ids)}", "file_unique_id": "d"})

    def _m_getFile(self, params: dict, files: dict) -> dict:
        file_id = params["file_id"]
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files.get(file_id, b"")),
                "file_path": f"photos/{file_id}.jpg"}

    def _m_sendChatAction(self, params: dict, files: dict) -> bool:
        return True

    def _m_answerCallbackQuery(self, params: dict, files: dict) -> bool:
        return True

    def _m_deleteMessage(self, params: dict, files: dict) -> bool:
        return True

    def _m_setMyCommands(self, params: dict, files: dict) -> bool:
        return True

    def _m_deleteWebhook(self, params: dict, files: dict) -> bool:
        return True


def _maybe_json(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def serve_in_thread(app: Starlette, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Run an ASGI app on 127.0.0.1:port in a daemon thread; return once it accepts connections."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    return server, thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
