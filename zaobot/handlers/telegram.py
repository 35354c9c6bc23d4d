"""Telegram adapter (python-telegram-bot 22): translates updates to Events and Replies to Bot API calls.

It never touches storage or the models; the conversation core does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from zaobot import wording
from zaobot.config import Settings
from zaobot.handlers.core import Conversation, lang_of
from zaobot.handlers.events import Event, Reply
from zaobot.storage import Store, inbox

log = logging.getLogger(__name__)
PLATFORM = "telegram"
T = TypeVar("T")

COMMANDS = [("start", "Start / consent"), ("scenes", "Choose a scene"), ("delete", "Erase all your data"),
            ("mydata", "What we store about you"), ("privacy", "Privacy policy"), ("consent", "View or revoke consent"),
            ("report", "Report a clip"), ("help", "Help")]


async def with_retries(call: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """Retry transient Bot API failures (5xx, timeouts). 429s are handled by AIORateLimiter."""
    for attempt in range(attempts):
        try:
            return await call()
        except RetryAfter as exc:
            delay = exc.retry_after
            await asyncio.sleep(delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay))
        except (NetworkError, TimedOut):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5 * 2**attempt)
    return await call()


class TelegramOutbox:
    supports_edit = True

    def __init__(self, app: Application) -> None:
        self.app = app

    @staticmethod
    def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
        if not reply.buttons:
            return None
        return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
                                     for row in reply.buttons])

    async def send(self, chat_id: str, reply: Reply) -> str:
        bot = self.app.bot
        markup = self._markup(reply)
        if reply.video is not None:
            data = reply.video.read_bytes()

            async def call():
                return await bot.send_video(
                    chat_id, video=InputFile(data, filename="zaobot.mp4"), caption=reply.text or None,
                    width=reply.width, height=reply.height,
                    duration=int(round(reply.duration)) if reply.duration else None,
                    supports_streaming=True, reply_markup=markup)
        elif reply.document is not None:
            name, payload = reply.document

            async def call():
                return await bot.send_document(chat_id, document=InputFile(payload, filename=name),
                                               caption=reply.text or None)
        else:
            async def call():
                return await bot.send_message(chat_id, reply.text, reply_markup=markup)
        message = await with_retries(call)
        return str(message.message_id)

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        try:
            await with_retries(lambda: self.app.bot.edit_message_text(text, chat_id=chat_id,
                                                                      message_id=int(message_id)))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def delete(self, chat_id: str, message_id: str) -> None:
        await with_retries(lambda: self.app.bot.delete_message(chat_id, int(message_id)))

    async def action(self, chat_id: str, action: str) -> None:
        await self.app.bot.send_chat_action(chat_id, ChatAction.UPLOAD_VIDEO if action == "upload_video"
                                            else ChatAction.TYPING)


def _core(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    return context.application.bot_data["core"]


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, event: Event) -> None:
    """Handle the event and send its replies, holding the update in the inbox until they are out."""
    core = _core(context)
    key = f"{PLATFORM}:{update.update_id}"
    await core.io(inbox.hold, key, PLATFORM, core.store.user_hash(PLATFORM, event.user_id), update.to_json())
    try:
        replies = await core.handle(event)
        outbox = core.outboxes[PLATFORM]
        for reply in replies:
            await outbox.send(event.chat_id, reply)
    finally:
        await core.io(inbox.release, key)  # answered, or failed and apologised for by on_error


async def replay_held_updates(app: Application, store: Store) -> int:
    """Queue again the updates a crash left unanswered (see `storage.inbox`); returns how many."""
    held = inbox.held(store, PLATFORM)
    for row in held:
        update = Update.de_json(json.loads(row["payload"]), app.bot)
        if update is not None:
            await app.update_queue.put(update)
    if held:
        log.info("telegram: %d update(s) left unanswered by the last run are handled again", len(held))
    return len(held)


def _base(update: Update) -> dict:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    return {"platform": PLATFORM, "user_id": str(user.id), "chat_id": str(chat.id),
            "language": lang_of(user.language_code)}


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    head, _, rest = message.text.partition(" ")
    command = head[1:].split("@", 1)[0].lower()
    reply_to = message.reply_to_message
    reply_text = (reply_to.caption or reply_to.text or "") if reply_to else ""
    media = _media_of(reply_to) if reply_to else None
    fetch = _fetcher(context, media[0]) if media else None
    await _answer(update, context, Event(kind="command", command=command, text=rest.strip(),
                                         reply_to_text=reply_text, fetch_bytes=fetch,
                                         file_size=media[1] if media else None, **_base(update)))


def _media_of(message) -> tuple[str, int | None] | None:
    """(file_id, size) of a photo, video, video note or document in a message."""
    if message.photo:
        item = message.photo[-1]  # the largest size
        return item.file_id, item.file_size
    for attachment in (message.video_note, message.video, message.document, message.animation):
        if attachment is not None:
            return attachment.file_id, attachment.file_size
    return None


def _fetcher(context: ContextTypes.DEFAULT_TYPE, file_id: str):
    async def fetch() -> bytes:
        tg_file = await with_retries(lambda: context.bot.get_file(file_id))
        return bytes(await tg_file.download_as_bytearray())

    return fetch


async def on_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    media = _media_of(message)
    if media is None:
        return
    caption = message.caption or ""
    fetch = _fetcher(context, media[0])
    if caption.startswith("/"):  # a clip sent with the caption /verify
        head, _, rest = caption.partition(" ")
        event = Event(kind="command", command=head[1:].split("@", 1)[0].lower(), text=rest.strip(),
                      fetch_bytes=fetch, file_size=media[1], **_base(update))
    elif message.video_note is not None or message.video is not None:
        # A recording for the live check. Only a video note is recorded in the app there and then;
        # a gallery video, or anything forwarded, is refused with the reason (handlers.verification).
        event = Event(kind="video", fetch_bytes=fetch, file_size=media[1], live=message.video_note is not None,
                      forwarded=message.forward_origin is not None, **_base(update))
    elif message.animation is not None:
        event = Event(kind="text", text="", **_base(update))  # a GIF is no selfie: answered with help
    else:
        event = Event(kind="photo", text=caption, fetch_bytes=fetch, file_size=media[1], **_base(update))
    await _answer(update, context, event)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    await _answer(update, context, Event(kind="text", text=(message.text or "") if message else "", **_base(update)))


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    # The press is acted on whatever happens to its acknowledgement: answering only stops the
    # button's spinner, so it runs beside the work and a failure is logged, not fatal.
    acknowledged = asyncio.create_task(query.answer())
    try:
        await _answer(update, context, Event(kind="callback", text=query.data or "", **_base(update)))
    finally:
        try:
            await acknowledged
        except Exception as err:  # noqa: BLE001 - best effort
            log.info("answerCallbackQuery failed (%s); the press was handled", type(err).__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure, and tell the user: an update that failed (a download that broke off, a
    shutdown mid-way) is acknowledged all the same, so silence would lose it for good."""
    log.error("error while handling an update: %s", type(context.error).__name__, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    lang = lang_of(update.effective_user.language_code if update.effective_user else None)
    try:
        await context.bot.send_message(update.effective_chat.id, wording.text("bot.try_again", lang))
    except Exception:  # noqa: BLE001 - best effort: the platform itself may be what failed
        log.warning("could not tell the user that their update failed")


def build_application(settings: Settings, core: Conversation) -> Application:
    """PTB Application: concurrent updates (handlers never render), rate limiter with retries."""
    assert settings.telegram_bot_token is not None
    app = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_file_base_url)
        .concurrent_updates(True)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .media_write_timeout(60)
        .read_timeout(15)
        .get_updates_read_timeout(30)
        .build()
    )
    app.bot_data["core"] = core
    app.add_handler(MessageHandler(filters.COMMAND, on_command))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.ALL | filters.VIDEO | filters.VIDEO_NOTE
                                   | filters.ANIMATION, on_media))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_error_handler(on_error)
    core.register(PLATFORM, TelegramOutbox(app))
    return app


async def set_commands(app: Application) -> None:
    try:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
    except Exception:  # noqa: BLE001 - cosmetic
        log.warning("could not set the bot's command list")
