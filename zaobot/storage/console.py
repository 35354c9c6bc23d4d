"""Web console sign-in: one-time links, sessions, and the failed-attempt count.

Tokens never touch the disk: rows hold their SHA-256 digests, so a copy of the SQLite file (a
backup) signs nobody in. Moderators appear only by their user hash, as in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from zaobot.storage.db import transaction
from zaobot.storage.moderation import audit
from zaobot.storage.store import Store, iso, utcnow

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)
FAILED_SIGNIN = "console:signin_failed"


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in moderator: who (platform and hash) and the session's CSRF token."""

    platform: str
    actor_hash: str
    csrf: str
    expires_at: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(store: Store, platform: str, moderator_id: str, *, now: datetime | None = None) -> str:
    """A one-time sign-in token for a moderator (the `/console` command), valid for 10 minutes."""
    moment = now or utcnow()
    token = secrets.token_urlsafe(32)
    actor = store.user_hash(platform, moderator_id)
    with transaction(store.db):
        store.db.table("console_links").insert({
            "token_hash": _digest(token), "platform": platform, "actor_hash": actor, "created_at": iso(moment),
            "expires_at": iso(moment + LINK_TTL), "used_at": None})
        audit(store, "console:link", actor_hash=actor, now=moment)
    return token


def redeem_link(store: Store, token: str, *, now: datetime | None = None) -> tuple[str, str] | None:
    """(platform, moderator hash) for an unused, unexpired link, which is used up; else None."""
    moment = iso(now or utcnow())
    with transaction(store.db):
        row = store.db.execute(
            "SELECT platform, actor_hash FROM console_links WHERE token_hash = ? AND used_at IS NULL "
            "AND expires_at > ?", [_digest(token), moment]).fetchone()
        if row is None:
            return None
        store.db.execute("UPDATE console_links SET used_at = ? WHERE token_hash = ?", [moment, _digest(token)])
    return str(row[0]), str(row[1])


def open_session(store: Store, platform: str, actor_hash: str, *, method: str,
                 now: datetime | None = None) -> tuple[str, ConsoleSession]:
    """A new session: the cookie's token (returned once, stored only as a digest) and the session."""
    moment = now or utcnow()
    token = secrets.token_urlsafe(32)
    session = ConsoleSession(platform=platform, actor_hash=actor_hash, csrf=secrets.token_urlsafe(24),
                             expires_at=iso(moment + SESSION_TTL))
    with transaction(store.db):
        store.db.table("console_sessions").insert({
            "token_hash": _digest(token), "platform": platform, "actor_hash": actor_hash, "csrf": session.csrf,
            "created_at": iso(moment), "expires_at": session.expires_at})
        audit(store, "console:signin", actor_hash=actor_hash, detail={"method": method}, now=moment)
    return token, session


def find_session(store: Store, token: str, *, now: datetime | None = None) -> ConsoleSession | None:
    row = store.db.execute(
        "SELECT platform, actor_hash, csrf, expires_at FROM console_sessions WHERE token_hash = ? AND expires_at > ?",
        [_digest(token), iso(now or utcnow())]).fetchone()
    return ConsoleSession(*row) if row else None


def close_session(store: Store, token: str) -> None:
    with transaction(store.db):
        row = store.db.execute("SELECT actor_hash FROM console_sessions WHERE token_hash = ?",
                               [_digest(token)]).fetchone()
        store.db.execute("DELETE FROM console_sessions WHERE token_hash = ?", [_digest(token)])
        if row is not None:
            audit(store, "console:signout", actor_hash=row[0])


def record_failed_signin(store: Store, method: str, *, now: datetime | None = None) -> None:
    """A wrong token or a used/expired link. No address or token is kept: only that it happened."""
    audit(store, FAILED_SIGNIN, detail={"method": method}, now=now)


VIEW_CLIP = "console:view_clip"


def record_clip_view(store: Store, job_id: str, actor_hash: str, *, window: timedelta = timedelta(minutes=30),
                     now: datetime | None = None) -> None:
    """Audit that a moderator played a reported clip: once per clip and moderator per half hour
    (a browser fetches a video in several requests, and a reload is not a new look)."""
    moment = now or utcnow()
    with transaction(store.db):
        seen = store.db["audit"].count_where("action = ? AND job_id = ? AND actor_hash = ? AND at > ?",
                                             [VIEW_CLIP, job_id, actor_hash, iso(moment - window)])
        if not seen:
            audit(store, VIEW_CLIP, job_id=job_id, actor_hash=actor_hash, now=moment)
