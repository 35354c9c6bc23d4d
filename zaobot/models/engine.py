"""The interface every swap engine implements, and the stage timer they report into."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np


class StageTimer:
    """Accumulates wall time per named stage (decode, swap, blend, label, encode)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds


class NullTimer(StageTimer):
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield


# What an engine builds from the selfie (MeshSource, InswapperSource): only that engine reads it.
SourceT = TypeVar("SourceT")


@runtime_checkable
class Engine(Protocol[SourceT]):
    """prepare_source(selfie) -> Source; swap_frame(frame, scene landmarks, source) -> frame.

    Generic over the engine's own source type, so that swap_frame takes what prepare_source made;
    a bare `Engine` (the engine is chosen at run time) is an `Engine[Any]`."""

    name: str

    def prepare_source(self, selfie: np.ndarray) -> SourceT:
        """Validate the selfie's face and build what rendering needs; raises SelfieError."""
        ...

    def swap_frame(
        self, frame: np.ndarray, landmarks: np.ndarray | None, source: SourceT, timer: StageTimer
    ) -> np.ndarray:
        """One scene frame (H, W, 3) uint8 with the source face swapped onto `landmarks`."""
        ...

    def close(self) -> None:
        ...
