"""Users and consent. A user row exists only once its owner has consented."""

from __future__ import annotations

from datetime import datetime

from zaobot.consent import CONSENT_VERSION, consent_hash
from zaobot.storage.db import transaction
from zaobot.storage.store import Store, iso, utcnow


def find_user(store: Store, platform: str, platform_user_id: str) -> dict | None:
    rows = list(store.db["users"].rows_where("platform = ? and platform_user_id = ?",
                                             [platform, str(platform_user_id)]))
    return rows[0] if rows else None


def grant_consent(
    store: Store, platform: str, platform_user_id: str, *, language: str = "en", now: datetime | None = None
) -> dict:
    """Record consent to the current text, creating the user on first consent."""
    moment = iso(now or utcnow())
    with transaction(store.db):
        user = find_user(store, platform, platform_user_id)
        if user is None:
            store.db.table("users").insert({"platform": platform, "platform_user_id": str(platform_user_id),
                                            "first_seen": moment, "language": language, "banned": 0,
                                            "user_hash": store.user_hash(platform, str(platform_user_id))})
            user = find_user(store, platform, platform_user_id)
        assert user is not None
        store.db.table("consents").insert({"user_id": user["id"], "platform": platform, "version": CONSENT_VERSION,
                                           "text_hash": consent_hash(store.settings), "granted_at": moment,
                                           "revoked_at": None})
    return user


def backfill_user_hashes(store: Store) -> int:
    """Store the hash of users created before the column existed (schema v4); returns how many."""
    rows = list(store.db.query("SELECT id, platform, platform_user_id FROM users WHERE user_hash IS NULL"))
    with transaction(store.db):
        for row in rows:
            store.db.table("users").update(row["id"], {"user_hash": store.user_hash(row["platform"],
                                                                                     row["platform_user_id"])})
    return len(rows)


def revoke_consent(store: Store, platform: str, platform_user_id: str, *, now: datetime | None = None) -> bool:
    user = find_user(store, platform, platform_user_id)
    if user is None:
        return False
    with transaction(store.db):
        cur = store.db.execute("UPDATE consents SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                               [iso(now or utcnow()), user["id"]])
    return cur.rowcount > 0


def current_consent(store: Store, platform: str, platform_user_id: str) -> dict | None:
    """The user's unrevoked consent to the *current* text, or None (then ask again)."""
    user = find_user(store, platform, platform_user_id)
    if user is None:
        return None
    rows = list(store.db["consents"].rows_where(
        "user_id = ? and version = ? and text_hash = ? and revoked_at is null",
        [user["id"], CONSENT_VERSION, consent_hash(store.settings)], order_by="id desc", limit=1))
    return rows[0] if rows else None
