"""What the web console shows: the report queue, recent jobs, the last day's timings, active bans,
audit search.

Read-only, and identity-free: a clip's author appears as the first characters of their user hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zaobot.storage.jobs import Job, as_jobs, owner_hash
from zaobot.storage.media import TamperedFile
from zaobot.storage.store import Store, iso

AUDIT_LIMIT = 200


@dataclass(frozen=True)
class ReportRow:
    """An open report with what a moderator needs to decide: the clip's state and its author's hash."""

    id: int
    job_id: str | None
    reason: str
    created_at: str
    job_status: str | None  # None: the job is gone (purged by its author, or swept)
    scene: str | None
    has_clip: bool
    author_hash: str  # '' once the author is gone
    author_banned: bool


@dataclass(frozen=True)
class JobTiming:
    """One job of the plotted window: when it was queued, started and finished (Unix seconds), and
    how it ended."""

    created: float
    started: float | None
    finished: float | None
    status: str
    error: str | None


def report_queue(store: Store, limit: int = 100) -> list[ReportRow]:
    rows = []
    for report in store.db["reports"].rows_where("status = 'open'", order_by="id", limit=limit):
        jobs = as_jobs(store.db["jobs"].rows_where("id = ?", [report["job_id"]])) if report["job_id"] else []
        job = jobs[0] if jobs else None
        author = owner_hash(store, job) if job else ""
        banned = bool(author) and store.db["bans"].count_where("user_hash = ? AND lifted_at IS NULL", [author]) > 0
        rows.append(ReportRow(
            id=report["id"], job_id=report["job_id"], reason=report["reason"] or "", created_at=report["created_at"],
            job_status=job["status"] if job else None, scene=job["scene"] if job else None,
            has_clip=bool(job and job["output_file"]), author_hash=author, author_banned=banned))
    return rows


def reported_clip_bytes(store: Store, job_id: str) -> bytes | None:
    """The decrypted clip of a job that has an open report, or None (no report, no clip, or the
    clip went meanwhile): the console plays reported clips only, so that moderators cannot browse
    users' clips. One call on the storage thread, so a takedown can't slip in between."""
    row = store.db.execute(
        "SELECT jobs.output_file FROM jobs JOIN reports ON reports.job_id = jobs.id "
        "WHERE jobs.id = ? AND reports.status = 'open' AND jobs.output_file IS NOT NULL LIMIT 1", [job_id]).fetchone()
    if row is None:
        return None
    try:
        return store.media.get(row[0])
    except (FileNotFoundError, TamperedFile):
        return None


def open_reports_on(store: Store, job_id: str) -> list[int]:
    return [r[0] for r in store.db.execute("SELECT id FROM reports WHERE job_id = ? AND status = 'open'", [job_id])]


def job_author(store: Store, job_id: str) -> tuple[str, str] | None:
    """(platform, platform user id) of a job's author, for a ban; None once they are gone."""
    row = store.db.execute("SELECT users.platform, users.platform_user_id FROM jobs JOIN users "
                           "ON users.id = jobs.user_id WHERE jobs.id = ?", [job_id]).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def recent_jobs(store: Store, limit: int = 50) -> list[Job]:
    """The newest jobs, any status."""
    return as_jobs(store.db["jobs"].rows_where(order_by="created_at desc", limit=limit))


def job_timings(store: Store, since: datetime) -> list[JobTiming]:
    """Jobs queued, started or finished since `since`, oldest first (the console's plots): a job
    that waited hours in the queue still counts in the hour it was rendered. SQLite turns the
    timestamps into Unix seconds: parsing tens of thousands of ISO strings in Python was most of
    the page's time."""
    unix = "(julianday({}) - 2440587.5) * 86400.0"
    rows = store.db.execute(
        f"SELECT {unix.format('created_at')}, {unix.format('started_at')}, {unix.format('finished_at')}, "
        "status, error FROM jobs WHERE created_at > :t OR started_at > :t OR finished_at > :t "
        "ORDER BY created_at", {"t": iso(since)}).fetchall()
    return [JobTiming(*row) for row in rows]


def active_bans(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """The bans in force, newest first: the user appears by hash only (a ban outlives their /delete)."""
    return list(store.db.query(
        "SELECT user_hash, platform, reason, moderator_hash, MAX(created_at) AS created_at FROM bans "
        f"WHERE lifted_at IS NULL GROUP BY user_hash ORDER BY created_at DESC LIMIT {int(limit)}"))


def search_audit(store: Store, term: str, limit: int = AUDIT_LIMIT) -> list[dict[str, Any]]:
    """Audit rows about a job id, watermark id or user hash (a hash may be given by its first 12+ characters)."""
    term = term.strip().lower()
    if not term:
        return []
    where = "job_id = :t OR watermark_id = :t OR user_hash = :t OR actor_hash = :t"
    params: dict[str, Any] = {"t": term}
    if 12 <= len(term) < 64:  # a shortened hash, as the console shows them: a range, so the index serves it
        where += " OR (user_hash >= :lo AND user_hash < :hi) OR (actor_hash >= :lo AND actor_hash < :hi)"
        params.update(lo=term, hi=term + "~")  # '~' sorts after every hex digit
    rows = store.db.query(f"SELECT * FROM audit WHERE {where} ORDER BY id DESC LIMIT {int(limit)}", params)
    return [{**row, "detail": json.loads(row["detail"] or "{}")} for row in rows]
