"""The playground's `Outbox`: each browser's transcript, and its clips and files, in memory only.

The core talks to the playground as to any platform: it sends, edits and deletes messages and
shows a chat action. Here they become a transcript the page polls. Memory is bounded: so many
browsers, so many clips per browser, so many bytes in all, and no clip outlives the stored one.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zaobot.handlers.events import Reply

MAX_CHATS = 200  # browsers remembered at once (least recently used go first)
MAX_MESSAGES = 200  # per browser
MAX_MEDIA = 4  # clips and files kept per browser (older ones are dropped from memory)
MEDIA_BUDGET = 256 * 2**20  # bytes of clips and files held for all browsers together


@dataclass(frozen=True)
class Media:
    """A clip or file shown in a transcript, held in memory until it expires like the stored clip."""

    chat_id: str
    kind: str
    data: bytes
    expires: float  # time.monotonic()


@dataclass
class Transcript:
    """One browser's chat: messages (edited in place), the ids of its media, a version to poll."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    media: list[str] = field(default_factory=list)
    version: int = 0
    action_at: float = 0.0
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, who: str, reply: Reply, media: dict[str, str] | None = None) -> str:
        """Append a message (the oldest go past MAX_MESSAGES); its id lets the core edit it later."""
        message_id = str(next(self.ids))
        self.messages.append({"id": message_id, "who": who, "text": reply.text,
                              "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in reply.buttons],
                              **(media or {})})
        del self.messages[:-MAX_MESSAGES]
        self.version += 1
        return message_id


class PlaygroundOutbox:
    """The core's `Outbox` for the playground: messages go into the browser's transcript, clips and
    files into a bounded store (per browser, in total, and no longer than the stored clip lives)."""

    supports_edit = True

    def __init__(self, media_ttl_s: float) -> None:
        self.chats: OrderedDict[str, Transcript] = OrderedDict()
        self.media: OrderedDict[str, Media] = OrderedDict()  # oldest first
        self.media_ttl_s = media_ttl_s

    def transcript(self, chat_id: str) -> Transcript:
        """The browser's transcript, made on first use; the least recently used go past MAX_CHATS."""
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Transcript()
            while len(self.chats) > MAX_CHATS:
                _, gone = self.chats.popitem(last=False)
                self._drop(gone.media)
        self.chats.move_to_end(chat_id)
        return chat

    def keep(self, chat_id: str, kind: str, data: bytes) -> str:
        """Hold a clip or file for this browser; returns the unguessable id its link carries."""
        chat = self.transcript(chat_id)
        media_id = secrets.token_urlsafe(12)
        self.media[media_id] = Media(chat_id, kind, data, time.monotonic() + self.media_ttl_s)
        chat.media.append(media_id)
        self._drop(chat.media[:-MAX_MEDIA])
        while sum(len(m.data) for m in self.media.values()) > MEDIA_BUDGET and len(self.media) > 1:
            self._drop([next(iter(self.media))])
        return media_id

    def get(self, chat_id: str, media_id: str) -> Media | None:
        """A clip or file of this browser's own, while it lives; None for anyone else's."""
        item = self.media.get(media_id)
        if item is None or item.chat_id != chat_id:
            return None
        if time.monotonic() > item.expires:
            self._drop([media_id])
            return None
        return item

    def forget(self, chat_id: str) -> None:
        """Everything of a browser's chat (its /delete went through): messages, clips, files."""
        chat = self.chats.pop(chat_id, None)
        if chat is not None:
            self._drop(list(chat.media))

    def _drop(self, media_ids: list[str]) -> None:
        for media_id in media_ids:
            item = self.media.pop(media_id, None)
            if item is not None and item.chat_id in self.chats:
                owner = self.chats[item.chat_id].media
                if media_id in owner:
                    owner.remove(media_id)

    async def add_reply(self, chat_id: str, reply: Reply) -> str:
        chat = self.transcript(chat_id)
        media: dict[str, str] = {}
        if reply.video is not None:
            data = await asyncio.to_thread(Path(reply.video).read_bytes)  # the core deletes its file after
            chat.action_at = 0.0  # the clip is here: no more "rendering…"
            media["video"] = f"/playground/media/{self.keep(chat_id, 'video/mp4', data)}"
        if reply.document is not None:
            name, data = reply.document
            media["file"] = f"/playground/media/{self.keep(chat_id, 'application/json', data)}"
            media["file_name"] = name
        return chat.add("bot", reply, media)

    async def send(self, chat_id: str, reply: Reply) -> str:
        return await self.add_reply(chat_id, reply)

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        chat = self.transcript(chat_id)
        for message in chat.messages:
            if message["id"] == message_id:
                message["text"] = text
                chat.version += 1

    async def delete(self, chat_id: str, message_id: str) -> None:
        """A moderator's takedown: the message and its clip go."""
        chat = self.transcript(chat_id)
        for message in [m for m in chat.messages if m["id"] == message_id]:
            chat.messages.remove(message)
            self._drop([str(message.get("video", "")).rsplit("/", 1)[-1]])
            chat.version += 1

    async def action(self, chat_id: str, action: str) -> None:
        self.transcript(chat_id).action_at = time.monotonic()
