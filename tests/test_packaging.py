"""The environment `make` builds: one cv2, a clean `pip check`, no generic top-level packages."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from zaobot import wording


def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_exactly_one_opencv_distribution():
    names = {d.metadata["Name"].lower() for d in metadata.distributions()}
    opencv = sorted(n for n in names if n.startswith("opencv"))
    assert opencv == ["opencv-contrib-python"], opencv


def test_no_torch_and_no_generic_top_level_packages():
    names = {d.metadata["Name"].lower() for d in metadata.distributions()}
    assert "torch" not in names
    top = metadata.distribution("zaobot").read_text("top_level.txt")
    site = Path(metadata.distribution("mediapipe").locate_file(""))
    for generic in ("models", "storage", "handlers"):
        assert not (site / generic).exists()
    assert top is None or set(top.split()) <= {"zaobot"}


def test_every_message_has_english_and_chinese():
    for key in wording.keys():
        assert wording.languages_of(key) == {"en", "zh"}, key


def test_bundled_demo_assets_exist():
    from zaobot.config import BUNDLED_ASSETS_DIR, BUNDLED_SCENES_DIR

    assert (BUNDLED_ASSETS_DIR / "demo_selfie.jpg").stat().st_size > 10_000
    for name in ("scene.json", "clip.mp4", "analysis.npz"):
        assert (BUNDLED_SCENES_DIR / "demo" / name).is_file()


def _project() -> dict:
    import tomllib

    return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]


def test_each_engine_extra_brings_what_the_engine_imports_at_run_time():
    """`pip install '.[gpu]'` alone must give a loadable inswapper: it imports onnx at load time."""
    from packaging.requirements import Requirement

    extras = _project()["optional-dependencies"]
    for name in ("cpu", "gpu"):
        names = {Requirement(r).name for r in extras[name]}
        assert "onnx" in names, f"the {name} extra lacks onnx"
        assert names & {"onnxruntime", "onnxruntime-gpu"}


def test_dependency_lower_bounds_have_the_apis_we_call():
    from packaging.requirements import Requirement
    from packaging.version import Version

    deps = {Requirement(r).name: Requirement(r) for r in _project()["dependencies"]}
    sqlite_utils = deps["sqlite-utils"]
    assert not sqlite_utils.specifier.contains("3.99"), "db.atomic() needs sqlite-utils 4.0"
    import sqlite_utils as su

    assert hasattr(su.Database, "atomic") and Version(metadata.version("sqlite-utils")) >= Version("4.0")
