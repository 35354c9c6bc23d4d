"""The conversation around the live check: ask for a recording, judge it, and let the job go on.

With ZAOBOT_LIVENESS=required a selfie is used only once its owner has recorded a random
challenge (two actions, in order, within two minutes) in which the same face appears. The
core reaches this module through `Verification.ask`, `.gate` and `.on_video`; it reaches
back through the narrow `VerificationHost`. The recording is fetched into memory, checked in
the live-check worker process and dropped; only the outcome is stored (storage.liveness).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Protocol

from zaobot import storage, wording
from zaobot.challenge import Action, draw, parse_actions
from zaobot.config import Settings
from zaobot.errors import SelfieError
from zaobot.handlers.events import Event, Reply
from zaobot.handlers.live_checker import LiveChecker
from zaobot.media.images import size_over_limit
from zaobot.storage import liveness
from zaobot.storage.aio import StorageThread

log = logging.getLogger(__name__)


class VerificationHost(Protocol):
    """What the live-check conversation needs from the core."""

    @property
    def io(self) -> StorageThread: ...

    async def start_job(self, event: Event, user: dict, keyword: str, lang: wording.Lang) -> list[Reply]:
        """Start a render of the user's (now verified) selfie in the scene `keyword`."""
        ...

    def scene_buttons(self, lang: wording.Lang, text: str) -> Reply: ...


def challenge_text(actions: list[str] | tuple[str, ...], platform: str, lang: wording.Lang) -> str:
    steps = "\n".join(f"{i}. {wording.text(f'live.action.{a}', lang)}" for i, a in enumerate(actions, 1))
    how_key = f"live.how.{platform}" if f"live.how.{platform}" in wording.keys() else "live.how.telegram"
    return wording.text("live.ask", lang, how=wording.text(how_key, lang), steps=steps)


class Verification:
    def __init__(self, host: VerificationHost, settings: Settings, checker: LiveChecker | None = None) -> None:
        self.host = host
        self.settings = settings
        self.checker = checker or LiveChecker()
        self._owns_checker = checker is None  # one passed in is its owner's to close
        # Tests pin the draw with ZAOBOT_LIVENESS_SEED; otherwise challenges come from the OS's randomness.
        seed = settings.liveness_seed
        self._rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._tasks: set[asyncio.Task] = set()

    @property
    def required(self) -> bool:
        return self.settings.liveness_required

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _paused(self, user: dict, lang: wording.Lang) -> Reply | None:
        until: datetime | None = await self.host.io(liveness.paused_until, user["user_hash"])
        if until is None:
            return None
        return Reply(wording.text("live.paused", lang, time=until.strftime("%Y-%m-%d %H:%M")))

    async def ask(self, event: Event, user: dict, selfie_id: int, selfie: bytes, scene: str,
                  lang: wording.Lang, *, lead: str = "") -> list[Reply]:
        """Issue a new challenge for the selfie (remembering the scene the user asked for, if any)."""
        if (paused := await self._paused(user, lang)) is not None:
            return [Reply(lead + paused.text)]
        actions = draw(self.settings.live_actions, self._rng)
        challenge = await self.host.io(liveness.issue_challenge, user["id"], selfie_id, actions,
                                       scene or None)
        self._spawn(self.checker.prepare(challenge["id"], selfie))  # while the user records
        return [Reply(lead + challenge_text(actions, event.platform, lang))]

    async def gate(self, event: Event, user: dict, selfie: dict, scene: str, lang: wording.Lang) -> list[Reply] | None:
        """None when a job may use this selfie; otherwise the challenge to answer first."""
        if not self.required or liveness.selfie_liveness(selfie) is not None:
            return None
        current = await self.host.io(liveness.open_challenge, user["id"])
        if current is not None and current["selfie_id"] == selfie["id"] and not liveness.expired(current):
            await self.host.io(liveness.set_scene, current["id"], scene or None)
            return [Reply(challenge_text(current["actions"].split(","), event.platform, lang))]
        data = await self.host.io(liveness.selfie_data, selfie)
        return await self.ask(event, user, selfie["id"], data, scene, lang)

    def job_liveness(self, selfie: dict) -> dict[str, Any]:
        """What a job records about the check that verified its selfie."""
        return liveness.selfie_liveness(selfie) or {"result": "off" if not self.required else "missing"}

    async def on_video(self, event: Event, user: dict, lang: wording.Lang) -> list[Reply]:
        """A recording arrived: refuse what can't be live, else check it against the open challenge."""
        t = lambda key, **kw: wording.text(key, lang, **kw)  # noqa: E731
        if not self.required:
            return [Reply(t("bot.help"))]  # as before the live check: a video is no selfie
        if event.forwarded:
            return [Reply(t("live.forwarded"))]
        if not event.live:
            return [Reply(t("live.not_round"))]
        challenge = await self.host.io(liveness.open_challenge, user["id"])
        selfie = None
        if challenge is not None:
            selfie = await self.host.io(liveness.challenge_selfie, challenge["id"])
        if challenge is None or selfie is None:
            latest = await self.host.io(storage.latest_selfie, user["id"])
            if latest is None:
                return [Reply(t("live.no_selfie"))]
            if liveness.selfie_liveness(latest) is not None:
                return [self.host.scene_buttons(lang, t("live.already_verified"))]
            data = await self.host.io(liveness.selfie_data, latest)
            return await self.ask(event, user, latest["id"], data, "", lang)
        if (paused := await self._paused(user, lang)) is not None:
            return [paused]
        if liveness.expired(challenge):
            return await self.ask(event, user, selfie["id"], await self.host.io(liveness.selfie_data, selfie),
                                  challenge["scene"] or "", lang, lead=t("live.expired") + "\n\n")
        limit = self.settings.liveness_max_bytes
        if event.file_size is not None and event.file_size > limit:
            return [Reply(t("live.too_big", detail=size_over_limit(event.file_size, limit)))]
        assert event.fetch_bytes is not None
        try:
            video = await event.fetch_bytes()
        except SelfieError as err:  # the platform's file was too large to fetch
            return [Reply(err.message(lang))]
        if len(video) > limit:
            return [Reply(t("live.too_big", detail=size_over_limit(len(video), limit)))]
        actions: tuple[Action, ...] = parse_actions(challenge["actions"])
        selfie_data = await self.host.io(liveness.selfie_data, selfie)  # decrypted once the video is worth checking
        try:
            verdict = await self.checker.check(video, selfie_data, actions, challenge["id"])
        except Exception:  # noqa: BLE001 - the worker failed: the challenge stays open for another try
            log.error("live check failed to run", exc_info=True)
            return [Reply(t("live.failed.error"))]
        finally:
            del video  # the recording is never kept
        await self.host.io(liveness.record_check, challenge, user["user_hash"],
                           passed=verdict.passed, failed=verdict.failed, method=self.checker.method,
                           scores=verdict.scores)
        log.info("live check %s%s", "passed" if verdict.passed else "failed: ", verdict.failed or "")
        if verdict.passed:
            if challenge["scene"]:
                replies = [Reply(t("live.passed_starting"))]
                return replies + await self.host.start_job(event, user, challenge["scene"], lang)
            return [self.host.scene_buttons(lang, t("live.passed"))]
        reason = t(f"live.failed.{verdict.failed}", missing=" / ".join(
            wording.text(f"live.action.{a}", lang) for a in verdict.missing))
        return await self.ask(event, user, selfie["id"], selfie_data, challenge["scene"] or "", lang,
                              lead=reason + "\n\n")

    async def warm(self) -> None:
        if self.required:
            try:
                await self.checker.warm()
            except Exception:  # noqa: BLE001 - warming is an optimisation
                log.warning("live-check worker could not warm up", exc_info=True)

    def close(self) -> None:
        if self._owns_checker:
            self.checker.close()
