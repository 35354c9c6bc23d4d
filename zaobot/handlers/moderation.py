"""Moderator commands, run from the chat. Every one is written to the audit log."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from zaobot import storage, wording
from zaobot.handlers.events import Event, Reply
from zaobot.storage import queue
from zaobot.storage.store import in_thread

if TYPE_CHECKING:
    from zaobot.handlers.core import Conversation

USAGE = {
    "takedown": "/takedown <job id> [reason]",
    "ban": "/ban <user id> [reason]",
    "unban": "/unban <user id>",
    "purge": "/purge <user id>",
    "resolve": "/resolve <report id>",
}


class Moderation:
    COMMANDS = frozenset({"stats", "queue", "takedown", "ban", "unban", "purge", "reports", "resolve", "pause",
                          "resume", "verify"})

    def __init__(self, core: Conversation) -> None:
        self.core = core

    def handles(self, command: str) -> bool:
        return command in self.COMMANDS

    async def handle(self, event: Event, lang: wording.Lang) -> list[Reply]:
        store = self.core.store
        actor = store.user_hash(event.platform, event.user_id)
        args = event.text.split(maxsplit=1)
        first = args[0] if args else ""
        rest = args[1].strip() if len(args) > 1 else ""
        done = lambda what: [Reply(wording.text("mod.done", lang, what=what))]  # noqa: E731
        if event.command in USAGE and not first:
            return [Reply(wording.text("mod.usage", lang, usage=USAGE[event.command]))]

        if event.command == "stats":
            storage.audit(store, "moderator:stats", actor_hash=actor)
            return [Reply("\n".join(f"{k}: {v}" for k, v in storage.stats(store).items()))]
        if event.command == "queue":
            storage.audit(store, "moderator:queue", actor_hash=actor)
            rows = queue.active(store)
            lines = [f"{r['id']} {r['status']} {r['scene']} {r['created_at'][:19]}" for r in rows]
            return [Reply("\n".join(lines) or "queue empty")]
        if event.command == "takedown":
            job = storage.takedown(store, first, reason=rest or "moderator", moderator_hash=actor)
            if job is None:
                return [Reply(wording.text("mod.not_found", lang, what=first))]
            for ref in json.loads(job["delivery"] or "[]"):
                chat_id, _, message_id = ref.rpartition(":")
                outbox = self.core.outboxes.get(job["platform"] or "")
                if outbox is not None:
                    await self.core._safe(outbox.delete(chat_id, message_id))
            return done(f"takedown {first}")
        if event.command == "ban":
            storage.ban(store, event.platform, first, reason=rest or "moderator", moderator_hash=actor)
            return done(f"ban {first}")
        if event.command == "unban":
            if not storage.unban(store, event.platform, first, moderator_hash=actor):
                return [Reply(wording.text("mod.not_found", lang, what=first))]
            return done(f"unban {first}")
        if event.command == "purge":
            receipt = await in_thread(store, storage.purge_user, event.platform, first, reason="moderator",
                                      actor_hash=actor)
            return done(f"purge {first}: " + json.dumps(receipt.removed))
        if event.command == "reports":
            storage.audit(store, "moderator:reports", actor_hash=actor)
            rows = storage.open_reports(store)
            return [Reply("\n".join(f"#{r['id']} job {r['job_id']}: {r['reason']}" for r in rows) or "no open reports")]
        if event.command == "resolve":
            if not first.isdigit() or not storage.resolve_report(store, int(first), moderator_hash=actor):
                return [Reply(wording.text("mod.not_found", lang, what=first))]
            return done(f"resolve #{first}")
        if event.command == "verify":
            if event.fetch_bytes is None:
                return [Reply(wording.text("mod.usage", lang, usage="/verify (reply to a clip, or send one with "
                                                                     "the caption /verify)"))]
            report = await self._verify(await event.fetch_bytes())
            storage.audit(store, "moderator:verify", actor_hash=actor,
                          watermark_id=report.detection.watermark_id, job_id=(report.job or {}).get("job_id"))
            return [Reply(report.text())]
        if event.command in ("pause", "resume"):
            queue.set_paused(store, event.command == "pause")
            storage.audit(store, f"moderator:{event.command}", actor_hash=actor)
            if event.command == "resume":
                self.core.runner.poke()
            return [Reply(wording.text("mod.paused" if event.command == "pause" else "mod.resumed", lang))]
        return []

    async def _verify(self, clip: bytes):
        from zaobot.verify import verify_clip

        def run(store):
            with store.media.scratch.holding(clip, "verify") as path:
                return verify_clip(path, store)

        return await in_thread(self.core.store, run)
