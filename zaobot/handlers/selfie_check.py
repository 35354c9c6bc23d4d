"""Selfie validation off the event loop, on one dedicated thread that owns its face analyser."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from zaobot.config import Settings
from zaobot.media.images import decode_image
from zaobot.models.mesh import MeshEngine


class SelfieChecker:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zaobot-selfie")
        self._local = threading.local()

    def _check(self, data: bytes) -> None:
        engine = getattr(self._local, "engine", None)
        if engine is None:  # mediapipe graphs are per thread; this pool has exactly one
            engine = self._local.engine = MeshEngine(min_face_px=self._settings.min_face_px)
        rgb = decode_image(data, max_bytes=self._settings.max_upload_bytes,
                           max_pixels=self._settings.max_image_pixels)
        engine.prepare_source(rgb)

    async def check(self, data: bytes) -> None:
        """Raise the specific SelfieError for a bad selfie; return for a usable one."""
        await asyncio.get_running_loop().run_in_executor(self._pool, self._check, data)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
