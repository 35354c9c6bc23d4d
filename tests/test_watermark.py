"""The invisible mark survives what platforms do to clips, and is never read where it isn't."""

from __future__ import annotations

import time
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
    marked = apply_mark(frame.copy(), mark, demo_scene.analysis.at(0))
    assert 41.0 < cv2.PSNR(frame, marked) < 50.0  # was ~36 dB with a uniform mark
    assert np.abs(marked.astype(int) - frame.astype(int)).max() <= 10
    start = time.perf_counter()
    for _ in range(5):
        apply_mark(frame.copy(), mark, demo_scene.analysis.at(0))
    assert (time.perf_counter() - start) / 5 < 0.05  # a few ms at 720p; generous for a busy test machine


def mark_of(frame: np.ndarray, face: np.ndarray | None = None) -> np.ndarray:
    """The luma change the mark makes to an RGB frame, float32 (H, W), averaged over a 9x9 window:
    the mark at the scale of its cells, without the dither's pixel-level rounding."""
    mark = make_mark(WATERMARK_ID, WATERMARK_SECRET, frame.shape[1], frame.shape[0])
    marked = apply_mark(frame.copy(), mark, face)
    delta = marked.astype(np.float32) - frame.astype(np.float32)
    assert np.array_equal(delta[..., 0], delta[..., 1]) and np.array_equal(delta[..., 2], delta[..., 1])  # luma only
    return cv2.blur(delta[..., 1], (9, 9))


def test_mark_is_faint_on_flat_areas_and_stronger_in_texture():
    """A flat grey wall beside real texture (skimage's grass), in one 720p frame."""
    from skimage import data

    grass = cv2.resize(data.grass(), (640, 720), interpolation=cv2.INTER_AREA).astype(np.float32)
    luma = np.full((720, 1280), 128, np.uint8)
    luma[:, 640:] = np.clip(grass - grass.mean() + 128, 0, 255).astype(np.uint8)
    mark = mark_of(cv2.cvtColor(luma, cv2.COLOR_GRAY2RGB))
    flat, texture = mark[:, 40:600].std(), mark[:, 680:1240].std()
    assert 0.3 < flat < 1.0  # well under a grey level on the wall (the old uniform mark: ~5)
    assert texture > 1.8 * flat


def test_mark_is_stronger_in_the_dark():
    """Luminance masking: grain hides in dark areas, so a dark flat frame carries more than a mid-grey one."""
    dark, grey = (mark_of(np.full((360, 640, 3), level, np.uint8)).std() for level in (24, 128))
    assert dark > 1.25 * grey


def test_mark_is_attenuated_on_the_face(demo_scene):
    """On a uniform frame, with the demo's landmarks as the face: much weaker inside the face, unchanged far away."""
    landmarks = demo_scene.analysis.at(0)
    frame = np.full((720, 1280, 3), 128, np.uint8)
    with_face, without = mark_of(frame, landmarks), mark_of(frame)
    hull = np.zeros((720, 1280), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    inside = cv2.erode(hull, np.ones((9, 9), np.uint8)).astype(bool)
    far = cv2.dilate(hull, np.ones((161, 161), np.uint8)) == 0
    assert with_face[inside].std() < 0.3 * without[inside].std()
    assert np.array_equal(with_face[far], without[far])


def test_pattern_is_static_only_its_amplitude_follows_the_picture():
    """Detection averages frames: the mark on a flat frame and on a textured one must be the same pattern."""
    from skimage import data

    flat = np.full((720, 1280, 3), 128, np.uint8)
    gravel = cv2.resize(data.gravel(), (1280, 720), interpolation=cv2.INTER_AREA)
    textured = cv2.cvtColor(np.clip(gravel.astype(np.float32) - gravel.mean() + 128, 0, 255).astype(np.uint8),
                            cv2.COLOR_GRAY2RGB)
    a, b = mark_of(flat), mark_of(textured)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8
    assert b.std() > 1.5 * a.std()


def photo_clip(path: Path, size: tuple[int, int], frames: int, *, static: bool, secret: str | None) -> Path:
    """A clip from a real photo: a slow camera drift, or a static camera with sensor noise and a moving
    object in front (like a webcam); marked under `secret` if given."""
    from skimage import data

    photo = cv2.resize(data.coffee(), (size[0] + 40, size[1] + 40), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(3)
    mark = make_mark(WATERMARK_ID, secret, size[0], size[1]) if secret else None
    with ClipWriter(path, width=size[0], height=size[1], fps=Fraction(25), crf=23) as writer:
        for t in range(frames):
            dx = 20 if static else 20 + int(round(8 * np.sin(t / 10)))
            frame = np.ascontiguousarray(photo[20:20 + size[1], dx:dx + size[0]])
            if static:
                x = int(size[0] * (0.2 + 0.5 * t / frames))
                cv2.circle(frame, (x, size[1] // 2), size[1] // 5, (200, 60, 40), -1)
                frame = np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8)
            if mark is not None:
                apply_mark(frame, mark)
            writer.write(frame)
    return path


def test_static_camera_clip_reads_after_reencoding_and_unmarked_does_not(tmp_path):
    """A static background's texture stays in the clip's average: the detector has to see past it."""
    marked = photo_clip(tmp_path / "marked.mp4", (640, 360), 75, static=True, secret=WATERMARK_SECRET)
    detection = detect_clip(reencode(marked, tmp_path / "re.mp4", crf=28), WATERMARK_SECRET)
    assert detection.found and detection.watermark_id == WATERMARK_ID, detection
    plain = photo_clip(tmp_path / "plain.mp4", (640, 360), 75, static=True, secret=None)
    assert not detect_clip(plain, WATERMARK_SECRET).found


def test_crop_that_changes_the_grid_height_still_reads(tmp_path):
    """720x576 has a 102-row grid; 5% cropped (684x548) it rounds to 103: the patterns must not depend on it."""
    clip = photo_clip(tmp_path / "marked.mp4", (720, 576), 75, static=False, secret=WATERMARK_SECRET)
    detection = detect_clip(reencode(clip, tmp_path / "re.mp4", crf=23, crop=0.05), WATERMARK_SECRET)
    assert detection.found and detection.watermark_id == WATERMARK_ID, detection


def test_payload_code_corrects_noise_and_the_crc_rejects_noise():
    """The convolutional code + list Viterbi recover 80 bits at a per-bit SNR of 2; pure noise never passes the CRC."""
    from zaobot.media.watermark import CODED, INFO_BITS, _conv_encode, _crc16, _list_viterbi

    def checked(soft: np.ndarray) -> np.ndarray | None:
        return next((p for p in _list_viterbi(soft, 16) if np.array_equal(_crc16(p[:64]), p[64:])), None)

    rng = np.random.default_rng(11)
    for _ in range(20):
        payload = rng.integers(0, 2, 64).astype(np.uint8)
        bits = np.concatenate([payload, _crc16(payload)])
        soft = 2.0 / np.sqrt(CODED / INFO_BITS) * _conv_encode(bits) + rng.standard_normal(CODED)
        assert np.array_equal(checked(soft), bits)
    for _ in range(20):
        assert checked(rng.standard_normal(CODED)) is None


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


def test_mark_stream_reuses_the_mask_for_the_next_frame_and_still_reads(demo_scene, tmp_path):
    """The clip's mark refreshes its perceptual mask every other frame; what it adds equals apply_mark's."""
    from zaobot.media.video import ClipWriter
    from zaobot.media.watermark import AMPLITUDE_REFRESH, MarkStream, mark_offset

    frames = [f for _, f in zip(range(12), read_frames(demo_scene.clip))]
    mark = make_mark(WATERMARK_ID, WATERMARK_SECRET, frames[0].shape[1], frames[0].shape[0])
    stream = MarkStream(mark)
    marked = [stream.apply(f.copy(), demo_scene.analysis.at(i)) for i, f in enumerate(frames)]
    assert AMPLITUDE_REFRESH == 2
    fresh = apply_mark(frames[0].copy(), mark, demo_scene.analysis.at(0))
    assert np.array_equal(marked[0], fresh)
    offset = mark_offset(frames[0], mark, demo_scene.analysis.at(0)).astype(np.int16) - 128
    # Frame 1 gets frame 0's offset, not one of its own; frame 2 its own again.
    assert np.array_equal(marked[1], np.clip(frames[1].astype(np.int16) + offset, 0, 255).astype(np.uint8))
    own = mark_offset(frames[1], mark, demo_scene.analysis.at(1)).astype(np.int16) - 128
    assert not np.array_equal(own, offset)
    assert np.array_equal(marked[2], apply_mark(frames[2].copy(), mark, demo_scene.analysis.at(2)))
    assert 41.0 < cv2.PSNR(frames[1], marked[1]) < 50.0
    out = tmp_path / "stream.mp4"
    with ClipWriter(out, width=frames[0].shape[1], height=frames[0].shape[0], fps=demo_scene.fps, crf=23,
                    preset="veryfast") as writer:
        for frame in marked:
            writer.write(frame)
    detection = detect_clip(out, WATERMARK_SECRET)
    assert detection.found and detection.watermark_id == WATERMARK_ID
