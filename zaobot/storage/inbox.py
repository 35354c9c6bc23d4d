"""Updates held while they are handled, so that a crash in mid-handling doesn't lose them.

Telegram counts an update as delivered as soon as the next poll runs, long before its handler
has answered. Each update is held here from the moment handling starts until its answer is out;
whatever a crash leaves here is handled again at the next start-up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from zaobot.storage.db import transaction
from zaobot.storage.store import Store, iso, utcnow

INBOX_MAX_AGE = timedelta(hours=1)  # an update not answered within an hour is not worth answering


def hold(store: Store, key: str, platform: str, user_hash: str, payload: str, *, now: datetime | None = None) -> None:
    with transaction(store.db):
        store.db.execute("INSERT OR IGNORE INTO inbox (key, platform, user_hash, payload, received_at) "
                         "VALUES (?, ?, ?, ?, ?)", [key, platform, user_hash, payload, iso(now or utcnow())])


def release(store: Store, key: str) -> None:
    with transaction(store.db):
        store.db.execute("DELETE FROM inbox WHERE key = ?", [key])


def held(store: Store, platform: str, *, now: datetime | None = None) -> list[dict]:
    """The updates a crash left unanswered, oldest first (stale ones are dropped)."""
    with transaction(store.db):
        store.db.execute("DELETE FROM inbox WHERE received_at <= ?", [iso((now or utcnow()) - INBOX_MAX_AGE)])
    return list(store.db["inbox"].rows_where("platform = ?", [platform], order_by="received_at"))
