"""What runs inside a render worker process. The engine is loaded once per process."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path

from zaobot.config import Settings
from zaobot.media.provenance import sign_in_place
from zaobot.media.scenes import SceneLibrary
from zaobot.models import Engine, create_engine
from zaobot.pipeline import swap_selfie
from zaobot.storage.db import connect
from zaobot.storage.media import MediaStore


class JobCancelled(Exception):
    """The job was cancelled (e.g. by /delete) while rendering."""


@dataclass
class _Worker:
    settings: Settings
    secret: str
    engine: Engine
    media: MediaStore
    library: SceneLibrary
    progress: "Queue[tuple[str, int, int]] | None"


# Per-process state of a pool worker, set once by `init_worker` (the pool's initializer).
_worker: _Worker | None = None


def init_worker(settings: Settings, secret: str, progress: "Queue[tuple[str, int, int]] | None") -> None:
    global _worker
    _worker = _Worker(settings=settings, secret=secret, engine=create_engine(settings),
                      media=MediaStore(settings.data_dir / "media", secret),
                      library=SceneLibrary(settings.scene_dirs), progress=progress)


def render_job(job_id: str, selfie_file: str, scene_keyword: str, provider: str,
               watermark_id: str | None = None) -> dict[str, object]:
    """Render one job to a private temp file; the caller stores (encrypts) and deletes it."""
    w = _worker
    if w is None:
        raise RuntimeError("worker not initialised")
    db = connect(w.settings.data_dir)
    try:
        def still_wanted() -> bool:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", [job_id]).fetchone()
            return bool(row and row[0] == "running")

        scene = w.library.find(scene_keyword)
        fd, tmp = tempfile.mkstemp(suffix=".mp4", prefix="zaobot-out-", dir=_tmp_dir(w.settings))
        os.close(fd)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if done % 10 == 0 and not still_wanted():
                raise JobCancelled(job_id)
            now = time.monotonic()
            if w.progress is not None and (now - last[0] > 0.5 or done == total):
                last[0] = now
                w.progress.put((job_id, done, total))

        start = time.perf_counter()
        try:
            result = swap_selfie(w.media.get(selfie_file), scene, w.engine, Path(tmp),
                                 max_bytes=w.settings.max_upload_bytes, max_pixels=w.settings.max_image_pixels,
                                 job_id=job_id, provider=provider, crf=w.settings.video_crf,
                                 preset=w.settings.video_preset, progress=progress, watermark_id=watermark_id,
                                 secret=w.secret)
            sign_in_place(Path(tmp), job_id, w.settings)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return {"path": tmp, "frames": result.frames, "seconds": time.perf_counter() - start,
                "width": scene.width, "height": scene.height, "duration": scene.duration}
    finally:
        db.close()


def _tmp_dir(settings: Settings) -> str:
    path = settings.data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return str(path)
