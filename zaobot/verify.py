"""Answer "did our bot make this clip, and for whom?" for a moderator or operator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av

from zaobot.config import Settings
from zaobot.media.video import UnreadableVideo, probe, read_frames
from zaobot.media.watermark import Detection, detect_luma, mean_luma
from zaobot.storage import Store
from zaobot.storage.trace import render_record, takedown_record, user_state


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
                      f"User hash: {self.job['user_hash']}", f"User: {self.user_status}",
                      f"Liveness: {_liveness_line(self.job.get('liveness'))}"]
        elif d.found:
            lines.append("Job: no audit record (older than the audit retention, or made elsewhere with our key)")
        if self.takedown:
            lines.append(f"Taken down: {self.takedown['created_at']} ({self.takedown['reason']})")
        elif self.job:
            lines.append("Taken down: no")
        if self.aigc:
            lines.append(f"Metadata label: AIGC Label={self.aigc.get('Label')} "
                         f"producer={self.aigc.get('ContentProducer')} produce id={self.aigc.get('ProduceID')}")
        else:
            lines.append("Metadata label: none (stripped or not ours)")
        lines.append(f"C2PA: {self.c2pa}")
        return "\n".join(lines)


def _liveness_line(liveness: dict | None) -> str:
    """"passed (method, time)" from the render's audit row; older rows predate the live check."""
    if not liveness:
        return "not recorded (made before the live check)"
    if liveness.get("result") == "off":
        return "not required (ZAOBOT_LIVENESS=off when it was made)"
    return f"{liveness.get('result')} ({liveness.get('method', '?')}, {liveness.get('at', '?')})"


def _aigc(path: Path) -> dict | None:
    try:
        comment = probe(path).metadata.get("comment", "")
        return json.loads(comment).get("AIGC")
    except Exception:  # noqa: BLE001 - any clip may come in
        return None


def _user_status(store: Store, user_hash: str | None) -> str:
    if not user_hash:
        return "-"
    return {"deleted": "deleted (by /delete or a purge)", "exists": "exists",
            "unknown": "unknown (no longer stored)"}[user_state(store, user_hash)]


@dataclass(frozen=True)
class ClipFindings:
    """What the clip itself says: its mark, its AIGC label, its C2PA manifest."""

    detection: Detection
    aigc: dict | None
    c2pa: str


def examine_clip(path: Path, secret: str, settings: Settings) -> ClipFindings:
    """Decode the clip and read its marks: seconds of CPU and no database, so a server runs it on
    a worker thread, not on the storage thread. UnreadableVideo for a file we cannot decode."""
    try:
        luma = mean_luma(read_frames(path))
    except (av.error.FFmpegError, StopIteration, ValueError, IndexError) as err:  # IndexError: no video stream
        raise UnreadableVideo(type(err).__name__) from None
    from zaobot.media.provenance import c2pa_status

    return ClipFindings(detect_luma(luma, secret), _aigc(path), c2pa_status(path, settings))


def trace(store: Store, findings: ClipFindings) -> VerifyReport:
    """The report: the findings joined with the audit trail (who the clip was made for, takedowns)."""
    detection = findings.detection
    job = takedown = None
    if detection.found and detection.watermark_id is not None:
        record = render_record(store, detection.watermark_id)
        if record:
            job = {"job_id": record["job_id"], "scene": record["scene"], "at": record["at"],
                   "user_hash": record["user_hash"],
                   "liveness": json.loads(record["detail"] or "{}").get("liveness")}
        takedown = takedown_record(store, detection.watermark_id)
    return VerifyReport(detection=detection, job=job, user_status=_user_status(store, (job or {}).get("user_hash")),
                        takedown=takedown, aigc=findings.aigc, c2pa=findings.c2pa)


def verify_clip(path: Path, store: Store) -> VerifyReport:
    """The report on a clip; UnreadableVideo for a file that is not a video we can decode."""
    return trace(store, examine_clip(path, store.secret, store.settings))
