"""/delete and /purge: a journalled, idempotent, crash-safe erasure of one user.

Steps: plan (journal row with the files and counts) -> cancel active jobs ->
delete files -> delete rows -> done (tombstone with counts only). Every step can
be repeated, so start-up simply runs the remaining steps of any pending row.
Audit rows stay; they name the user only by HMAC.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from zaobot.storage.db import checkpoint as wal_checkpoint
from zaobot.storage.db import transaction
from zaobot.storage.jobs import ACTIVE, JobStatus
from zaobot.storage.moderation import audit
from zaobot.storage.store import Store, iso, parse, utcnow

log = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]
STEPS = ("planned", "cancelled", "files", "rows", "done")
# Free text that others wrote (ban reasons, reports, takedown reasons, audit details)
# may quote the user's id; it is replaced by this. Ids shorter than MIN_SCRUB are
# left alone, as they would match unrelated text.
SCRUBBED = "[deleted user]"
MIN_SCRUB = 5
FREE_TEXT = (("bans", "reason"), ("reports", "reason"), ("takedowns", "reason"), ("audit", "detail"))


@dataclass
class PurgeReceipt:
    removed: dict[str, int]
    audit_rows_kept: int
    audit_kept_until: str | None
    completed_at: str
    cancelled_jobs: list[str] = field(default_factory=list)


def _noop(step: str) -> None:
    return None


def _user_files(store: Store, user_id: int) -> list[str]:
    selfies = [r["file"] for r in store.db["selfies"].rows_where("user_id = ?", [user_id])]
    outputs = [r["output_file"] for r in store.db["jobs"].rows_where("user_id = ? and output_file is not null",
                                                                      [user_id])]
    return selfies + outputs


def _scratch_files(store: Store, user_id: int | None) -> list[Path]:
    """Plaintext temp files of the user's jobs (a render in progress, a clip being uploaded)."""
    if user_id is None:
        return []
    jobs = [r["id"] for r in store.db["jobs"].rows_where("user_id = ?", [user_id], select="id")]
    return store.media.scratch.tagged(jobs)


def _plan(store: Store, platform: str, platform_user_id: str, reason: str, now: datetime) -> dict:
    h = store.user_hash(platform, platform_user_id)
    with transaction(store.db):
        users = list(store.db["users"].rows_where("platform = ? and platform_user_id = ?",
                                                  [platform, str(platform_user_id)]))
        uid = users[0]["id"] if users else None
        counts = {"profile": len(users), "selfies": 0, "clips": 0, "jobs": 0, "consents": 0, "reports": 0,
                  "cancelled_jobs": 0, "temp_files": len(_scratch_files(store, uid))}
        files: list[str] = []
        if uid is not None:
            counts["selfies"] = store.db["selfies"].count_where("user_id = ?", [uid])
            counts["clips"] = store.db["jobs"].count_where("user_id = ? and output_file is not null", [uid])
            counts["jobs"] = store.db["jobs"].count_where("user_id = ?", [uid])
            counts["consents"] = store.db["consents"].count_where("user_id = ?", [uid])
            counts["reports"] = store.db["reports"].count_where("reporter_id = ?", [uid])
            counts["cancelled_jobs"] = store.db["jobs"].count_where(
                "user_id = ? and status in (?, ?)", [uid, *ACTIVE])
            files = _user_files(store, uid)
        row = {"user_hash": h, "platform": platform, "user_row_id": uid, "reason": reason, "status": "pending",
               "requested_at": iso(now), "step": "planned", "files": json.dumps(files), "counts": json.dumps(counts),
               # Needed only until the purge completes, to scrub free text; cleared at "done".
               "scrub": str(platform_user_id) if len(str(platform_user_id)) >= MIN_SCRUB else None}
        pk = store.db.table("deletions").insert(row).last_pk
    return dict(row, id=pk)


def _set_step(store: Store, deletion_id: int, step: str) -> None:
    with transaction(store.db):
        store.db.table("deletions").update(deletion_id, {"step": step})


def _finish(store: Store, row: dict, checkpoint: Checkpoint,
            on_cancel: Callable[[list[str]], None] | None, now: datetime, actor_hash: str | None = None) -> list[str]:
    uid = row["user_row_id"]
    cancelled: list[str] = []
    if uid is not None:
        with transaction(store.db):
            cancelled = [r["id"] for r in store.db["jobs"].rows_where(
                "user_id = ? and status in (?, ?)", [uid, *ACTIVE])]
            store.db.execute("UPDATE jobs SET status = ?, finished_at = ? "
                             "WHERE user_id = ? AND status IN (?, ?)", [JobStatus.CANCELLED, iso(now), uid, *ACTIVE])
        if on_cancel and cancelled:
            on_cancel(cancelled)
    _set_step(store, row["id"], "cancelled")
    checkpoint("cancelled")

    for name in json.loads(row["files"] or "[]"):
        store.media.delete(name)
    store.media.scratch.remove(_scratch_files(store, uid))
    _set_step(store, row["id"], "files")
    checkpoint("files")

    late_files: list[str] = []
    late_scratch: list[Path] = []
    with transaction(store.db):
        if uid is not None:
            late_files = _user_files(store, uid)  # anything written after planning
            late_scratch = _scratch_files(store, uid)
            store.db.execute("DELETE FROM reports WHERE reporter_id = ?", [uid])
            store.db.execute("DELETE FROM consents WHERE user_id = ?", [uid])
            store.db.execute("DELETE FROM challenges WHERE user_id = ?", [uid])
            store.db.execute("DELETE FROM selfies WHERE user_id = ?", [uid])
            store.db.execute("DELETE FROM jobs WHERE user_id = ?", [uid])
            store.db.execute("DELETE FROM users WHERE id = ?", [uid])
        store.db.execute("DELETE FROM inbox WHERE user_hash = ?", [row["user_hash"]])  # held updates name the user
        # A moderator's own /delete signs them out of the console too.
        store.db.execute("DELETE FROM console_sessions WHERE actor_hash = ?", [row["user_hash"]])
        store.db.execute("DELETE FROM console_links WHERE actor_hash = ?", [row["user_hash"]])
        if row.get("scrub"):
            for table, column in FREE_TEXT:
                store.db.execute(f"UPDATE {table} SET {column} = REPLACE({column}, ?, ?) WHERE instr({column}, ?) > 0",
                                 [row["scrub"], SCRUBBED, row["scrub"]])
        store.db.table("deletions").update(row["id"], {"step": "rows"})
    for name in late_files:
        store.media.delete(name)
    store.media.scratch.remove(late_scratch)
    checkpoint("rows")

    with transaction(store.db):
        store.db.table("deletions").update(row["id"], {"status": "done", "step": "done", "completed_at": iso(now),
                                                       "files": None, "user_row_id": None, "scrub": None})
        action = "purge" if row["reason"] == "user_request" else f"purge:{row['reason']}"
        audit(store, action, user_hash=row["user_hash"], actor_hash=actor_hash,
              detail={"deletion": row["id"], "counts": json.loads(row["counts"])}, now=now)
    wal_checkpoint(store.db)
    checkpoint("done")
    return cancelled


def purge_user(store: Store, platform: str, platform_user_id: str, *, reason: str = "user_request",
               actor_hash: str | None = None, checkpoint: Checkpoint = _noop,
               on_cancel: Callable[[list[str]], None] | None = None, now: datetime | None = None) -> PurgeReceipt:
    """Erase every file and row about a user; returns the receipt shown to them."""
    moment = now or utcnow()
    row = _plan(store, platform, platform_user_id, reason, moment)
    checkpoint("planned")
    cancelled = _finish(store, row, checkpoint, on_cancel, moment, actor_hash)
    return receipt_for(store, row["user_hash"], json.loads(row["counts"]), iso(moment), cancelled)


def receipt_for(store: Store, user_hash: str, counts: dict[str, int], completed_at: str,
                cancelled: list[str] | None = None) -> PurgeReceipt:
    kept = list(store.db["audit"].rows_where("user_hash = ?", [user_hash], order_by="at desc"))
    until = None
    if kept:
        until = iso(parse(kept[0]["at"]) + timedelta(days=store.settings.audit_retention_days))
    return PurgeReceipt(removed=counts, audit_rows_kept=len(kept), audit_kept_until=until,
                        completed_at=completed_at, cancelled_jobs=cancelled or [])


def resume_pending_deletions(store: Store, *, now: datetime | None = None) -> int:
    """Finish every purge that a crash interrupted. Called at start-up."""
    pending = list(store.db["deletions"].rows_where("status = 'pending'", order_by="id"))
    for row in pending:
        log.warning("resuming interrupted deletion #%s (step %s)", row["id"], row["step"])
        _finish(store, row, _noop, None, now or utcnow())
    return len(pending)
