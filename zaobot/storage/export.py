"""/mydata: everything stored about a user, as JSON. Media are listed (with expiry), never included."""

from __future__ import annotations

import json

from zaobot.storage.store import Store, iso, utcnow
from zaobot.storage.users import find_user


def export_user(store: Store, platform: str, platform_user_id: str) -> dict:
    user = find_user(store, platform, platform_user_id)
    h = store.user_hash(platform, platform_user_id)
    out: dict = {"generated_at": iso(utcnow()), "platform": platform, "user_id": str(platform_user_id),
                 "user_hash": h, "profile": None, "consents": [], "selfies": [], "jobs": [], "reports": [],
                 "bans": [], "audit": []}
    if user is not None:
        uid = user["id"]
        out["profile"] = {k: user[k] for k in ("first_seen", "language", "banned", "ban_reason")}
        out["consents"] = [{k: r[k] for k in ("version", "text_hash", "granted_at", "revoked_at")}
                           for r in store.db["consents"].rows_where("user_id = ?", [uid], order_by="id")]
        out["selfies"] = [{"stored": "encrypted", "created_at": r["created_at"], "expires_at": r["expires_at"],
                           "live_check": json.loads(r["liveness"]) if r["liveness"] else "not verified"}
                          for r in store.db["selfies"].rows_where("user_id = ?", [uid], order_by="id")]
        out["live_check_challenges"] = [{k: r[k] for k in ("actions", "issued_at", "expires_at", "status")}
                                        for r in store.db["challenges"].rows_where("user_id = ?", [uid],
                                                                                   order_by="issued_at")]
        out["jobs"] = [{"job_id": r["id"], "scene": r["scene"], "status": r["status"], "created_at": r["created_at"],
                        "finished_at": r["finished_at"], "watermark_id": r["watermark_id"],
                        "live_check": json.loads(r["liveness"]) if r["liveness"] else None,
                        "clip": ({"stored": "encrypted", "expires_at": r["output_expires_at"]}
                                 if r["output_file"] else None)}
                       for r in store.db["jobs"].rows_where("user_id = ?", [uid], order_by="created_at")]
        out["reports"] = [{k: r[k] for k in ("job_id", "reason", "status", "created_at")}
                          for r in store.db["reports"].rows_where("reporter_id = ?", [uid], order_by="id")]
    out["bans"] = [{k: r[k] for k in ("reason", "created_at", "lifted_at")}
                   for r in store.db["bans"].rows_where("user_hash = ?", [h], order_by="id")]
    out["audit"] = [{k: r[k] for k in ("at", "action", "job_id", "scene")}
                    | ({"detail": json.loads(r["detail"])} if r["action"].startswith("liveness:") else {})
                    for r in store.db["audit"].rows_where("user_hash = ?", [h], order_by="id")]
    return out


def export_json(store: Store, platform: str, platform_user_id: str) -> str:
    return json.dumps(export_user(store, platform, platform_user_id), indent=2, ensure_ascii=False)
