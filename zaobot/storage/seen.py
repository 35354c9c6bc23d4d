"""Webhook requests seen lately, in SQLite: WeChat's retries of a MsgId and replayed signatures.

In memory, a restart would forget them: a retry arriving just after a restart would render twice,
and a captured signature could be replayed. Keys are hashed, so the table holds no platform ids.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from zaobot.storage.db import transaction
from zaobot.storage.store import Store, iso, utcnow


def first_sighting(store: Store, key: str, ttl: timedelta, *, now: datetime | None = None) -> bool:
    """True the first time `key` is seen within `ttl`; False for a repeat. Old keys are pruned."""
    moment = now or utcnow()
    digest = hashlib.sha256(key.encode()).hexdigest()
    with transaction(store.db):
        store.db.execute("DELETE FROM seen_requests WHERE seen_at <= ?", [iso(moment - ttl)])
        cur = store.db.execute("INSERT OR IGNORE INTO seen_requests (key, seen_at) VALUES (?, ?)",
                               [digest, iso(moment)])
    return cur.rowcount == 1
