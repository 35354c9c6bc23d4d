"""Selfie validation off the event loop, on one dedicated thread that owns its face analyser."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from zaobot.config import BUNDLED_ASSETS_DIR, Settings
from zaobot.media.images import decode_image, without_metadata
from zaobot.models import Engine
from zaobot.models.mesh import MeshEngine

log = logging.getLogger(__name__)

DEMO_SELFIE = BUNDLED_ASSETS_DIR / "demo_selfie.jpg"


class SelfieChecker:
    """Runs the engine's own selfie validation (`prepare_source`), whose SelfieErrors reach the user.

    `engine_factory` builds the analyser on the checker's thread (default: the mesh engine);
    tests pass their own."""

    def __init__(self, settings: Settings, engine_factory: Callable[[], Engine] | None = None) -> None:
        self._settings = settings
        self._factory = engine_factory or (lambda: MeshEngine(min_face_px=settings.min_face_px, find_hair=False))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zaobot-selfie")
        self._local = threading.local()

    def _engine(self) -> Engine:
        engine = getattr(self._local, "engine", None)
        if engine is None:  # mediapipe graphs are per thread; this pool has exactly one
            engine = self._local.engine = self._factory()
        return engine

    def _check(self, data: bytes) -> bytes:
        engine = self._engine()
        rgb = decode_image(data, max_bytes=self._settings.max_upload_bytes,
                           max_pixels=self._settings.max_image_pixels)
        engine.prepare_source(rgb)
        return without_metadata(rgb)

    async def check(self, data: bytes) -> bytes:
        """Raise the specific SelfieError for a bad selfie; for a usable one, return what may be
        stored: its pixels re-encoded, upright, with every byte of metadata (EXIF GPS, serials) gone."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._check, data)

    def _warm(self) -> float:
        start = time.perf_counter()
        self._check(DEMO_SELFIE.read_bytes())
        return time.perf_counter() - start

    async def warm(self) -> float | None:
        """Build the analyser and run it once on the bundled demo selfie, at start-up, so the
        first user's selfie isn't the one that pays for creating and first running the face graphs.
        Selfies sent meanwhile wait behind it on the checker's thread. Returns the seconds taken,
        or None when it failed (checks then build the analyser themselves, as before)."""
        try:
            seconds = await asyncio.get_running_loop().run_in_executor(self._pool, self._warm)
        except Exception:  # noqa: BLE001 - warming is an optimisation, never a reason to stop
            log.warning("selfie checker could not warm up", exc_info=True)
            return None
        log.info("selfie checker warm in %.1f s", seconds)
        return seconds

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
