"""The live check, seen from the event loop: awaitable calls into its own worker process."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from zaobot.challenge import Action
from zaobot.jobs import live_worker
from zaobot.models.live_check import METHOD
from zaobot.models.liveness import Verdict

log = logging.getLogger(__name__)
T = TypeVar("T")
_SPAWN = multiprocessing.get_context("spawn")  # never fork a process that holds mediapipe's threads


class LiveChecker:
    """One worker process, started on first use (or by `warm`), restarted if it dies."""

    method = METHOD  # recorded with every result

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=_SPAWN, initializer=live_worker.init_live_worker)
        return self._pool

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), fn, *args)
        except BrokenProcessPool:  # the worker died (out of memory, killed): once more on a fresh one
            log.warning("live-check worker died; starting a new one")
            self._pool = None
            return await loop.run_in_executor(self._executor(), fn, *args)

    async def warm(self) -> None:
        """Start the worker and load its analysers now, not at the first user's recording."""
        await self._call(live_worker.method)

    async def prepare(self, key: str, selfie: bytes) -> None:
        """Describe the selfie while the user records (best effort: the check can do it itself)."""
        try:
            await self._call(live_worker.prepare, key, selfie)
        except Exception:  # noqa: BLE001 - an optimisation only
            log.warning("could not prepare a live check", exc_info=True)

    async def check(self, video: bytes, selfie: bytes, actions: Sequence[Action], key: str | None) -> Verdict:
        return await self._call(live_worker.check, video, selfie, tuple(actions), key)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
