"""The live check's worker process: owns the analysers, answers `prepare` and `check` calls.

A process of its own, not a thread of the bot: dlib holds the GIL for the whole 150 ms of a
descriptor, which would stall the event loop; and not the render pool, where a check would
wait behind a render while the user waits for an answer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from zaobot.challenge import Action
from zaobot.config import BUNDLED_ASSETS_DIR
from zaobot.jobs.worker import _exit_with_parent
from zaobot.models.live_check import LiveCheck
from zaobot.models.liveness import Verdict

_check: LiveCheck | None = None


def init_live_worker() -> None:
    """Build the analysers and run them once (on the bundled demo selfie), before the first call."""
    global _check
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="zaobot-parent-watch", daemon=True).start()
    _check = LiveCheck()
    _check.prepare("warm-up", (BUNDLED_ASSETS_DIR / "demo_selfie.jpg").read_bytes())


def _live() -> LiveCheck:
    global _check
    if _check is None:
        _check = LiveCheck()
    return _check


def prepare(key: str, selfie: bytes) -> None:
    _live().prepare(key, selfie)


def check(video: bytes, selfie: bytes, actions: Sequence[Action], key: str | None) -> Verdict:
    return _live().check(video, selfie, actions, key)


def method() -> str:
    return LiveCheck.method
