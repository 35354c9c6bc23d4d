"""Run the live check on one recording: decode in memory, track the face, judge, compare with the selfie.

`LiveCheck` owns the analysers (mediapipe graphs, dlib's networks). dlib holds the GIL while
it computes, so this runs in a worker process (handlers/live_checker.py), never beside the
event loop. Nothing is written to disk: the recording, the landmarks and the descriptors
live in this call's memory and are dropped with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from zaobot.challenge import Action
from zaobot.media.images import decode_image
from zaobot.media.video import UnreadableVideo, sample_frames
from zaobot.models.identity import FaceDescriber, distance
from zaobot.models.landmarks import FaceAnalyzer, MeshTracker
from zaobot.models.liveness import (
    FACE_PROBES,
    IDENTITY_MAX,
    IDENTITY_WORST,
    Sample,
    Verdict,
    identity_frames,
    judge_motion,
)
from zaobot.models.selfie_face import count_faces

ANALYSIS_FPS = 12.0  # a blink (150-300 ms) spans 2-4 samples
MAX_SECONDS = 15.0  # analysed from the start; the challenge asks for a few seconds
MAX_SIDE = 480  # a video note is 384-640 px square
METHOD = "mediapipe-mesh+dlib-resnet"
PREPARED_TTL_S = 180.0  # a prepared selfie descriptor is dropped after this (a challenge lasts 120 s)
PREPARED_MAX = 256


class LiveCheck:
    """Analysers for the live check, built once per worker process."""

    method = METHOD

    def __init__(self) -> None:
        self._describer = FaceDescriber()
        self._analyzer = FaceAnalyzer()
        # Selfie descriptors computed while the user records (`prepare`), in this process's memory
        # only, keyed by the challenge's random id; each is used once, or dropped after a few minutes.
        self._prepared: dict[str, tuple[float, np.ndarray | None]] = {}

    def prepare(self, key: str, selfie: bytes) -> None:
        """Describe the selfie now, so that the check itself costs only the recording's analysis."""
        now = time.monotonic()
        self._prepared = {k: v for k, v in self._prepared.items() if v[0] > now}
        while len(self._prepared) >= PREPARED_MAX:
            del self._prepared[next(iter(self._prepared))]
        self._prepared[key] = (now + PREPARED_TTL_S, self.selfie_descriptor(selfie))

    def _reference(self, key: str | None, selfie: bytes) -> np.ndarray | None:
        prepared = self._prepared.pop(key, None) if key else None
        if prepared is not None and prepared[0] > time.monotonic():
            return prepared[1]
        return self.selfie_descriptor(selfie)

    def samples(self, frames: Sequence[tuple[float, np.ndarray]]) -> list[Sample]:
        """The mesh on every frame (tracking one face: looking for a second on every frame would run the
        detector each time), and the face count from the detector on FACE_PROBES frames."""
        probes = set(np.round(np.linspace(0, len(frames) - 1, min(FACE_PROBES, len(frames)))).astype(int).tolist())
        out = []
        with MeshTracker(max_faces=1) as tracker:  # a fresh tracker per recording
            for i, ((t, rgb), faces) in enumerate(zip(frames, tracker.track(rgb for _, rgb in frames))):
                count = count_faces(self._analyzer.detect(rgb)) if i in probes else None
                out.append(Sample(t, faces[0] if faces else None, count))
        return out

    def selfie_descriptor(self, selfie: bytes) -> np.ndarray | None:
        rgb = decode_image(selfie, max_bytes=len(selfie) + 1, max_pixels=40_000_000)
        boxes = self._analyzer.detect(rgb)
        if count_faces(boxes) != 1:
            return None
        points = self._analyzer.landmarks(rgb, boxes[0])
        return None if points is None else self._describer.descriptor(rgb, points)

    def check(self, video: bytes, selfie: bytes, challenge: Sequence[Action], key: str | None = None) -> Verdict:
        """The verdict on `video` as proof that the person in `selfie` is present and did `challenge`
        (`key`: the challenge whose selfie was prepared, if it was)."""
        try:
            frames = sample_frames(video, fps=ANALYSIS_FPS, max_seconds=MAX_SECONDS, max_side=MAX_SIDE)
        except UnreadableVideo:
            return Verdict(False, "unreadable")
        samples = self.samples(frames)
        motion, m = judge_motion(samples, challenge)
        if not motion.passed or m is None:
            return motion
        scores = dict(motion.scores)
        present = [(s, rgb) for s, (_, rgb) in zip(samples, frames) if s.points is not None]
        picks = identity_frames([s for s, _ in present], m)
        reference = self._reference(key, selfie)
        if not picks or reference is None:
            return Verdict(False, "identity", scores)
        dists = []
        for i in picks:
            sample, rgb = present[i]
            assert sample.points is not None
            dists.append(distance(self._describer.descriptor(rgb, sample.points), reference))
        scores["identity_median"] = round(float(np.median(dists)), 3)
        scores["identity_worst"] = round(float(max(dists)), 3)
        if float(np.median(dists)) > IDENTITY_MAX or max(dists) > IDENTITY_WORST:
            return Verdict(False, "identity", scores)
        return Verdict(True, None, scores)

    def close(self) -> None:
        self._analyzer.close()
