"""What runs inside a render worker process. The engine is loaded, and warmed up, once per process."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path

from zaobot.config import Settings
from zaobot.jobs.warmup import WarmReport, warm_up
from zaobot.media.scenes import ANALYSIS, Scene, SceneLibrary
from zaobot.models import Engine, create_engine
from zaobot.pipeline import RenderOptions, RenderOutcome, render_selfie
from zaobot.storage.db import connect
from zaobot.storage.jobs import JobStatus, current_status
from zaobot.storage.media import MediaStore


class JobCancelled(Exception):
    """The job was cancelled (e.g. by /delete) while rendering."""


# What a worker sends its parent: (job id, frames done, frames total) while rendering, and one
# WarmReport when it has warmed up.
Message = tuple[str, int, int] | WarmReport


class SceneCache:
    """Scenes as loaded by this worker, so each scene's analysis is read from disk once per process,
    not once per job. A scene whose clip or analysis changed on disk is loaded afresh."""

    def __init__(self, library: SceneLibrary) -> None:
        self.library = library
        self._scenes: dict[Path, tuple[tuple[str, int], Scene]] = {}

    def find(self, keyword: str) -> Scene:
        """The scene for `keyword` (raises UnknownScene), reusing the one already in memory."""
        return self._cached(self.library.find(keyword))

    def all(self) -> list[Scene]:
        return [self._cached(scene) for scene in self.library.scenes()]

    def _cached(self, scene: Scene) -> Scene:
        try:
            stamp = (scene.clip_sha256, (scene.directory / ANALYSIS).stat().st_mtime_ns)
        except OSError:
            return scene  # no analysis: loading it fails in the job, with the scene's own error
        held = self._scenes.get(scene.directory)
        if held is None or held[0] != stamp:
            held = self._scenes[scene.directory] = (stamp, scene)
        return held[1]


@dataclass
class _Worker:
    settings: Settings
    secret: str
    options: RenderOptions
    engine: Engine
    media: MediaStore
    scenes: SceneCache
    progress: Queue[Message] | None
    warm: WarmReport | None = None


# Per-process state of a pool worker, set once by `init_worker` (the pool's initializer).
_worker: _Worker | None = None


PARENT_CHECK_S = 1.0  # how often a render worker checks that `zaobot serve` is still its parent


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone. A pool worker blocks on its call queue and never
    notices a `zaobot serve` killed with -9: it stayed behind, holding its engine (about 400 MB)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def init_worker(settings: Settings, secret: str, progress: Queue[Message] | None) -> None:
    """Load the engine and warm up before the process takes its first job: a job submitted
    meanwhile waits in the pool's queue, and the event loop is never involved."""
    global _worker
    os.nice(settings.render_nice)  # the chat before the render, when they share the CPU
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="zaobot-parent-watch", daemon=True).start()
    _worker = _Worker(settings=settings, secret=secret, options=RenderOptions.from_settings(settings, secret),
                      engine=create_engine(settings),
                      media=MediaStore(settings.data_dir / "media", secret),
                      scenes=SceneCache(SceneLibrary(settings.scene_dirs)), progress=progress)
    _worker.warm = warm_up(_worker.engine, _worker.scenes.all(), settings, secret, _worker.media.scratch)
    if progress is not None:
        progress.put(_worker.warm)


def ready() -> int:
    """A no-op job: submitting one per worker makes the pool start its processes now, not at the first job."""
    return os.getpid()


def render_job(job_id: str, selfie_file: str, scene_keyword: str, watermark_id: str | None = None) -> RenderOutcome:
    """Render one job to a private temp file; the caller stores (encrypts) and deletes it."""
    w = _worker
    if w is None:
        raise RuntimeError("worker not initialised")
    db = connect(w.settings.data_dir)
    try:
        def still_wanted() -> bool:
            return current_status(db, job_id) == JobStatus.RUNNING

        scene = w.scenes.find(scene_keyword)
        tmp = w.media.scratch.new_file(job_id)  # plaintext until the runner encrypts it
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if done % 10 == 0 and not still_wanted():
                raise JobCancelled(job_id)
            now = time.monotonic()
            if w.progress is not None and (now - last[0] > 0.5 or done == total):
                last[0] = now
                w.progress.put((job_id, done, total))

        try:
            return render_selfie(w.media.get(selfie_file), scene, w.engine, tmp, w.options, job_id=job_id,
                                 watermark_id=watermark_id, progress=progress)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        db.close()

