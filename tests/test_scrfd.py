"""SCRFD decoding (insightface's det_10g layout) and its use in scene pre-analysis."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from zaobot.media import scenes as sc
from zaobot.models.scrfd import ScrfdDetector, anchor_centres, load_detector

from tests.standin import build_scrfd

# One face at the stride-8 cell (x=40, y=22) of a 640 input, i.e. centre (640, 352) in a 1280x720 frame.
CELL = 22 * 80 + 40
DIST = [10.0, 12.0, 10.0, 14.0]
KPS = [-4.0, -3.0, 4.0, -3.0, 0.0, 1.0, -3.0, 5.0, 3.0, 5.0]
SCALE = 1280 / 640


def expected_box_and_kps():
    centre = np.array([40 * 8, 22 * 8], np.float32)
    box = np.concatenate([centre - np.array(DIST[:2]) * 8, centre + np.array(DIST[2:]) * 8]) * SCALE
    kps = (centre + np.array(KPS, np.float32).reshape(5, 2) * 8) * SCALE
    return box, kps


def test_anchor_layout_matches_insightface():
    centres = anchor_centres(8)
    assert centres.shape == (80 * 80 * 2, 2)
    assert np.array_equal(centres[:4], [[0, 0], [0, 0], [8, 0], [8, 0]])  # two anchors per cell, x fastest


def test_decode_and_scale_back_to_the_frame(tmp_path):
    path = build_scrfd(tmp_path / "buffalo_l" / "det_10g.onnx",
                       [(8, CELL, 1, DIST, KPS, 0.9), (8, CELL + 1, 0, DIST, KPS, 0.8),  # overlapping: NMS keeps 1
                        (32, 5, 0, [1, 1, 1, 1], [0] * 10, 0.3)])  # below threshold
    detector = ScrfdDetector(path, tmp_path / "cache")
    found = detector.detect(np.zeros((720, 1280, 3), np.uint8))
    assert len(found) == 1 and abs(found[0].score - 0.9) < 1e-6
    box, kps = expected_box_and_kps()
    np.testing.assert_allclose(found[0].box, box, atol=1e-3)
    np.testing.assert_allclose(found[0].keypoints, kps, atol=1e-3)


def test_scene_analysis_keeps_scrfd_keypoints(tmp_path, short_clip):
    models = tmp_path / "models"
    # Put the fake face where the real one is in the clip's first frame, so the tracks agree.
    clip_analysis = sc.analyse_frames(sc.read_frames(short_clip))
    from zaobot.models.topology import five_keypoints

    kps0 = five_keypoints(clip_analysis.landmarks[0])
    centre = kps0.mean(axis=0) / SCALE
    cell = (int(centre[1] // 8)) * 80 + int(centre[0] // 8)
    cx, cy = (cell % 80) * 8, (cell // 80) * 8
    offsets = ((kps0 / SCALE - [cx, cy]) / 8).reshape(-1).tolist()
    build_scrfd(models / "buffalo_l" / "det_10g.onnx", [(8, cell, 0, [8, 8, 8, 8], offsets, 0.95)])
    detector = load_detector(models, tmp_path / "cache")
    assert detector is not None
    scene = sc.add_scene(short_clip, tmp_path / "scenes", keywords=["kp"], detector=detector)
    analysis = scene.analysis
    assert analysis.keypoints is not None and analysis.keypoints_present.all()
    np.testing.assert_allclose(analysis.keypoints_at(0), kps0, atol=0.5)
    assert '"detector": "scrfd+mediapipe"' in (scene.directory / "scene.json").read_text()
    # Without SCRFD keypoints, the mesh's five points are used.
    plain = sc.SceneAnalysis(landmarks=analysis.landmarks, present=analysis.present)
    np.testing.assert_allclose(plain.keypoints_at(3), five_keypoints(analysis.landmarks[3]))


def test_cli_refuses_scrfd_when_missing(tmp_path, short_clip):
    env = {**os.environ, "ZAOBOT_DATA_DIR": str(tmp_path / "data"), "ZAOBOT_MODELS_DIR": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "zaobot", "scenes", "add", str(short_clip), "-k", "x",
                             "--detector", "scrfd"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "det_10g.onnx" in result.stderr
