"""Counts for operators (`zaobot stats`, moderator /stats). Numbers only, no identities."""

from __future__ import annotations

from zaobot.storage.jobs import JobStatus
from zaobot.storage.store import Store


def stats(store: Store) -> dict[str, int]:
    db = store.db
    out = {"users": db["users"].count, "consented_users": db.execute(
        "SELECT COUNT(DISTINCT user_id) FROM consents WHERE revoked_at IS NULL").fetchone()[0]}
    for status in JobStatus:
        out[f"jobs_{status}"] = db["jobs"].count_where("status = ?", [status])
    out["selfies_stored"] = db["selfies"].count
    out["clips_stored"] = db["jobs"].count_where("output_file is not null")
    out["open_reports"] = db["reports"].count_where("status = 'open'")
    out["active_bans"] = db["bans"].count_where("lifted_at is null")
    out["deletions_done"] = db["deletions"].count_where("status = 'done'")
    out["deletions_pending"] = db["deletions"].count_where("status = 'pending'")
    out["audit_rows"] = db["audit"].count
    return out
