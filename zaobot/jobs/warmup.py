"""Warm a render worker before its first job, so that the first user after start-up doesn't wait longer.

A fresh worker process pays a set of one-off costs: importing mediapipe, OpenCV and PyAV,
creating the face graphs and running them for the first time, loading each scene's landmark
cache, starting x264, numpy's and OpenCV's first calls. On 2 cores they added several seconds
to the first clip after `zaobot serve` (see benchmarks/first_clip.py). `warm_up` pays them all
at start-up by sending the bundled demo selfie through the real render path (selfie check,
swap, label, watermark, encode) for the first frames of a scene, into a temp file that is
deleted: nothing about any user is involved.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from zaobot.config import BUNDLED_ASSETS_DIR, Settings
from zaobot.media.scenes import Scene
from zaobot.models import Engine, StageTimer
from zaobot.pipeline import swap_selfie
from zaobot.storage.jobs import new_watermark_id
from zaobot.storage.scratch import Scratch

DEMO_SELFIE = BUNDLED_ASSETS_DIR / "demo_selfie.jpg"
WARM_SCENE = "demo"
WARM_FRAMES = 12  # enough for x264 to start encoding and every per-frame stage to run several times


@dataclass(frozen=True)
class WarmReport:
    """What one worker did to warm up; sent to the parent, which logs it."""

    pid: int
    seconds: float  # the warm-up itself (the process's imports and engine come before it)
    frames: int  # frames that went through the real render path
    scenes: tuple[str, ...]  # scenes whose analysis is now in memory
    stages: dict[str, float] = field(default_factory=dict)  # seconds per render stage
    errors: tuple[str, ...] = ()  # what could not be warmed (the worker still works)


class _Enough(Exception):
    """Stops the warm-up render after WARM_FRAMES frames."""


def warm_up(engine: Engine, scenes: list[Scene], settings: Settings, secret: str, scratch: Scratch) -> WarmReport:
    """Load every scene's analysis and render the first frames of one scene. Never raises:
    a worker that could not warm up still takes jobs (it is only slower on the first one)."""
    start = time.perf_counter()
    loaded: list[Scene] = []
    errors: list[str] = []
    for scene in scenes:
        try:
            scene.analysis  # noqa: B018 - a cached property: loads the landmark cache once
            loaded.append(scene)
        except Exception as exc:  # noqa: BLE001 - a broken scene fails its own jobs, not the worker
            errors.append(f"scene {scene.keyword}: {type(exc).__name__}: {exc}")
    timer = StageTimer()
    frames = 0
    target = next((s for s in loaded if WARM_SCENE in s.keywords), loaded[0] if loaded else None)
    if target is None:
        errors.append("no scene to render")
    else:
        try:
            frames = _render_start(engine, target, settings, secret, scratch, timer)
        except Exception as exc:  # noqa: BLE001 - see above
            errors.append(f"render: {type(exc).__name__}: {exc}")
    return WarmReport(pid=os.getpid(), seconds=time.perf_counter() - start, frames=frames,
                      scenes=tuple(s.keyword for s in loaded), stages=dict(timer.seconds), errors=tuple(errors))


def _render_start(engine: Engine, scene: Scene, settings: Settings, secret: str, scratch: Scratch,
                  timer: StageTimer) -> int:
    """Render the demo selfie into the first WARM_FRAMES frames of `scene`; returns the frames rendered."""
    done = [0]

    def progress(count: int, total: int) -> None:
        done[0] = count
        if count >= WARM_FRAMES:
            raise _Enough()

    tmp = scratch.new_file("warm")
    try:
        swap_selfie(DEMO_SELFIE.read_bytes(), scene, engine, tmp, max_bytes=settings.max_upload_bytes,
                    max_pixels=settings.max_image_pixels, job_id="warm-up", provider=settings.provider,
                    crf=settings.video_crf, preset=settings.video_preset, progress=progress, timer=timer,
                    watermark_id=new_watermark_id(), secret=secret)
    except _Enough:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return done[0]
