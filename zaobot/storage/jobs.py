"""Selfies kept for a retry window, and render jobs with their outputs."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    import sqlite_utils

from zaobot.storage.db import transaction
from zaobot.storage.moderation import audit
from zaobot.storage.store import Store, iso, later, utcnow


class JobStatus(StrEnum):
    """queued -> running -> rendered (clip stored, not yet sent) -> done (sent, or given up on); or
    failed, cancelled, taken_down. "rendered" is its own state so that a crash during delivery is
    retried. A StrEnum: the values are what the jobs table stores."""

    QUEUED = "queued"
    RUNNING = "running"
    RENDERED = "rendered"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TAKEN_DOWN = "taken_down"


JOB_STATUSES = tuple(JobStatus)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def add_selfie(store: Store, user_id: int, data: bytes, *, now: datetime | None = None) -> int:
    """Store a validated selfie (encrypted) for at most ZAOBOT_SELFIE_TTL_HOURS.

    Only the latest is kept: earlier selfies of the user go, unless a queued or running job still
    needs one (that one goes with the sweep or the user's /delete)."""
    moment = now or utcnow()
    name = store.media.put("selfies", data)
    try:
        with transaction(store.db):
            row = store.db.table("selfies").insert({"user_id": user_id, "file": name, "created_at": iso(moment),
                                                    "expires_at": later(moment, hours=store.settings.selfie_ttl_hours)})
            assert row.last_pk is not None  # an insert into a rowid table always sets it
            new_id = int(row.last_pk)
            older = [(r[0], r[1]) for r in store.db.execute(
                "SELECT id, file FROM selfies WHERE user_id = ? AND id != ? AND id NOT IN "
                "(SELECT selfie_id FROM jobs WHERE selfie_id IS NOT NULL AND status IN (?, ?))",
                [user_id, new_id, *ACTIVE])]
            ids = [i for i, _ in older]
            if ids:
                marks = ",".join("?" * len(ids))
                store.db.execute(f"UPDATE jobs SET selfie_id = NULL WHERE selfie_id IN ({marks})", ids)
                store.db.execute(f"DELETE FROM selfies WHERE id IN ({marks})", ids)
    except BaseException:
        store.media.delete(name)
        raise
    for _, file in older:
        store.media.delete(file)
    return new_id


def latest_selfie(store: Store, user_id: int, *, now: datetime | None = None) -> dict | None:
    rows = list(store.db["selfies"].rows_where("user_id = ? and expires_at > ?", [user_id, iso(now or utcnow())],
                                               order_by="id desc", limit=1))
    return rows[0] if rows else None


def new_watermark_id() -> str:
    """A random 64-bit watermark id (hex); embedded in the clip, stored on the job and audit row."""
    return secrets.token_hex(8)


QUEUED_ACTION = "job:queued"


class Job(TypedDict):
    """A row of the jobs table, as every storage function returns it."""

    id: str
    user_id: int
    selfie_id: int | None
    scene: str
    status: str  # a JobStatus value
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    output_file: str | None
    output_expires_at: str | None
    watermark_id: str | None
    chat_id: str | None
    platform: str | None
    language: str | None
    status_message: str | None
    delivery: str  # JSON list of "chat:message" references of the sent clip
    attempts: int
    liveness: str | None  # JSON: the live check that verified its selfie ({"result": "off"} when not required)
    engine: str | None  # the engine that rendered it (set with the clip)


def as_job(row: dict[str, Any]) -> Job:
    """A jobs-table row, typed (sqlite-utils gives plain dicts)."""
    return cast(Job, row)


def as_jobs(rows: Iterable[dict[str, Any]]) -> list[Job]:
    return [as_job(row) for row in rows]


class JobGone(Exception):
    """The job was cancelled or purged while it rendered: its clip is dropped, nobody is told."""


def create_job(store: Store, user_id: int, scene: str, *, selfie_id: int | None = None, chat_id: str | None = None,
               platform: str | None = None, language: str | None = None, liveness: dict[str, Any] | None = None,
               now: datetime | None = None) -> Job:
    job: dict[str, Any] = {"id": uuid.uuid4().hex, "user_id": user_id, "selfie_id": selfie_id, "scene": scene,
           "status": JobStatus.QUEUED, "created_at": iso(now or utcnow()), "watermark_id": new_watermark_id(),
           "chat_id": chat_id, "platform": platform, "language": language, "delivery": "[]", "attempts": 0,
           "liveness": json.dumps(liveness) if liveness is not None else None}
    with transaction(store.db):
        store.db.table("jobs").insert(job)
        # Keyed by the user's hash, like a ban: the hourly limit still counts after a /delete.
        audit(store, QUEUED_ACTION, job_id=job["id"], scene=scene, user_hash=owner_hash(store, job),
              now=now)
    created = get_job(store, job["id"])
    assert created is not None
    return created


def get_job(store: Store, job_id: str) -> Job | None:
    rows = as_jobs(store.db["jobs"].rows_where("id = ?", [job_id]))
    return rows[0] if rows else None


def set_status(store: Store, job_id: str, status: str, *, error: str | None = None,
               now: datetime | None = None) -> None:
    if status not in JOB_STATUSES:
        raise ValueError(status)
    fields: dict[str, object] = {"status": status}
    moment = iso(now or utcnow())
    if status == JobStatus.RUNNING:
        fields["started_at"] = moment
    if status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED):
        fields["finished_at"] = moment
    if error is not None:
        fields["error"] = error
    with transaction(store.db):
        store.db.table("jobs").update(job_id, fields)


def attach_output(store: Store, job: Job, user_hash: str, clip: Path, *, worker: str | None = None,
                  engine: str | None = None, now: datetime | None = None) -> str:
    """Encrypt and keep the rendered clip; mark the job rendered (to deliver) and write its audit row
    (which says which worker rendered it, when it was a `zaobot worker`)."""
    moment = now or utcnow()
    name = store.media.put_file("outputs", clip)
    try:
        with transaction(store.db):
            current = get_job(store, job["id"])
            if current is None or current["status"] not in ACTIVE:
                raise JobGone(job["id"])
            store.db.table("jobs").update(job["id"], {
                "status": JobStatus.RENDERED, "finished_at": iso(moment), "output_file": name, "engine": engine,
                "output_expires_at": later(moment, hours=store.settings.output_ttl_hours)})
            # The audit row a watermark traces back to says how the face was verified as the sender's.
            raw = job.get("liveness")
            liveness = json.loads(raw) if raw else None
            detail: dict[str, Any] = {"liveness": _audit_liveness(liveness)} if liveness else {}
            if worker:
                detail["worker"] = worker
            if engine:
                detail["engine"] = engine
            audit(store, "render", job_id=job["id"], watermark_id=job["watermark_id"], scene=job["scene"],
                  user_hash=user_hash, detail=detail or None, now=moment)
    except BaseException:
        store.media.delete(name)
        raise
    return name


def _audit_liveness(liveness: dict[str, Any]) -> dict[str, Any]:
    """What the render's audit row keeps of the live check: result, method, time (the scores stay
    on the liveness audit row itself)."""
    return {k: liveness[k] for k in ("result", "method", "at") if k in liveness}


def set_status_message(store: Store, job_id: str, message_id: str) -> None:
    """The platform message that shows this job's progress (edited, not re-sent)."""
    with transaction(store.db):
        store.db.table("jobs").update(job_id, {"status_message": message_id})


def record_delivery(store: Store, job_id: str, message_ids: Iterable[str]) -> None:
    """The clip was sent: remember where, and mark the job done so it is never sent again."""
    with transaction(store.db):
        job = get_job(store, job_id)
        if job is None:
            return
        delivered = json.loads(job["delivery"] or "[]") + [str(m) for m in message_ids]
        fields: dict[str, object] = {"delivery": json.dumps(delivered)}
        if job["status"] == JobStatus.RENDERED:
            fields["status"] = JobStatus.DONE
        store.db.table("jobs").update(job_id, fields)


def undelivered_jobs(store: Store) -> list[Job]:
    """Jobs whose clip is stored but was not sent (the process died while delivering)."""
    return as_jobs(store.db["jobs"].rows_where("status = ?", [JobStatus.RENDERED], order_by="finished_at"))


def deliverable(store: Store, job_id: str) -> bool:
    """Only a rendered, not yet delivered clip is sent: never a taken-down, cancelled, expired or
    already delivered one."""
    job = get_job(store, job_id)
    return bool(job and job["status"] == JobStatus.RENDERED and job["output_file"]
                and store.media.exists(job["output_file"]))


def active_jobs(store: Store, user_id: int) -> int:
    """Jobs of a user that are queued or rendering."""
    return store.db["jobs"].count_where("user_id = ? and status in (?, ?)", [user_id, *ACTIVE])


def jobs_since(store: Store, platform: str, platform_user_id: str, since: datetime) -> int:
    """Jobs a user started since `since` (the hourly limit), counted in the audit log by the user's
    hash: purging the user's job rows must not reset the limit."""
    h = store.user_hash(platform, platform_user_id)
    return store.db["audit"].count_where("action = ? and user_hash = ? and at > ?", [QUEUED_ACTION, h, iso(since)])


def queued_jobs(store: Store) -> int:
    return store.db["jobs"].count_where("status = ?", [JobStatus.QUEUED])


def owner_hash(store: Store, job: Job | dict[str, Any]) -> str:
    """The audit hash of the user a job belongs to ('' once they are gone)."""
    row = store.db.execute("SELECT platform, platform_user_id FROM users WHERE id = ?", [job["user_id"]]).fetchone()
    return store.user_hash(row[0], row[1]) if row else ""


def selfie_file(store: Store, selfie_id: int | None) -> str | None:
    """The stored file of a selfie, or None when it expired or was deleted."""
    if selfie_id is None:
        return None
    rows = list(store.db["selfies"].rows_where("id = ?", [selfie_id]))
    return rows[0]["file"] if rows else None


def jobs_of(store: Store, user_id: int) -> list[Job]:
    return as_jobs(store.db["jobs"].rows_where("user_id = ?", [user_id], order_by="created_at"))


def current_status(db: sqlite_utils.Database, job_id: str) -> str | None:
    """A job's status on a bare connection (a render worker polls it to notice a cancel)."""
    row = db.execute("SELECT status FROM jobs WHERE id = ?", [job_id]).fetchone()
    return row[0] if row else None
