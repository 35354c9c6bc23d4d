"""Thread policy for a render: one thread each for BLAS and OpenCV, restored afterwards.

A render is already a pipeline of threads (decode, swap, encode with x264's own threads),
and a worker process runs one render at a time. On top of that, numpy's OpenBLAS and
OpenCV each start a pool per call on arrays of a few thousand pixels, and OpenBLAS's
helpers spin-wait between calls: measured on 2 cores, the swap then cost twice its wall
time in CPU, taken from the encoder. With one thread each it costs exactly its wall time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2
from threadpoolctl import threadpool_limits


@contextmanager
def render_threads() -> Iterator[None]:
    """Run the block with single-threaded BLAS and OpenCV; the previous limits come back after it."""
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        cv2.setNumThreads(cv_threads)
