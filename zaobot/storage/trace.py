"""What a watermark id traces back to, for `zaobot verify` and the moderators' /verify."""

from __future__ import annotations

from zaobot.storage.store import Store


def render_record(store: Store, watermark_id: str) -> dict | None:
    """The audit row of the render that embedded `watermark_id` (job id, scene, time, user hash)."""
    rows = list(store.db["audit"].rows_where("action like 'render%' and watermark_id = ?", [watermark_id], limit=1))
    return rows[0] if rows else None


def takedown_record(store: Store, watermark_id: str) -> dict | None:
    rows = list(store.db["takedowns"].rows_where("watermark_id = ?", [watermark_id], limit=1))
    return rows[0] if rows else None


def user_state(store: Store, user_hash: str) -> str:
    """"deleted", "exists" or "unknown" for the user behind an audit hash."""
    if store.db["deletions"].count_where("user_hash = ? and status = 'done'", [user_hash]):
        return "deleted"
    if store.db["users"].count_where("user_hash = ?", [user_hash]):
        return "exists"
    return "unknown"
