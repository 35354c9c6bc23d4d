"""Decode the rendered demo clip and check what a viewer and a platform would check."""

from __future__ import annotations

import json
import struct

import av
import cv2
import numpy as np
import pytest

from zaobot.media.label import burn_label, make_label
from zaobot.media.video import probe, read_frames
from zaobot.media.watermark import apply_mark, make_mark
from zaobot.models.landmarks import face_width
from zaobot.models.masks import frame_masks

from tests.conftest import WATERMARK_ID, WATERMARK_SECRET


def marked(frame: np.ndarray) -> np.ndarray:
    """A scene frame as the renderer leaves it outside the face: with the invisible mark."""
    mark = make_mark(WATERMARK_ID, WATERMARK_SECRET, frame.shape[1], frame.shape[0])
    return apply_mark(frame.copy(), mark)


def top_level_boxes(path) -> list[str]:
    boxes = []
    with open(path, "rb") as fh:
        while header := fh.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
                fh.seek(size - 16, 1)
            else:
                fh.seek(size - 8, 1)
            boxes.append(kind.decode("latin-1"))
            if size == 0:
                break
    return boxes


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def frames(rendered, demo_scene):
    out = list(read_frames(rendered.path))
    scene = list(read_frames(demo_scene.clip))
    return out, scene


def test_container_codecs_and_duration(rendered, demo_scene):
    info = probe(rendered.path)
    assert info.video_codec == "h264"
    assert info.audio_codec == "aac"
    assert info.pix_fmt == "yuv420p"
    assert (info.width, info.height) == (1280, 720)
    assert info.frames == demo_scene.frames == 125
    assert abs(info.frames / float(info.fps) - demo_scene.duration) < 1e-6
    assert abs(info.duration - demo_scene.duration) <= 1 / float(demo_scene.fps) + 1e-3
    assert rendered.path.stat().st_size < 10 * 1024 * 1024


def test_faststart_moov_before_mdat(rendered):
    boxes = top_level_boxes(rendered.path)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")


def test_audio_is_the_scenes_audio_in_sync(rendered, demo_scene):
    def packets(path):
        with av.open(str(path)) as c:
            s = c.streams.audio[0]
            return [(p.pts, bytes(p)) for p in c.demux(s) if p.size], float(s.time_base)

    out, tb_out = packets(rendered.path)
    src, tb_src = packets(demo_scene.clip)
    assert len(out) >= len(src) - 2
    # Passed through bit for bit, at the same times.
    for (pts_o, data_o), (pts_s, data_s) in zip(out, src):
        assert data_o == data_s
        assert abs(pts_o * tb_out - pts_s * tb_src) < 1e-3


def test_aigc_metadata_tag(rendered):
    tags = probe(rendered.path).metadata
    label = json.loads(tags["comment"])
    assert label["AIGC"]["Label"] == 1
    assert label["AIGC"]["ProduceID"] == rendered.job_id
    assert label["AIGC"]["ContentProducer"] == "zaobot-test"


def test_visible_label_in_opening_two_seconds_and_throughout(rendered, demo_scene, frames):
    out, scene = frames
    label = make_label((demo_scene.width, demo_scene.height), demo_scene.analysis.face_boxes())
    assert label.box == rendered.label_box
    x0, y0, x1, y1 = label.box
    for i in list(range(0, 50, 5)) + [len(out) - 1]:
        expected = marked(burn_label(scene[i].copy(), label))[y0:y1, x0:x1]
        got = out[i][y0:y1, x0:x1]
        assert psnr(got, expected) > 30, f"label missing in frame {i}"
        assert psnr(got, scene[i][y0:y1, x0:x1]) < 20, f"frame {i} label region looks unlabelled"
        # White text pixels exist in the label box.
        assert (got.min(axis=2) > 200).sum() > 500


def test_label_does_not_cover_the_face(rendered, demo_scene):
    x0, y0, x1, y1 = rendered.label_box
    for fx0, fy0, fx1, fy1 in demo_scene.analysis.face_boxes():
        assert fx1 <= x0 or fx0 >= x1 or fy1 <= y0 or fy0 >= y1


def test_face_swapped_and_rest_of_frame_untouched(demo_scene, frames, rendered):
    out, scene = frames
    x0, y0, x1, y1 = rendered.label_box
    for i in (0, 31, 62, 93, 124):
        lm = demo_scene.analysis.landmarks[i]
        masks = frame_masks(lm, (720, 1280), 1.0, face_width(lm), mouth_from_scene=False, eyes_from_scene=False)
        inside = masks.sharp > 0.5
        diff = np.abs(out[i].astype(np.int16) - scene[i].astype(np.int16)).max(axis=2)
        assert diff[inside].mean() > 8, f"face not swapped in frame {i}"
        # Outside the (dilated) face oval and the label, the frame is the scene's.
        hull = np.zeros((720, 1280), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm).astype(np.int32)), 255)
        outside = cv2.dilate(hull, np.ones((15, 15), np.uint8)) == 0
        outside[y0:y1, x0:x1] = False
        assert psnr(out[i][outside], marked(scene[i])[outside]) > 35


def test_selfie_face_paint_shows_in_the_output(demo_scene, frames):
    """The demo selfie has a blue dot on the subject's right cheek (landmark 50)."""
    out, scene = frames
    for i in (10, 70):
        cx, cy = np.round(demo_scene.analysis.landmarks[i][50]).astype(int)
        patch_out = out[i][cy - 6:cy + 7, cx - 6:cx + 7].reshape(-1, 3).astype(float).mean(axis=0)
        patch_scene = scene[i][cy - 6:cy + 7, cx - 6:cx + 7].reshape(-1, 3).astype(float).mean(axis=0)
        # Blue dominates red on the painted cheek; on the scene's bare skin red dominates.
        assert patch_out[2] - patch_out[0] > 10
        assert patch_scene[0] - patch_scene[2] > 15


def test_swapped_face_tracks_scene_face_without_jitter(demo_scene, frames):
    from zaobot.models.landmarks import MeshTracker

    out, _ = frames
    stable = [33, 133, 263, 362, 1, 61, 291, 168, 152]
    with MeshTracker(max_faces=1) as tracker:
        detected = [faces[0][stable] if faces else None for faces in tracker.track(out)]
    assert sum(d is not None for d in detected) >= 120
    scene_lm = demo_scene.analysis.landmarks[:, stable]
    width = float(np.ptp(demo_scene.analysis.landmarks[0][:, 0]))
    residual = np.array([(d - s).mean(axis=0) for d, s in zip(detected, scene_lm) if d is not None])
    # Where the swapped face is found, it sits where the scene's face is.
    assert np.abs(residual).max() < 0.05 * width
    jitter = np.sqrt(np.mean(np.sum(np.diff(residual, axis=0) ** 2, axis=1)))
    motion = np.sqrt(np.mean(np.sum(np.diff(scene_lm.mean(axis=1), axis=0) ** 2, axis=1)))
    print(f"residual jitter {jitter:.2f} px, scene motion {motion:.2f} px/frame")
    assert jitter < motion, (jitter, motion)
    assert jitter < 1.5


def test_a_render_runs_single_threaded_numerics_and_restores_the_limits_after():
    import cv2
    from threadpoolctl import threadpool_info

    from zaobot.threads import render_threads

    before_cv = cv2.getNumThreads()
    before_blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    with render_threads():
        assert cv2.getNumThreads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    assert cv2.getNumThreads() == before_cv
    assert [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] == before_blas


def test_a_clip_being_written_is_owner_only(tmp_path):
    import numpy as np

    from zaobot.media.video import ClipWriter

    out = tmp_path / "clip.mp4"
    with ClipWriter(out, width=64, height=64, fps=25, crf=23, preset="veryfast") as writer:
        parts = list(tmp_path.glob(".clip.mp4.*.part"))
        assert len(parts) == 1 and (parts[0].stat().st_mode & 0o777) == 0o600  # plaintext media: 0600 at once
        writer.write(np.zeros((64, 64, 3), np.uint8))
    assert out.is_file() and not list(tmp_path.glob("*.part"))


def test_frames_converted_before_the_encoders_thread_encode_the_same(tmp_path, demo_scene):
    """The render converts each frame to YUV on its own thread (ClipWriter.to_frame), off the encoder's,
    which is the render's bottleneck: the clip must come out exactly as if the encoder had converted."""
    from zaobot.media.video import ClipWriter

    frames = [f for _, f in zip(range(20), read_frames(demo_scene.clip))]
    clips = []
    for name, convert in (("direct", False), ("converted", True)):
        out = tmp_path / f"{name}.mp4"
        with ClipWriter(out, width=demo_scene.width, height=demo_scene.height, fps=demo_scene.fps, crf=23,
                        preset="veryfast") as writer:
            for frame in frames:
                writer.write(writer.to_frame(frame) if convert else frame)
        clips.append(np.stack(list(read_frames(out))))
    assert clips[0].shape == (20, demo_scene.height, demo_scene.width, 3)
    assert np.array_equal(clips[0], clips[1])
