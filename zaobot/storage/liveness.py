"""Live-check challenges, results and the pause after repeated failures.

Only outcomes are stored: which actions were asked, whether the check passed, which check
failed, the method and a few scores (distances, ratios). Never a recording, a descriptor or
a landmark. Failures are counted in the audit log, by the user's hash, so that a /delete does
not reset the pause after too many failures.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from zaobot.challenge import CHALLENGE_SECONDS
from zaobot.storage.db import transaction
from zaobot.storage.moderation import audit
from zaobot.storage.store import Store, iso, later, parse, utcnow

PASSED, FAILED = "liveness:passed", "liveness:failed"
MAX_FAILURES = 5  # failures within FAILURE_WINDOW that pause verification ...
FAILURE_WINDOW = timedelta(hours=1)
PAUSE = timedelta(hours=1)  # ... for this long after the last of them


def issue_challenge(store: Store, user_id: int, selfie_id: int, actions: tuple[str, ...], scene: str | None,
                    *, now: datetime | None = None) -> dict[str, Any]:
    """A new challenge for the selfie; any open one of the user's is closed (only the latest counts)."""
    moment = now or utcnow()
    row = {"id": secrets.token_hex(16), "user_id": user_id, "selfie_id": selfie_id, "actions": ",".join(actions),
           "scene": scene, "issued_at": iso(moment), "expires_at": later(moment, hours=CHALLENGE_SECONDS / 3600),
           "status": "open", "closed_at": None}
    with transaction(store.db):
        store.db.execute("UPDATE challenges SET status = 'replaced', closed_at = ? "
                         "WHERE user_id = ? AND status = 'open'", [iso(moment), user_id])
        store.db.table("challenges").insert(row)
    return row


def open_challenge(store: Store, user_id: int) -> dict[str, Any] | None:
    """The user's latest open challenge, expired or not (the caller tells an expired one apart)."""
    rows = list(store.db["challenges"].rows_where("user_id = ? and status = 'open'", [user_id],
                                                  order_by="issued_at desc", limit=1))
    return rows[0] if rows else None


def set_scene(store: Store, challenge_id: str, scene: str | None) -> None:
    """Remember the scene the user asked for while the challenge is open: the job starts once it passes."""
    with transaction(store.db):
        store.db.table("challenges").update(challenge_id, {"scene": scene})


def challenge_selfie(store: Store, challenge_id: str, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The (unexpired) selfie a challenge is about; None once it has gone (TTL, a newer selfie)."""
    rows = list(store.db.query(
        "SELECT s.* FROM selfies s JOIN challenges c ON c.selfie_id = s.id WHERE c.id = ? AND s.expires_at > ?",
        [challenge_id, iso(now or utcnow())]))
    return rows[0] if rows else None


def selfie_data(store: Store, selfie: dict[str, Any]) -> bytes:
    """The stored selfie's pixels (decrypted into memory), for the identity check."""
    return store.media.get(selfie["file"])


def expired(challenge: dict[str, Any], *, now: datetime | None = None) -> bool:
    return bool(challenge["expires_at"] <= iso(now or utcnow()))


def record_check(store: Store, challenge: dict[str, Any], user_hash: str, *, passed: bool, failed: str | None,
                 method: str, scores: dict[str, Any], now: datetime | None = None) -> None:
    """Close the challenge with its outcome, write the audit row, and on a pass mark the selfie verified."""
    moment = iso(now or utcnow())
    result = {"result": "passed" if passed else "failed", "failed": failed, "method": method, "at": moment,
              "actions": challenge["actions"].split(","), "scores": scores}
    with transaction(store.db):
        store.db.table("challenges").update(challenge["id"], {"status": result["result"], "closed_at": moment})
        if passed:
            store.db.table("selfies").update(challenge["selfie_id"], {"liveness": json.dumps(result)})
        audit(store, PASSED if passed else FAILED, user_hash=user_hash, detail=result, now=now)


def selfie_liveness(selfie: dict[str, Any]) -> dict[str, Any] | None:
    """The passed check recorded on a selfie row, or None if it was never verified."""
    raw = selfie.get("liveness")
    return json.loads(raw) if raw else None


def paused_until(store: Store, user_hash: str, *, now: datetime | None = None) -> datetime | None:
    """When verification resumes for a user who failed MAX_FAILURES times within an hour (None: not paused)."""
    moment = now or utcnow()
    times = [parse(r["at"]) for r in store.db["audit"].rows_where(
        "action = ? and user_hash = ? and at > ?", [FAILED, user_hash, iso(moment - FAILURE_WINDOW - PAUSE)],
        order_by="at", select="at")]
    until = None
    for i in range(MAX_FAILURES - 1, len(times)):
        if times[i] - times[i - MAX_FAILURES + 1] <= FAILURE_WINDOW:
            until = times[i] + PAUSE
    return until if until is not None and until > moment else None
