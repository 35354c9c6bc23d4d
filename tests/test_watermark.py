"""The invisible mark survives what platforms do to clips, and is never read where it isn't."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from zaobot.media.video import ClipWriter, read_frames
from zaobot.media.watermark import apply_mark, detect_clip, make_mark
from tests.conftest import WATERMARK_ID, WATERMARK_SECRET


def reencode(src: Path, dst: Path, *, crf: int, size: tuple[int, int] | None = None, crop: float = 0.0) -> Path:
    """What a chat platform does: optional crop of `crop` off the edges, downscale, re-encode (bundled FFmpeg)."""
    frames = list(read_frames(src))
    h, w = frames[0].shape[:2]
    if crop:
        cx, cy = int(round(w * crop / 2)), int(round(h * crop / 2))
        frames = [f[cy:h - cy, cx:w - cx] for f in frames]
    if size:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    hh, ww = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
    with ClipWriter(dst, width=ww, height=hh, fps=Fraction(25), crf=crf) as writer:
        for f in frames:
            writer.write(np.ascontiguousarray(f[:hh, :ww]))
    return dst


@pytest.mark.parametrize("name, kwargs", [
    ("as delivered", None),
    ("crf 28", dict(crf=28)),
    ("480p crf 28", dict(crf=28, size=(854, 480))),
    ("5% cropped", dict(crf=23, crop=0.05)),
    ("5% cropped, 480p crf 28", dict(crf=28, crop=0.05, size=(640, 360))),
])
def test_mark_survives_reencoding_downscale_and_crop(rendered, tmp_path, name, kwargs):
    clip = rendered.path if kwargs is None else reencode(rendered.path, tmp_path / "re.mp4", **kwargs)
    detection = detect_clip(clip, WATERMARK_SECRET)
    assert detection.found, (name, detection)
    assert detection.watermark_id == WATERMARK_ID == rendered.watermark_id


def test_other_secret_reads_no_watermark(rendered):
    assert not detect_clip(rendered.path, "another-operators-secret-" + "z" * 30).found


def unmarked_clips(tmp_path: Path) -> list[Path]:
    """20 clips that carry no mark: real photos with camera motion, the scene itself, noise."""
    from skimage import data

    rng = np.random.default_rng(7)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field(),
              cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB), cv2.cvtColor(data.moon(), cv2.COLOR_GRAY2RGB),
              data.immunohistochemistry(), cv2.cvtColor(data.page(), cv2.COLOR_GRAY2RGB), data.colorwheel()[..., :3]]
    clips = []
    for i in range(20):
        size = [(640, 360), (1280, 720), (854, 480)][i % 3]
        frames = []
        if i < 10:
            photo = np.ascontiguousarray(photos[i].astype(np.uint8))
            for t in range(12):
                m = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2), t * 0.5, 1.0 + t * 0.01)
                frames.append(cv2.resize(cv2.warpAffine(photo, m, photo.shape[1::-1], borderMode=cv2.BORDER_REFLECT),
                                         size))
        elif i < 15:
            scene = list(read_frames(Path(__file__).resolve().parents[1] / "zaobot/scenes/demo/clip.mp4"))
            frames = [cv2.resize(f, size) for f in scene[(i - 10) * 20:(i - 10) * 20 + 12]]
        else:
            base = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
            frames = [cv2.resize(np.roll(base, t, axis=1), size, interpolation=cv2.INTER_CUBIC) for t in range(12)]
            frames = [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in frames]
        path = tmp_path / f"unmarked{i}.mp4"
        with ClipWriter(path, width=size[0], height=size[1], fps=Fraction(25), crf=23) as writer:
            for f in frames:
                writer.write(np.ascontiguousarray(f))
        clips.append(path)
    return clips


def test_unmarked_clips_report_no_watermark(tmp_path):
    for clip in unmarked_clips(tmp_path):
        detection = detect_clip(clip, WATERMARK_SECRET)
        assert not detection.found and detection.watermark_id is None, (clip.name, detection)


def test_mark_is_invisible_enough_and_cheap(demo_scene):
    frame = next(iter(read_frames(demo_scene.clip)))
    mark = make_mark(WATERMARK_ID, WATERMARK_SECRET, frame.shape[1], frame.shape[0])
    marked = apply_mark(frame.copy(), mark)
    assert 34.0 < cv2.PSNR(frame, marked) < 45.0
    assert np.abs(marked.astype(int) - frame.astype(int)).max() <= 30


def test_verify_reports_job_user_and_takedown(tmp_path, rendered):
    from zaobot import storage
    from zaobot.verify import verify_clip
    from tests.storage_helpers import make_settings

    settings = make_settings(tmp_path / "data", secret_key=WATERMARK_SECRET)
    st = storage.open_store(settings)
    user = storage.grant_consent(st, "telegram", "31337")
    h = st.user_hash("telegram", "31337")
    storage.audit(st, "render", job_id=rendered.job_id, watermark_id=WATERMARK_ID, scene="demo", user_hash=h)
    report = verify_clip(reencode(rendered.path, tmp_path / "re.mp4", crf=28, size=(854, 480)), st)
    assert report.detection.watermark_id == WATERMARK_ID
    assert report.job["job_id"] == rendered.job_id and report.job["user_hash"] == h
    assert report.user_status == "exists" and report.takedown is None
    assert report.aigc is None  # the re-encode dropped the metadata; the mark remains
    st.db["jobs"].insert({"id": rendered.job_id, "user_id": user["id"], "scene": "demo", "status": "done",
                          "created_at": "2026-01-01", "watermark_id": WATERMARK_ID})
    storage.takedown(st, rendered.job_id, reason="impersonation", moderator_hash="m")
    storage.purge_user(st, "telegram", "31337")
    report = verify_clip(rendered.path, st)
    assert report.user_status.startswith("deleted") and report.takedown["reason"] == "impersonation"
    assert report.aigc["ProduceID"] == rendered.job_id
    text = report.text()
    assert "FOUND" in text and rendered.job_id in text and "Taken down" in text
    st.close()
