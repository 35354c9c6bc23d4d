"""The render queue as the runner and the moderators see it: claiming, recovery, order, the pause switch.

Only SQL about the queue lives here (storage owns SQL); the runner decides what to do with it.
"""

from __future__ import annotations

from zaobot.storage.db import transaction
from zaobot.storage.jobs import ACTIVE, Job, JobStatus, as_jobs, get_job
from zaobot.storage.store import Store, iso, utcnow

PAUSED_FLAG = "paused"


def is_paused(store: Store) -> bool:
    row = store.db.execute("SELECT value FROM flags WHERE key = ?", [PAUSED_FLAG]).fetchone()
    return bool(row and row[0] == "1")


def set_paused(store: Store, paused: bool) -> None:
    with transaction(store.db):
        store.db.table("flags").upsert({"key": PAUSED_FLAG, "value": "1" if paused else "0",
                                        "updated_at": iso(utcnow())}, pk="key")


def claim_next(store: Store) -> Job | None:
    """The oldest queued job, now marked running (one more attempt), or None."""
    with transaction(store.db):
        rows = list(store.db["jobs"].rows_where("status = ?", [JobStatus.QUEUED], order_by="created_at", limit=1))
        if not rows:
            return None
        job = rows[0]
        store.db.table("jobs").update(job["id"], {"status": JobStatus.RUNNING, "attempts": (job["attempts"] or 0) + 1,
                                                  "started_at": iso(utcnow())})
    return get_job(store, job["id"])


def interrupted(store: Store) -> list[Job]:
    """Jobs left running by a process that died, oldest first."""
    return as_jobs(store.db["jobs"].rows_where("status = ?", [JobStatus.RUNNING], order_by="created_at"))


def requeue(store: Store, job_id: str) -> None:
    with transaction(store.db):
        store.db.table("jobs").update(job_id, {"status": JobStatus.QUEUED})


def active(store: Store) -> list[Job]:
    """Queued and running jobs, oldest first (the moderators' /queue)."""
    marks = ", ".join("?" * len(ACTIVE))
    return as_jobs(store.db["jobs"].rows_where(f"status in ({marks})", list(ACTIVE), order_by="created_at"))


def position(store: Store, job_id: str) -> int:
    """1-based place in line, counting the jobs running now; 0 for a job that is gone."""
    job = get_job(store, job_id)
    if job is None:
        return 0
    marks = ", ".join("?" * len(ACTIVE))
    ahead = store.db["jobs"].count_where(f"status in ({marks}) and created_at <= ? and id != ?",
                                         [*ACTIVE, job["created_at"], job_id])
    return ahead + 1
