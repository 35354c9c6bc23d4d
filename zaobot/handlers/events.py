"""The platform-neutral contract between adapters and the conversation core."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

EventKind = Literal["command", "text", "photo", "video", "callback"]


@dataclass(frozen=True)
class Event:
    """One thing a user did. Media are fetched lazily, only after the gates pass."""

    platform: str
    user_id: str
    chat_id: str
    kind: EventKind
    command: str = ""  # lower-case, without the slash
    text: str = ""  # command arguments, message text, caption or callback data
    language: str = "en"
    fetch_bytes: Callable[[], Awaitable[bytes]] | None = None
    file_size: int | None = None
    reply_to_text: str = ""  # text or caption of the message this one replies to
    # Whether the platform vouches for the message itself, not only for the request (WeChat plain
    # mode signs the query string only). Moderator commands are refused without it.
    authenticated: bool = True
    # Videos: recorded just now in the app (a Telegram video note, a WeChat short video), not picked
    # from the gallery; and whether the message was forwarded from elsewhere.
    live: bool = False
    forwarded: bool = False


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass
class Reply:
    """Something to show the user: text (with buttons), a video, or a document."""

    text: str = ""
    buttons: list[list[Button]] = field(default_factory=list)
    video: Path | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    document: tuple[str, bytes] | None = None


class DeliveryRefused(Exception):
    """The platform refused for good (e.g. WeChat 45015, outside the 48-hour window): don't retry."""


class Outbox(Protocol):
    """What an adapter does for the core outside a direct reply (job status, delivery)."""

    # Whether sent messages can be edited (Telegram) or only new ones sent (WeChat).
    supports_edit: bool

    async def send(self, chat_id: str, reply: Reply) -> str:
        """Send and return the platform's message id."""
        ...

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        ...

    async def delete(self, chat_id: str, message_id: str) -> None:
        ...

    async def action(self, chat_id: str, action: str) -> None:
        """A transient chat action such as 'upload_video'."""
        ...


async def best_effort(call: Awaitable[object]) -> None:
    """Await a platform call whose failure must not stop the caller (status edits, chat actions,
    deleting a message at takedown): a failure is logged at debug level and dropped."""
    try:
        await call
    except Exception:  # noqa: BLE001 - best effort by definition
        log.debug("best-effort platform call failed", exc_info=True)
