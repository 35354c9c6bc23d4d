"""Answer "did our bot make this clip, and for whom?" for a moderator or operator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from zaobot.media.video import probe, read_frames
from zaobot.media.watermark import Detection, detect_luma, mean_luma
from zaobot.storage import Store


@dataclass
class VerifyReport:
    detection: Detection
    job: dict | None
    user_status: str  # "exists", "deleted", "unknown" or "-"
    takedown: dict | None
    aigc: dict | None
    c2pa: str

    def text(self) -> str:
        d = self.detection
        lines = []
        if d.found:
            lines.append(f"Invisible watermark: FOUND, id {d.watermark_id} (pilot z={d.pilot_z:.1f}, "
                         f"confidence {d.confidence:.1f})")
        else:
            lines.append("Invisible watermark: no watermark found")
        if self.job:
            lines += [f"Job: {self.job['job_id']}", f"Scene: {self.job['scene']}", f"Made: {self.job['at']}",
                      f"User hash: {self.job['user_hash']}", f"User: {self.user_status}"]
        elif d.found:
            lines.append("Job: no audit record (older than the audit retention, or made elsewhere with our key)")
        if self.takedown:
            lines.append(f"Taken down: {self.takedown['created_at']} ({self.takedown['reason']})")
        elif self.job:
            lines.append("Taken down: no")
        if self.aigc:
            lines.append(f"Metadata label: AIGC Label={self.aigc.get('Label')} producer={self.aigc.get('ContentProducer')} "
                         f"produce id={self.aigc.get('ProduceID')}")
        else:
            lines.append("Metadata label: none (stripped or not ours)")
        lines.append(f"C2PA: {self.c2pa}")
        return "\n".join(lines)


def _aigc(path: Path) -> dict | None:
    try:
        comment = probe(path).metadata.get("comment", "")
        return json.loads(comment).get("AIGC")
    except Exception:  # noqa: BLE001 - any clip may come in
        return None


def _user_status(store: Store, user_hash: str | None) -> str:
    if not user_hash:
        return "-"
    if store.db["deletions"].count_where("user_hash = ? and status = 'done'", [user_hash]):
        return "deleted (by /delete or a purge)"
    for row in store.db.query("SELECT platform, platform_user_id FROM users"):
        if store.user_hash(row["platform"], row["platform_user_id"]) == user_hash:
            return "exists"
    return "unknown (no longer stored)"


def verify_clip(path: Path, store: Store) -> VerifyReport:
    detection = detect_luma(mean_luma(read_frames(path)), store.secret)
    job = takedown = None
    if detection.found:
        rows = list(store.db["audit"].rows_where("action like 'render%' and watermark_id = ?", [detection.watermark_id],
                                                 limit=1))
        if rows:
            job = {"job_id": rows[0]["job_id"], "scene": rows[0]["scene"], "at": rows[0]["at"],
                   "user_hash": rows[0]["user_hash"]}
        downs = list(store.db["takedowns"].rows_where("watermark_id = ?", [detection.watermark_id], limit=1))
        takedown = downs[0] if downs else None
    from zaobot.media.provenance import c2pa_status

    return VerifyReport(detection=detection, job=job, user_status=_user_status(store, (job or {}).get("user_hash")),
                        takedown=takedown, aigc=_aigc(path), c2pa=c2pa_status(path, store.settings))
