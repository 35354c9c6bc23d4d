"""The inswapper engine with tiny stand-in models of the same signatures (no real weights here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from onnx import load as onnx_load
from onnx import numpy_helper

from zaobot.config import Settings
from zaobot.media.images import decode_image
from zaobot.media.video import probe, read_frames
from zaobot.models import StageTimer, create_engine
from zaobot.models.align import align_matrix, crop
from zaobot.models.inswapper import InswapperEngine
from zaobot.models.onnx_session import ModelError
from zaobot.models.topology import five_keypoints

from tests.standin import build_arcface, build_models_dir

LIMITS = dict(max_bytes=10**8, max_pixels=10**8)


@pytest.fixture(scope="module")
def identity_dir(tmp_path_factory):
    return build_models_dir(tmp_path_factory.mktemp("identity"), "identity", batch=1)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_models_dir(tmp_path_factory.mktemp("tiny"), "tiny")


@pytest.fixture(scope="module")
def scene_frames(demo_scene):
    frames = list(read_frames(demo_scene.clip))[:20]
    return frames, [demo_scene.analysis.at(i) for i in range(20)]


def engine_for(models: Path, tmp_path: Path, **kw) -> InswapperEngine:
    return InswapperEngine(Settings(engine="inswapper", models_dir=models, data_dir=tmp_path), **kw)


def test_identity_model_reproduces_the_scene(identity_dir, tmp_path, scene_frames, demo_selfie_bytes):
    engine = engine_for(identity_dir, tmp_path)
    assert (identity_dir / "inswapper_128.batch.onnx").is_file()  # fixed batch re-exported once, cached
    assert engine.swapper.batch_ok
    source = engine.prepare_source(decode_image(demo_selfie_bytes, **LIMITS))
    frames, landmarks = scene_frames
    outs = list(engine.swap_stream(zip(frames, landmarks), source, StageTimer()))
    for frame, out, lm in zip(frames, outs, landmarks):
        x0, y0 = np.floor(lm.min(axis=0)).astype(int)
        x1, y1 = np.ceil(lm.max(axis=0)).astype(int)
        a = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float64)
        b = cv2.cvtColor(out[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float64)
        # Alignment and paste-back are exact inverses: no shift, and only the detail a 128 px crop
        # can't hold (the face is ~330 px wide here) is lost.
        (dx, dy), _ = cv2.phaseCorrelate(a, b)
        assert abs(dx) < 0.25 and abs(dy) < 0.25, (dx, dy)
        assert cv2.PSNR(frame[y0:y1, x0:x1], out[y0:y1, x0:x1]) > 33
        assert np.array_equal(frame[:, :100], out[:, :100]) and np.array_equal(frame[:, -100:], out[:, -100:])
    engine.close()


def test_batch_sizes_give_identical_frames(tiny_dir, tmp_path, scene_frames, demo_selfie_bytes):
    frames, landmarks = scene_frames
    results = []
    for batch in (1, 8):
        engine = engine_for(tiny_dir, tmp_path, batch_size=batch)
        source = engine.prepare_source(decode_image(demo_selfie_bytes, **LIMITS))
        results.append(list(engine.swap_stream(zip(frames, landmarks), source, StageTimer())))
        engine.close()
    assert all(np.array_equal(a, b) for a, b in zip(*results))
    # And the tiny model really changed the face.
    lm = landmarks[0]
    x0, y0 = np.floor(lm.min(axis=0)).astype(int)
    x1, y1 = np.ceil(lm.max(axis=0)).astype(int)
    assert cv2.PSNR(frames[0][y0:y1, x0:x1], results[0][0][y0:y1, x0:x1]) < 25


def test_emap_projection_matches_numpy_reference(tiny_dir, tmp_path, demo_selfie_bytes):
    engine = engine_for(tiny_dir, tmp_path)
    rgb = decode_image(demo_selfie_bytes, **LIMITS)
    latent = engine.prepare_source(rgb).latent
    # Reference: ArcFace on the aligned 112 crop, straight through onnxruntime, then numpy.
    from zaobot.models.landmarks import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        points = analyzer.landmarks(rgb, analyzer.detect(rgb)[0])
    aligned = crop(rgb, align_matrix(five_keypoints(points), 112), 112).astype(np.float32)
    blob = ((aligned - 127.5) / 127.5).transpose(2, 0, 1)[None]
    arc = ort.InferenceSession(str(tiny_dir / "buffalo_l" / "w600k_r50.onnx"), providers=["CPUExecutionProvider"])
    embedding = arc.run(None, {arc.get_inputs()[0].name: blob})[0][0]
    emap = numpy_helper.to_array(onnx_load(str(tiny_dir / "inswapper_128.onnx")).graph.initializer[-1])
    reference = (embedding / np.linalg.norm(embedding)) @ emap
    reference /= np.linalg.norm(reference)
    assert latent.shape == (1, 512)
    np.testing.assert_allclose(latent[0], reference, rtol=1e-4, atol=1e-5)
    engine.close()


def test_swap_end_to_end_through_the_cli(tiny_dir, tmp_path, demo_selfie_bytes, demo_scene):
    selfie = tmp_path / "me.jpg"
    selfie.write_bytes(demo_selfie_bytes)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "ZAOBOT_MODELS_DIR": str(tiny_dir), "ZAOBOT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "zaobot", "swap", str(selfie), "--scene", "demo", "-o", str(out),
                             "--engine", "inswapper"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "engine: inswapper on CPUExecutionProvider" in result.stderr
    info = probe(out)
    assert (info.video_codec, info.audio_codec, info.frames) == ("h264", "aac", 125)
    first = next(iter(read_frames(out)))
    scene = next(iter(read_frames(demo_scene.clip)))
    lm = demo_scene.analysis.landmarks[0]
    x0, y0 = np.floor(lm.min(axis=0)).astype(int)
    x1, y1 = np.ceil(lm.max(axis=0)).astype(int)
    assert cv2.PSNR(first[y0:y1, x0:x1], scene[y0:y1, x0:x1]) < 25  # the face was swapped


def test_clear_errors_and_auto_fallback(tmp_path, tiny_dir, caplog):
    missing = Settings(engine="inswapper", models_dir=tmp_path / "none", data_dir=tmp_path)
    with pytest.raises(ModelError, match="not found"):
        create_engine(missing)
    corrupt = tmp_path / "corrupt"
    build_arcface(corrupt / "buffalo_l" / "w600k_r50.onnx")
    (corrupt / "inswapper_128.onnx").write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        create_engine(Settings(engine="inswapper", models_dir=corrupt, data_dir=tmp_path))
    wrong = tmp_path / "wrong"
    build_arcface(wrong / "buffalo_l" / "w600k_r50.onnx")
    build_arcface(wrong / "inswapper_128.onnx")  # an ArcFace where the swapper should be
    with pytest.raises(ModelError, match="expected 2 inputs"):
        create_engine(Settings(engine="inswapper", models_dir=wrong, data_dir=tmp_path))
    # auto: unusable models -> the mesh engine, with a warning that says why.
    with caplog.at_level("WARNING"):
        engine = create_engine(Settings(engine="auto", models_dir=corrupt, data_dir=tmp_path))
    assert engine.name == "mesh" and "unusable" in caplog.text
    engine.close()
    engine = create_engine(Settings(engine="auto", models_dir=tiny_dir, data_dir=tmp_path))
    assert engine.name == "inswapper"
    engine.close()


def test_swapper_with_wrong_source_width_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    bad = tmp_path / "bad"
    build_arcface(bad / "buffalo_l" / "w600k_r50.onnx")
    t = helper.make_tensor_value_info("target", TensorProto.FLOAT, ["N", 3, 128, 128])
    s = helper.make_tensor_value_info("source", TensorProto.FLOAT, ["N", 256])
    o = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 128, 128])
    graph = helper.make_graph([helper.make_node("Identity", ["target"], ["output"])], "g", [t, s], [o])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(bad / "inswapper_128.onnx"))
    with pytest.raises(ModelError, match="source"):
        create_engine(Settings(engine="inswapper", models_dir=bad, data_dir=tmp_path))
