"""Audit log, bans, reports and takedowns. People appear here only as user hashes."""

from __future__ import annotations

import json
from datetime import datetime

from zaobot.storage.db import transaction
from zaobot.storage.store import Store, iso, utcnow


def audit(store: Store, action: str, *, job_id: str | None = None, watermark_id: str | None = None,
          scene: str | None = None, user_hash: str | None = None, actor_hash: str | None = None,
          detail: dict | None = None, now: datetime | None = None) -> None:
    """Append an audit row. Never pass media, names or platform ids in `detail`."""
    with transaction(store.db):
        store.db.table("audit").insert({"at": iso(now or utcnow()), "action": action, "job_id": job_id,
                                        "watermark_id": watermark_id, "scene": scene, "user_hash": user_hash,
                                        "actor_hash": actor_hash, "detail": json.dumps(detail or {})})


def is_banned(store: Store, platform: str, platform_user_id: str) -> bool:
    h = store.user_hash(platform, platform_user_id)
    return store.db["bans"].count_where("user_hash = ? and lifted_at is null", [h]) > 0


def ban(store: Store, platform: str, platform_user_id: str, *, reason: str, moderator_hash: str,
        now: datetime | None = None) -> None:
    h = store.user_hash(platform, platform_user_id)
    moment = iso(now or utcnow())
    with transaction(store.db):
        store.db.table("bans").insert({"user_hash": h, "platform": platform, "reason": reason,
                                       "moderator_hash": moderator_hash, "created_at": moment, "lifted_at": None})
        store.db.execute("UPDATE users SET banned = 1, ban_reason = ? WHERE platform = ? AND platform_user_id = ?",
                         [reason, platform, str(platform_user_id)])
        audit(store, "moderator:ban", user_hash=h, actor_hash=moderator_hash, detail={"reason": reason}, now=now)


def unban(store: Store, platform: str, platform_user_id: str, *, moderator_hash: str,
          now: datetime | None = None) -> bool:
    return lift_ban(store, store.user_hash(platform, platform_user_id), moderator_hash=moderator_hash, now=now)


def lift_ban(store: Store, user_hash: str, *, moderator_hash: str, now: datetime | None = None) -> bool:
    """Lift the bans on a user hash (the console knows a banned user only by it: the ban outlives
    the user's own /delete). False, and nothing recorded, when no ban was active."""
    with transaction(store.db):
        cur = store.db.execute("UPDATE bans SET lifted_at = ? WHERE user_hash = ? AND lifted_at IS NULL",
                               [iso(now or utcnow()), user_hash])
        if cur.rowcount == 0:
            return False
        store.db.execute("UPDATE users SET banned = 0, ban_reason = NULL WHERE user_hash = ?", [user_hash])
        audit(store, "moderator:unban", user_hash=user_hash, actor_hash=moderator_hash, now=now)
    return True


def report(store: Store, reporter_id: int | None, job_id: str | None, reason: str,
           *, now: datetime | None = None) -> int:
    with transaction(store.db):
        row = store.db.table("reports").insert({"reporter_id": reporter_id, "job_id": job_id, "reason": reason[:1000],
                                                "status": "open", "created_at": iso(now or utcnow())})
    assert row.last_pk is not None  # an insert into a rowid table always sets it
    return int(row.last_pk)


def open_reports(store: Store) -> list[dict]:
    return list(store.db["reports"].rows_where("status = 'open'", order_by="id"))


def resolve_report(store: Store, report_id: int, *, moderator_hash: str, now: datetime | None = None) -> bool:
    with transaction(store.db):
        cur = store.db.execute(
            "UPDATE reports SET status = 'resolved', resolved_at = ?, resolved_by = ? WHERE id = ? AND status = 'open'",
            [iso(now or utcnow()), moderator_hash, report_id])
        if cur.rowcount == 0:  # unknown, or already resolved (two moderators, one click twice): nothing happened
            return False
        row = store.db.execute("SELECT job_id FROM reports WHERE id = ?", [report_id]).fetchone()
        audit(store, "moderator:resolve", job_id=row[0] if row else None, actor_hash=moderator_hash,
              detail={"report": report_id}, now=now)
    return True


def takedown(store: Store, job_id: str, *, reason: str, moderator_hash: str,
             now: datetime | None = None) -> dict | None:
    """Delete a job's output for good: it is marked taken_down and can never be delivered again.

    Returns the job (with its delivery message ids, so the adapter can delete the
    delivered messages), or None for an unknown job. A job already taken down is returned
    as it is, with nothing recorded again: the record holds the first takedown and its reason.
    """
    rows = list(store.db["jobs"].rows_where("id = ?", [job_id]))
    if not rows:
        return None
    job = rows[0]
    if job["status"] == "taken_down":
        return job
    with transaction(store.db):
        store.db.table("jobs").update(job_id, {"status": "taken_down", "output_file": None, "output_expires_at": None})
        store.db.table("takedowns").insert({"job_id": job_id, "watermark_id": job["watermark_id"], "reason": reason,
                                            "moderator_hash": moderator_hash, "created_at": iso(now or utcnow())})
        audit(store, "moderator:takedown", job_id=job_id, watermark_id=job["watermark_id"], scene=job["scene"],
              actor_hash=moderator_hash, detail={"reason": reason}, now=now)
    if job["output_file"]:
        store.media.delete(job["output_file"])
    return job
