"""The sweeper: enforces the retention times (selfies, outputs, audit) and removes orphan files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from zaobot.storage.db import checkpoint as wal_checkpoint
from zaobot.storage.db import transaction
from zaobot.storage.inbox import INBOX_MAX_AGE
from zaobot.storage.jobs import ACTIVE, JobStatus
from zaobot.storage.scratch import SCRATCH_MAX_AGE_S
from zaobot.storage.store import Store, iso, utcnow

ORPHAN_GRACE = timedelta(hours=1)  # a file may exist briefly before its row is committed


@dataclass
class SweepResult:
    selfies: int = 0
    outputs: int = 0
    jobs: int = 0
    audit: int = 0
    tombstones: int = 0
    orphans: int = 0
    scratch: int = 0  # plaintext temp files a crash left behind


def sweep(store: Store, *, now: datetime | None = None) -> SweepResult:
    moment = now or utcnow()
    stamp = iso(moment)
    result = SweepResult()

    expired = list(store.db["selfies"].rows_where("expires_at <= ?", [stamp]))
    with transaction(store.db):
        store.db.execute("UPDATE jobs SET selfie_id = NULL WHERE selfie_id IN "
                         "(SELECT id FROM selfies WHERE expires_at <= ?)", [stamp])
        store.db.execute("DELETE FROM selfies WHERE expires_at <= ?", [stamp])
    for row in expired:
        store.media.delete(row["file"])
    result.selfies = len(expired)

    outputs = list(store.db["jobs"].rows_where("output_file is not null and output_expires_at <= ?", [stamp]))
    with transaction(store.db):
        store.db.execute("UPDATE jobs SET output_file = NULL WHERE output_file IS NOT NULL "
                         "AND output_expires_at <= ?", [stamp])
    for row in outputs:
        store.media.delete(row["output_file"])
    result.outputs = len(outputs)

    # Finished job rows go once their clip has expired; the audit row is the lasting trace.
    job_cutoff = iso(moment - timedelta(hours=store.settings.output_ttl_hours))
    with transaction(store.db):
        cur = store.db.execute("DELETE FROM jobs WHERE status NOT IN (?, ?, ?) "  # nothing still to render or send
                               "AND output_file IS NULL AND created_at <= ?", [*ACTIVE, JobStatus.RENDERED, job_cutoff])
        result.jobs = cur.rowcount

    audit_cutoff = iso(moment - timedelta(days=store.settings.audit_retention_days))
    with transaction(store.db):
        result.audit = store.db.execute("DELETE FROM audit WHERE at <= ?", [audit_cutoff]).rowcount
        store.db.execute("DELETE FROM inbox WHERE received_at <= ?", [iso(moment - INBOX_MAX_AGE)])
        # A challenge is only needed while it can be answered; the audit row keeps the outcome.
        store.db.execute("DELETE FROM challenges WHERE expires_at <= ?",
                         [iso(moment - timedelta(hours=store.settings.selfie_ttl_hours))])
        # Console sign-in links once used or expired, and sessions once expired.
        store.db.execute("DELETE FROM console_links WHERE expires_at <= ? OR used_at IS NOT NULL", [stamp])
        store.db.execute("DELETE FROM console_sessions WHERE expires_at <= ?", [stamp])
        result.tombstones = store.db.execute(
            "DELETE FROM deletions WHERE status = 'done' AND completed_at <= ?", [audit_cutoff]).rowcount

    referenced = {r["file"] for r in store.db.query("SELECT file FROM selfies")}
    referenced |= {r["output_file"]
                   for r in store.db.query("SELECT output_file FROM jobs WHERE output_file IS NOT NULL")}
    for row in store.db.query("SELECT files FROM deletions WHERE status = 'pending'"):
        referenced |= set(json.loads(row["files"] or "[]"))
    grace = (moment - ORPHAN_GRACE).timestamp()
    for name in store.media.names():
        if name not in referenced and store.media.path(name).stat().st_mtime <= grace:
            store.media.delete(name)
            result.orphans += 1
    result.scratch = store.media.scratch.clear(older_than_s=SCRATCH_MAX_AGE_S)
    wal_checkpoint(store.db)
    return result
