"""The command line as an operator uses it, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from zaobot.media.video import probe


def run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "zaobot", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def test_scenes_add_list_and_swap(tmp_path, short_clip, demo_selfie_bytes):
    env = {"ZAOBOT_DATA_DIR": str(tmp_path / "data"), "ZAOBOT_ENGINE": "mesh"}
    added = run("scenes", "add", str(short_clip), "--keyword", "Titanic", "--title", "Bow", "--license", "CC0",
                env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "data" / "scenes" / "titanic" / "analysis.npz").is_file()

    listed = run("scenes", "list", env=env, cwd=tmp_path)
    assert "titanic" in listed.stdout and "demo" in listed.stdout

    selfie = tmp_path / "me.jpg"
    selfie.write_bytes(demo_selfie_bytes)
    out = tmp_path / "out.mp4"
    swapped = run("swap", str(selfie), "--scene", "TITANIC", "-o", str(out), env=env, cwd=tmp_path)
    assert swapped.returncode == 0, swapped.stderr
    info = probe(out)
    assert info.frames == 30 and info.video_codec == "h264" and info.audio_codec == "aac"


def test_bad_selfie_gets_a_friendly_error(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    result = run("swap", str(bad), "-o", str(tmp_path / "x.mp4"), cwd=tmp_path)
    assert result.returncode == 2
    assert "isn't a photo" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_unknown_scene_lists_choices_in_chinese(tmp_path, demo_selfie_bytes):
    selfie = tmp_path / "me.jpg"
    selfie.write_bytes(demo_selfie_bytes)
    result = run("swap", str(selfie), "--scene", "jaws", "--lang", "zh", cwd=tmp_path)
    assert result.returncode == 2
    assert "jaws" in result.stderr and "demo" in result.stderr and "可用场景" in result.stderr


def test_scenes_refresh_reanalyses_a_stale_scene(tmp_path, short_clip):
    """An upgrade that adds to the analysis (v2: hands) leaves old caches stale: rendering refuses
    them with a pointer to `scenes refresh`, which analyses them again in place."""
    import numpy as np

    env = {"ZAOBOT_DATA_DIR": str(tmp_path / "data"), "ZAOBOT_ENGINE": "mesh"}
    assert run("scenes", "add", str(short_clip), "--keyword", "old", env=env, cwd=tmp_path).returncode == 0
    cache = tmp_path / "data" / "scenes" / "old" / "analysis.npz"
    with np.load(cache) as data:
        fields = {k: data[k] for k in data.files}
    fields.pop("hands")
    np.savez_compressed(cache, **{**fields, "version": 1})  # what an older release wrote

    listed = run("scenes", "list", env=env, cwd=tmp_path)
    assert "old" in listed.stdout  # listing never needs the analysis

    refreshed = run("scenes", "refresh", env=env, cwd=tmp_path)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "analysed 1 scene(s) again" in refreshed.stdout  # the bundled, current scenes are left alone
    with np.load(cache) as data:
        assert int(data["version"]) == 2 and data["hands"].shape[1:] == (2, 21, 2)


def test_the_log_scrubber_masks_secrets_in_messages_arguments_and_tracebacks():
    """`serve` installs it on the root handlers; whatever a library logs, no secret is written."""
    import io
    import logging

    from zaobot.redact import MASK, install

    token = "123456:AAFakeBotTokenForTheScrubber"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install([token, "short"])  # values under 6 characters are not scrubbed (they'd hit words)
        log = logging.getLogger("some.library")
        log.warning("POST https://api.telegram.org/bot%s/getUpdates", token)
        try:
            raise RuntimeError(f"bad url /bot{token}/x")
        except RuntimeError:
            log.exception("failed")
        log.warning("a short word stays")
    finally:
        root.removeHandler(handler)
    written = stream.getvalue()
    assert token not in written
    assert written.count(MASK) == 2
    assert "getUpdates" in written and "a short word stays" in written
