"""Moderator commands, run from the chat or the web console. Every one is written to the audit log.

A command table maps each command to its handler; the core reaches moderation only through
`Moderation.handles` / `Moderation.handle`, and moderation reaches back only through the
narrow `ModerationHost` (the store, its storage thread, the platforms' outboxes, and a way to wake the runner).
The actions themselves (`take_down`, `resolve`, `ban_author`, `set_paused`, `verify`) are public: the
console calls the same code as the chat commands.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from zaobot import storage, wording
from zaobot.handlers.events import Event, Outbox, Reply, best_effort
from zaobot.media.video import UnreadableVideo
from zaobot.storage import Store, console, overview, queue
from zaobot.storage.aio import StorageThread
from zaobot.verify import ClipFindings, VerifyReport

USAGE = {
    "takedown": "/takedown <job id> [reason]",
    "ban": "/ban <user id> [reason]",
    "unban": "/unban <user id>",
    "purge": "/purge <user id>",
    "resolve": "/resolve <report id>",
}


class ModerationHost(Protocol):
    """What moderation needs from the conversation core, and nothing more."""

    @property
    def store(self) -> Store: ...

    @property
    def outboxes(self) -> Mapping[str, Outbox]: ...

    @property
    def io(self) -> StorageThread: ...

    def wake_runner(self) -> None:
        """Let the job runner look at the queue now (after a resume)."""
        ...


@dataclass(frozen=True)
class _Call:
    """One moderator command: who, in which language, with which arguments."""

    event: Event
    lang: wording.Lang
    actor: str  # the moderator's one-way hash, for the audit log
    first: str  # the first argument (a job, user or report id)
    rest: str  # the rest (a reason)

    def reply(self, key: str, **params: object) -> list[Reply]:
        return [Reply(wording.text(key, self.lang, **params))]

    def done(self, what: str) -> list[Reply]:
        return self.reply("mod.done", what=what)


Handler = Callable[[_Call], Awaitable[list[Reply]]]


class Moderation:
    def __init__(self, host: ModerationHost) -> None:
        self.host = host
        self._table: dict[str, Handler] = {
            "stats": self._stats, "queue": self._queue, "takedown": self._takedown, "ban": self._ban,
            "unban": self._unban, "purge": self._purge, "reports": self._reports, "resolve": self._resolve,
            "verify": self._verify_command, "pause": self._pause, "resume": self._resume,
            "console": self._console,
        }
        self.COMMANDS = frozenset(self._table)

    @property
    def store(self) -> Store:
        return self.host.store

    def handles(self, command: str) -> bool:
        return command in self._table

    async def handle(self, event: Event, lang: wording.Lang) -> list[Reply]:
        """Run a moderator's command (the caller has checked that the sender is one)."""
        args = event.text.split(maxsplit=1)
        call = _Call(event=event, lang=lang, actor=self.store.user_hash(event.platform, event.user_id),
                     first=args[0] if args else "", rest=args[1].strip() if len(args) > 1 else "")
        if event.command in USAGE and not call.first:
            return call.reply("mod.usage", usage=USAGE[event.command])
        handler = self._table.get(event.command)
        return await handler(call) if handler is not None else []

    # ---------------------------------------------------------------- the commands

    async def _stats(self, call: _Call) -> list[Reply]:
        await self.host.io(storage.audit, "moderator:stats", actor_hash=call.actor)
        stats = await self.host.io(storage.stats)
        return [Reply("\n".join(f"{k}: {v}" for k, v in stats.items()))]

    async def _queue(self, call: _Call) -> list[Reply]:
        await self.host.io(storage.audit, "moderator:queue", actor_hash=call.actor)
        rows = await self.host.io(queue.active)
        lines = [f"{r['id']} {r['status']} {r['scene']} {r['created_at'][:19]}" for r in rows]
        return [Reply("\n".join(lines) or "queue empty")]

    async def _takedown(self, call: _Call) -> list[Reply]:
        if not await self.take_down(call.first, call.rest or "moderator", call.actor):
            return call.reply("mod.not_found", what=call.first)
        return call.done(f"takedown {call.first}")

    async def _ban(self, call: _Call) -> list[Reply]:
        await self.host.io(storage.ban, call.event.platform, call.first, reason=call.rest or "moderator",
                    moderator_hash=call.actor)
        return call.done(f"ban {call.first}")

    async def _unban(self, call: _Call) -> list[Reply]:
        if not await self.host.io(storage.unban, call.event.platform, call.first, moderator_hash=call.actor):
            return call.reply("mod.not_found", what=call.first)
        return call.done(f"unban {call.first}")

    async def _purge(self, call: _Call) -> list[Reply]:
        receipt = await self.host.io(storage.purge_user, call.event.platform, call.first, reason="moderator",
                                  actor_hash=call.actor)
        return call.done(f"purge {call.first}: " + json.dumps(receipt.removed))

    async def _reports(self, call: _Call) -> list[Reply]:
        await self.host.io(storage.audit, "moderator:reports", actor_hash=call.actor)
        rows = await self.host.io(storage.open_reports)
        return [Reply("\n".join(f"#{r['id']} job {r['job_id']}: {r['reason']}" for r in rows) or "no open reports")]

    async def _resolve(self, call: _Call) -> list[Reply]:
        if not call.first.isdigit() or not await self.resolve(int(call.first), call.actor):
            return call.reply("mod.not_found", what=call.first)
        return call.done(f"resolve #{call.first}")

    async def _verify_command(self, call: _Call) -> list[Reply]:
        if call.event.fetch_bytes is None:
            return call.reply("mod.usage", usage="/verify (reply to a clip, or send one with the caption /verify)")
        try:
            report = await self.verify(await call.event.fetch_bytes(), call.actor)
        except UnreadableVideo:
            return call.reply("mod.not_a_video")
        return [Reply(report.text())]

    async def _pause(self, call: _Call) -> list[Reply]:
        await self.set_paused(True, call.actor)
        return call.reply("mod.paused")

    async def _resume(self, call: _Call) -> list[Reply]:
        await self.set_paused(False, call.actor)
        return call.reply("mod.resumed")

    async def _console(self, call: _Call) -> list[Reply]:
        """A one-time sign-in link for the web console, for this moderator only (10 minutes)."""
        settings = self.store.settings
        if not settings.console_enabled:
            return call.reply("mod.console_off")
        token = await self.host.io(console.issue_link, call.event.platform, call.event.user_id)
        return call.reply("mod.console_link", url=f"{settings.base_url}/console/signin?token={token}")

    # ---------------------------------------------------------------- the actions (chat and console)

    async def take_down(self, job_id: str, reason: str, actor: str) -> bool:
        """Delete a clip for good and the messages that delivered it; its open reports are resolved.
        False for an unknown job."""
        job = await self.host.io(storage.takedown, job_id, reason=reason, moderator_hash=actor)
        if job is None:
            return False
        outbox = self.host.outboxes.get(job["platform"] or "")
        for ref in json.loads(job["delivery"] or "[]"):
            chat_id, _, message_id = ref.rpartition(":")
            if outbox is not None:
                await best_effort(outbox.delete(chat_id, message_id))
        for report_id in await self.host.io(overview.open_reports_on, job_id):
            await self.resolve(report_id, actor)
        return True

    async def resolve(self, report_id: int, actor: str) -> bool:
        """Close a report (no action on the clip). False when there is no such open report."""
        return await self.host.io(storage.resolve_report, report_id, moderator_hash=actor)

    async def ban_author(self, job_id: str, reason: str, actor: str) -> bool:
        """Ban the author of a clip and take the clip down (the console's one-click ban).
        False when the author is gone (they deleted their data: the clip went with it)."""
        author = await self.host.io(overview.job_author, job_id)
        if author is None:
            return False
        await self.host.io(storage.ban, author[0], author[1], reason=reason, moderator_hash=actor)
        await self.take_down(job_id, reason, actor)
        return True

    async def lift_ban(self, user_hash: str, actor: str) -> bool:
        """Unban by user hash (the console's Bans page). False when no ban on it was in force."""
        return await self.host.io(storage.lift_ban, user_hash, moderator_hash=actor)

    async def set_paused(self, paused: bool, actor: str) -> None:
        """Pause (new renders refused, queued ones wait) or resume the queue."""
        await self.host.io(queue.set_paused, paused)
        await self.host.io(storage.audit, "moderator:pause" if paused else "moderator:resume", actor_hash=actor)
        if not paused:
            self.host.wake_runner()

    async def verify(self, clip: bytes, actor: str) -> VerifyReport:
        """`zaobot verify` on an uploaded clip (audited: who looked up which watermark);
        UnreadableVideo when it is not a video."""
        report = await self._verify(clip)
        await self.host.io(storage.audit, "moderator:verify", actor_hash=actor,
                           watermark_id=report.detection.watermark_id, job_id=(report.job or {}).get("job_id"))
        return report

    async def _verify(self, clip: bytes) -> VerifyReport:
        """Decoding takes seconds: it runs on a worker thread, and only the lookup on the storage thread."""
        from zaobot.verify import examine_clip, trace

        store = self.host.store

        def examine() -> ClipFindings:
            with store.media.scratch.holding(clip, "verify") as path:
                return examine_clip(path, store.secret, store.settings)

        return await self.host.io(trace, await asyncio.to_thread(examine))
