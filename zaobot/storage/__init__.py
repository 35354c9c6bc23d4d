"""SQLite storage (sqlite-utils) and encrypted media files: plain functions over a Store."""

from zaobot.storage import liveness
from zaobot.storage.export import export_json, export_user
from zaobot.storage.jobs import (
    Job,
    JobGone,
    active_jobs,
    add_selfie,
    attach_output,
    create_job,
    deliverable,
    get_job,
    jobs_since,
    latest_selfie,
    new_watermark_id,
    owner_hash,
    queued_jobs,
    record_delivery,
    selfie_file,
    set_status,
    set_status_message,
    undelivered_jobs,
)
from zaobot.storage.keys import SecretKeyError
from zaobot.storage.media import MediaStore, TamperedFile
from zaobot.storage.moderation import (
    audit,
    ban,
    is_banned,
    lift_ban,
    open_reports,
    report,
    resolve_report,
    takedown,
    unban,
)
from zaobot.storage.purge import PurgeReceipt, purge_user, resume_pending_deletions
from zaobot.storage.retention import SweepResult, sweep
from zaobot.storage.stats import stats
from zaobot.storage.store import Store, open_store
from zaobot.storage.users import current_consent, find_user, grant_consent, revoke_consent

__all__ = [
    "Job", "JobGone", "MediaStore", "PurgeReceipt", "active_jobs", "jobs_since", "new_watermark_id", "owner_hash",
    "queued_jobs", "selfie_file", "SecretKeyError", "Store", "SweepResult", "TamperedFile", "add_selfie",
    "attach_output", "audit", "ban", "lift_ban", "create_job", "current_consent", "deliverable", "export_json",
    "export_user", "find_user", "get_job", "grant_consent", "is_banned", "latest_selfie", "open_reports",
    "open_store", "purge_user", "record_delivery", "report", "resolve_report", "resume_pending_deletions",
    "liveness", "revoke_consent", "set_status", "set_status_message", "stats", "sweep", "takedown", "unban",
    "undelivered_jobs",
]
