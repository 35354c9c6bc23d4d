"""Shared fixtures: real images, the bundled scene, and one real render reused by many tests."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

# The suite written before the live check runs with it off, which is how it proves that
# ZAOBOT_LIVENESS=off behaves as before; tests/test_liveness*.py turn it on where they need it.
# Set in the environment so that the `zaobot serve` processes the tests start inherit it too.
os.environ.setdefault("ZAOBOT_LIVENESS", "off")

ROOT = Path(__file__).resolve().parents[1]
WATERMARK_ID = "5a0b07c0ffee1234"
WATERMARK_SECRET = "watermark-test-secret-" + "k" * 30


def load_script(name: str):
    """Import a module from scripts/ (it is not part of the installed package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def jpeg_bytes(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    from zaobot.config import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("data"), engine="mesh")


@pytest.fixture(scope="session")
def engine(settings):
    from zaobot.models import create_engine

    eng = create_engine(settings)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def demo_scene(settings):
    from zaobot.media.scenes import SceneLibrary

    return SceneLibrary(settings.scene_dirs).find("demo")


@pytest.fixture(scope="session")
def demo_selfie_bytes() -> bytes:
    from zaobot.config import BUNDLED_ASSETS_DIR

    return (BUNDLED_ASSETS_DIR / "demo_selfie.jpg").read_bytes()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, settings, engine, demo_scene, demo_selfie_bytes):
    """The demo selfie rendered into the demo scene, once for the whole session."""
    from zaobot.pipeline import swap_selfie

    out = tmp_path_factory.mktemp("render") / "demo.mp4"
    result = swap_selfie(demo_selfie_bytes, demo_scene, engine, out, max_bytes=settings.max_upload_bytes,
                         max_pixels=settings.max_image_pixels, provider="zaobot-test",
                         watermark_id=WATERMARK_ID, secret=WATERMARK_SECRET)
    return result


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> Path:
    """A 1.2 s 1280x720 clip with audio, made like the demo scene (for `scenes add` tests)."""
    assets = load_script("make_demo_assets")
    path = tmp_path_factory.mktemp("clips") / "short.mp4"
    assets.write_source_clip(path, seconds=1.2)
    return path
