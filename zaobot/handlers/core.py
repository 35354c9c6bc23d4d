"""The conversation: consent gate, ban/pause gates, selfie intake, scene choice, user rights.

Platform-neutral: adapters turn updates into `Event`s, send the returned
`Reply`s, and implement `Outbox` for what happens later (job status, delivery).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta

from zaobot import storage, wording
from zaobot.config import Settings
from zaobot.consent import CONSENT_VERSION, consent_text
from zaobot.errors import SelfieError, UnknownScene
from zaobot.handlers.events import Button, DeliveryRefused, Event, Outbox, Reply, best_effort
from zaobot.handlers.live_checker import LiveChecker
from zaobot.handlers.receipts import receipt_text
from zaobot.handlers.selfie_check import SelfieChecker
from zaobot.handlers.verification import Verification
from zaobot.jobs import JobRunner, RunnerHooks
from zaobot.media.scenes import Scene, SceneLibrary
from zaobot.storage import Job, Store, queue
from zaobot.storage.aio import StorageThread
from zaobot.storage.store import utcnow

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"\b[0-9a-f]{32}\b")
DELIVERY_ATTEMPTS = 5
DELETE_CONFIRM_S = 600.0  # a /delete prompt stays open this long


def lang_of(code: str | None) -> wording.Lang:
    return "zh" if (code or "").lower().startswith("zh") else "en"


class Conversation:
    def __init__(self, store: Store, settings: Settings, library: SceneLibrary, runner: JobRunner,
                 checker: SelfieChecker | None = None, live_checker: LiveChecker | None = None) -> None:
        self.store = store
        self.settings = settings
        self.library = library
        self.runner = runner
        self.checker = checker or SelfieChecker(settings)
        self.io = StorageThread(store)  # every storage call from the loop runs on the storage thread
        self.outboxes: dict[str, Outbox] = {}
        self._last_edit: dict[str, float] = {}
        self._delete_asked: dict[tuple[str, str], float] = {}  # when each user was last asked to confirm /delete
        # Jobs whose status message shows its final word ("sent", "failed"): a progress edit that
        # arrives late (they come from another thread) must not turn it back into "Rendering 100%".
        self._final_status: dict[str, None] = {}
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        from zaobot.handlers.moderation import Moderation

        self.moderation = Moderation(self)
        self.verification = Verification(self, settings, live_checker)  # the live check (ZAOBOT_LIVENESS)
        # Command tables. Open commands (rights and information) need neither consent nor an
        # unbanned account; user commands need both. Callbacks are keyed by their data's prefix.
        self._open_commands: dict[str, Callable[[Event, wording.Lang], Awaitable[list[Reply]]]] = {
            "help": self._help, "privacy": self._privacy_command, "delete": self._delete_command,
            "mydata": self._mydata,
        }
        self._user_commands: dict[str, Callable[[Event, dict, wording.Lang], Awaitable[list[Reply]]]] = {
            "start": self._start, "scenes": self._scenes, "consent": self._consent_command, "report": self._report,
        }
        self._callbacks: dict[str, Callable[[Event, dict, str, wording.Lang], Awaitable[list[Reply]]]] = {
            "scene": self._scene_pressed, "report": self._report_pressed,
        }

    def hooks(self) -> RunnerHooks:
        return RunnerHooks(on_progress=self.on_progress, on_done=self.on_done, on_failed=self.on_failed)

    def register(self, platform: str, outbox: Outbox) -> None:
        self.outboxes[platform] = outbox

    # ---------------------------------------------------------------- entry point

    async def handle(self, event: Event) -> list[Reply]:
        """Handle one event. A user's events are handled one at a time, in arrival order,
        while different users proceed concurrently."""
        async with self._lock((event.platform, event.user_id)):
            try:
                return await self._handle(event)
            except (sqlite3.OperationalError, OSError) as err:  # a full disk, a database locked too long
                log.error("could not handle a %s event: %s: %s", event.kind, type(err).__name__, err)
                lang = wording.known_lang(event.language)
                return [Reply(wording.text("bot.try_again", lang))]

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        """The lock for `key`, alive while someone holds or waits for it."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _handle(self, event: Event) -> list[Reply]:
        lang = wording.known_lang(event.language)
        t = lambda key, **kw: wording.text(key, lang, **kw)  # noqa: E731
        if event.kind == "command" and self.moderation.handles(event.command):
            if event.authenticated and event.user_id in self.settings.moderators(event.platform):
                return await self.moderation.handle(event, lang)
            return [Reply(t("bot.unknown_command"))]
        if event.kind == "command" and event.command not in self._open_commands \
                and event.command not in self._user_commands:
            return [Reply(t("bot.unknown_command"))]

        # Rights and information that need neither consent nor an unbanned account.
        if event.kind == "command" and event.command in self._open_commands:
            return await self._open_commands[event.command](event, lang)
        if event.kind == "callback" and event.text.startswith("delete:"):
            return await self._delete(event, lang)

        if await self.io(storage.is_banned, event.platform, event.user_id):
            return [Reply(t("bot.banned"))]

        if event.kind == "callback" and event.text.startswith("consent:"):
            return await self._consent_choice(event, lang)
        if await self.io(storage.current_consent, event.platform, event.user_id) is None:
            # Nothing is fetched, stored or processed before consent.
            return [self._consent_prompt(lang, welcome=True)]

        user = await self.io(storage.find_user, event.platform, event.user_id)
        assert user is not None
        if event.kind == "command":
            return await self._command(event, user, lang)
        if event.kind == "photo":
            return await self._photo(event, user, lang)
        if event.kind == "video":
            return await self.verification.on_video(event, user, lang)
        if event.kind == "callback":
            return await self._callback(event, user, lang)
        return await self._text(event, user, lang)

    # ---------------------------------------------------------------- consent

    def _consent_prompt(self, lang: wording.Lang, welcome: bool = False) -> Reply:
        head = wording.text("bot.welcome", lang) + "\n\n" if welcome else ""
        body = head + consent_text(self.settings, lang) + "\n\n" + wording.text("consent.ask", lang)
        return Reply(body, [[Button(wording.text("consent.agree", lang), "consent:yes"),
                             Button(wording.text("consent.decline", lang), "consent:no")]])

    async def _consent_choice(self, event: Event, lang: wording.Lang) -> list[Reply]:
        choice = event.text.split(":", 1)[1]
        if choice == "yes":
            await self.io(storage.grant_consent, event.platform, event.user_id, language=lang)
            return [Reply(wording.text("consent.accepted", lang, scenes=self._scene_names()))]
        # Declining after agreeing (an old prompt's button, or typing 拒绝) is a revocation, and the
        # reply must not claim that nothing was stored.
        if await self.io(storage.revoke_consent, event.platform, event.user_id) or choice == "revoke":
            return [Reply(wording.text("consent.revoked", lang))]
        return [Reply(wording.text("consent.declined", lang))]

    # ---------------------------------------------------------------- commands

    # ---------------------------------------------------------------- commands

    async def _command(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        handler = self._user_commands.get(event.command)
        if handler is None:
            return [Reply(wording.text("bot.unknown_command", lang))]
        return await handler(event, user, lang)

    async def _help(self, event: Event, lang: wording.Lang) -> list[Reply]:
        return [Reply(wording.text("bot.help", lang))]

    async def _privacy_command(self, event: Event, lang: wording.Lang) -> list[Reply]:
        return [Reply(self._privacy(lang))]

    async def _delete_command(self, event: Event, lang: wording.Lang) -> list[Reply]:
        return [self._ask_delete(event, lang)]

    async def _mydata(self, event: Event, lang: wording.Lang) -> list[Reply]:
        data = (await self.io(storage.export_json, event.platform, event.user_id)).encode()
        return [Reply(wording.text("mydata.caption", lang), document=("zaobot-mydata.json", data))]

    async def _start(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        accepted = wording.text("consent.accepted", lang, scenes=self._scene_names())
        return [Reply(wording.text("bot.welcome", lang) + "\n\n" + accepted)]

    async def _scenes(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        return [self.scene_buttons(lang, wording.text("bot.pick_scene", lang))]

    async def _consent_command(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        consent = await self.io(storage.current_consent, event.platform, event.user_id)
        status = wording.text("consent.status", lang, version=CONSENT_VERSION,
                              date=(consent or {}).get("granted_at", "")[:10])
        return [Reply(consent_text(self.settings, lang) + "\n\n" + status,
                      [[Button(wording.text("consent.revoke", lang), "consent:revoke")]])]

    async def _report(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        match = JOB_ID.search(event.text) or JOB_ID.search(event.reply_to_text)
        if not match:
            return [Reply(wording.text("report.usage", lang))]
        reason = JOB_ID.sub("", event.text).strip() or "reported by user"
        report_id = await self.io(storage.report, user["id"], match.group(0), reason)
        return [Reply(wording.text("report.thanks", lang, report_id=report_id))]

    async def _callback(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        kind, _, value = event.text.partition(":")
        handler = self._callbacks.get(kind)
        return await handler(event, user, value, lang) if handler is not None else []

    async def _scene_pressed(self, event: Event, user: dict, value: str, lang: wording.Lang) -> list[Reply]:
        return await self.start_job(event, user, value, lang)

    async def _report_pressed(self, event: Event, user: dict, value: str, lang: wording.Lang) -> list[Reply]:
        if not JOB_ID.fullmatch(value):
            return []
        report_id = await self.io(storage.report, user["id"], value, "report button")
        return [Reply(wording.text("report.thanks", lang, report_id=report_id))]

    async def _text(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        keyword = event.text.strip()
        if not keyword:
            return [Reply(wording.text("bot.help", lang))]
        return await self.start_job(event, user, keyword, lang)

    # ---------------------------------------------------------------- selfies and jobs

    async def _photo(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        limit = self.settings.max_upload_bytes
        if event.file_size is not None and event.file_size > limit:
            return [Reply(wording.text("bot.selfie_too_big_file", lang, size=f"{event.file_size / 1e6:.1f}"))]
        if (refusal := await self._gate_new_job(event, user, lang)) is not None:
            return [refusal]
        assert event.fetch_bytes is not None
        try:
            data = await event.fetch_bytes()  # may itself refuse (too large, a host we don't fetch from)
            clean = await self.checker.check(data)
        except SelfieError as err:
            return [Reply(err.message(lang))]  # the bad selfie is dropped, never stored
        del data  # the upload as sent (with its EXIF) is never stored
        selfie_id = await self.io(storage.add_selfie, user["id"], clean)
        keyword = event.text.strip()
        if self.verification.required:  # the face must be shown to be the sender's before it is used
            return await self.verification.ask(event, user, selfie_id, clean, keyword, lang,
                                               lead=wording.text("live.got_selfie", lang) + " ")
        del clean
        if keyword:
            return await self.start_job(event, user, keyword, lang)
        return [self.scene_buttons(lang, wording.text("bot.pick_scene", lang))]

    async def _gate_new_job(self, event: Event, user: dict, lang: wording.Lang) -> Reply | None:
        if await self.io(queue.is_paused):
            return Reply(wording.text("bot.paused", lang))
        if await self.io(storage.active_jobs, user["id"]):
            return Reply(wording.text("limit.one_at_a_time", lang))
        started = await self.io(storage.jobs_since, event.platform, event.user_id, utcnow() - timedelta(hours=1))
        if started >= self.settings.renders_per_hour:
            return Reply(wording.text("limit.hourly", lang, limit=self.settings.renders_per_hour))
        if await self.io(storage.queued_jobs) >= self.settings.max_queue:
            return Reply(wording.text("limit.queue_full", lang))
        return None

    async def start_job(self, event: Event, user: dict, keyword: str, lang: wording.Lang) -> list[Reply]:
        try:
            scene = self.library.find(keyword)
        except UnknownScene as err:
            return [Reply(err.message(lang))]
        selfie = await self.io(storage.latest_selfie, user["id"])
        if selfie is None:
            return [Reply(wording.text("bot.send_selfie_first", lang, scenes=self._scene_names()))]
        if (refusal := await self._gate_new_job(event, user, lang)) is not None:
            return [refusal]
        if (challenge := await self.verification.gate(event, user, selfie, scene.keyword, lang)) is not None:
            return challenge
        job = await self.io(storage.create_job, user["id"], scene.keyword, selfie_id=selfie["id"],
                            chat_id=event.chat_id, platform=event.platform, language=lang,
                            liveness=self.verification.job_liveness(selfie))
        position = await self.runner.position(job["id"])
        text = wording.text("job.queued", lang, position=position, seconds=self.runner.estimate_seconds(position))
        outbox = self.outboxes[event.platform]
        self.runner.poke()
        if not outbox.supports_edit:
            return [Reply(text)]  # no status message to edit later: the clip follows
        message_id = await outbox.send(event.chat_id, Reply(text))
        await self.io(storage.set_status_message, job["id"], message_id)
        await best_effort(outbox.action(event.chat_id, "upload_video"))
        return []

    # ---------------------------------------------------------------- runner callbacks

    def _status_lock(self, job_id: str) -> asyncio.Lock:
        return self._lock(("status", job_id))

    def _finalise_status(self, job_id: str) -> None:
        self._final_status[job_id] = None
        while len(self._final_status) > 10_000:  # oldest first: only late edits need the memory
            del self._final_status[next(iter(self._final_status))]

    async def on_progress(self, job: Job, done: int, total: int) -> None:
        outbox = self.outboxes.get(job["platform"] or "")
        chat_id, message_id = job["chat_id"], job["status_message"]
        if outbox is None or chat_id is None or not message_id or not outbox.supports_edit:
            return
        if job["id"] in self._final_status:
            return
        now = time.monotonic()
        if now - self._last_edit.get(job["id"], 0.0) < 2.0 and done < total:
            return
        self._last_edit[job["id"]] = now
        percent = int(100 * done / max(1, total))
        lang = lang_of(job["language"])
        async with self._status_lock(job["id"]):  # never overtakes, nor is overtaken by, the final edit
            if job["id"] in self._final_status:
                return
            await best_effort(outbox.edit(chat_id, message_id, wording.text("job.rendering", lang, percent=percent)))
        await best_effort(outbox.action(chat_id, "upload_video"))

    def _scene_or_none(self, keyword: str) -> Scene | None:
        """The scene a clip was rendered from (its size and duration go to the platform's player)."""
        try:
            return self.library.find(keyword)
        except UnknownScene:
            return None  # removed since: the clip is sent without them

    async def on_done(self, job: Job) -> None:
        """Deliver the clip, retrying transient failures; the stored clip is never lost."""
        outbox = self.outboxes.get(job["platform"] or "")
        self._last_edit.pop(job["id"], None)
        self._finalise_status(job["id"])
        chat_id, clip = job["chat_id"], job["output_file"]
        if outbox is None or chat_id is None or clip is None:
            return  # a job with no chat (an operator's), or no clip to send
        lang = lang_of(job["language"])
        scene = self._scene_or_none(job["scene"])
        caption = wording.text("job.caption", lang, scene=job["scene"], job_id=job["id"])
        buttons = [[Button(wording.text("job.report_button", lang), f"report:{job['id']}")]]
        for attempt in range(DELIVERY_ATTEMPTS):
            if not await self.io(storage.deliverable, job["id"]):
                return  # taken down, cancelled or purged meanwhile
            try:
                async with self.io.decrypted_file(clip, job["id"]) as path:
                    message_id = await outbox.send(chat_id, Reply(
                        caption, buttons, video=path, width=scene.width if scene else None,
                        height=scene.height if scene else None, duration=scene.duration if scene else None))
                await self.io(storage.record_delivery, job["id"], [f"{chat_id}:{message_id}"])
                break
            except DeliveryRefused as refused:
                log.info("delivery of job %s refused for good: %s", job["id"], refused)
                await self.io(storage.set_status, job["id"], "done", error=f"delivery refused: {refused}")
                return
            except Exception:  # noqa: BLE001 - retried with backoff
                log.warning("delivery of job %s failed (attempt %d)", job["id"], attempt + 1, exc_info=True)
                await asyncio.sleep(min(30.0, 1.5 * 2**attempt))
        else:
            await self.io(storage.set_status, job["id"], "done", error="delivery failed")
            return
        if job["status_message"] and outbox.supports_edit:
            async with self._status_lock(job["id"]):
                await best_effort(outbox.edit(chat_id, job["status_message"],
                                             wording.text("job.sent", lang, job_id=job["id"])))

    async def on_failed(self, job: Job, key: str, params: dict[str, object]) -> None:
        """Tell the user why a job failed, with the message (and its parameters) the error carried."""
        self._last_edit.pop(job["id"], None)
        self._finalise_status(job["id"])
        outbox = self.outboxes.get(job["platform"] or "")
        chat_id = job["chat_id"]
        if outbox is None or chat_id is None:
            return
        text = wording.text(key, lang_of(job["language"]), **params)
        if job["status_message"] and outbox.supports_edit:
            async with self._status_lock(job["id"]):
                await best_effort(outbox.edit(chat_id, job["status_message"], text))
        else:
            await best_effort(outbox.send(chat_id, Reply(text)))

    # ---------------------------------------------------------------- /delete

    def _ask_delete(self, event: Event, lang: wording.Lang) -> Reply:
        now = time.monotonic()
        if len(self._delete_asked) > 10_000:
            self._delete_asked = {k: at for k, at in self._delete_asked.items() if now - at <= DELETE_CONFIRM_S}
        self._delete_asked[(event.platform, event.user_id)] = now
        t = lambda key: wording.text(key, lang)  # noqa: E731
        return Reply(t("delete.ask"), [[Button(t("delete.yes"), "delete:yes"), Button(t("delete.no"), "delete:no")]])

    async def _delete(self, event: Event, lang: wording.Lang) -> list[Reply]:
        asked = self._delete_asked.pop((event.platform, event.user_id), None)
        if event.text != "delete:yes":
            return [Reply(wording.text("delete.kept", lang))]
        if asked is None or time.monotonic() - asked > DELETE_CONFIRM_S:
            # A confirmation with no open question (typed 确认删除 out of the blue, or a button from
            # a prompt long gone): ask first, never erase on a stray word.
            return [self._ask_delete(event, lang)]
        receipt = await self.io(storage.purge_user, event.platform, event.user_id)
        return [Reply(receipt_text(receipt, lang))]

    # ---------------------------------------------------------------- helpers

    def _scene_names(self) -> str:
        return ", ".join(self.library.keywords()) or "-"

    def scene_buttons(self, lang: wording.Lang, text: str) -> Reply:
        scenes = self.library.scenes()
        rows = [[Button(s.title or s.keyword, f"scene:{s.keyword}")] for s in scenes]
        return Reply(text, rows)

    def _privacy(self, lang: wording.Lang) -> str:
        s = self.settings
        live = wording.text("bot.privacy_live", lang) if s.liveness_required else ""
        return wording.text("bot.privacy", lang, selfie_h=f"{s.selfie_ttl_hours:g}", output_h=f"{s.output_ttl_hours:g}",
                            audit_d=f"{s.audit_retention_days:g}", live=live)

    def wake_runner(self) -> None:
        """Moderation's way to let the runner look at the queue now (ModerationHost)."""
        self.runner.poke()

    def close(self) -> None:
        self.checker.close()
        self.verification.close()
        self.io.close()

