"""Scene analysis: the face to replace followed through a clip, and the hands in front of it.

Runs once, when a scene is added (`zaobot scenes add`), never per request. The face mesh
runs in tracking mode over every frame; the chosen face is followed, short gaps are
filled and the landmarks smoothed with a zero-lag Savitzky-Golay filter. The hands
(mediapipe's hand landmarks, bundled in its wheel) are kept per frame, unsmoothed:
where an actor's hand passes in front of the face, the scene's hand must stay on top of
the swapped face, or it shows through it as a ghost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.signal import savgol_filter

ANALYSIS_VERSION = 2  # 2: hands
MAX_GAP_FRAMES = 12  # longer gaps are left unswapped rather than invented
SMOOTH_WINDOW = 9
SMOOTH_ORDER = 2
MAX_HANDS = 2

FacePick = Literal["largest", "left", "right"]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class SceneAnalysis:
    """Per-frame landmarks of the face to replace (smoothed), and where it is absent.

    When the operator has SCRFD, its 5 keypoints are kept too (better on profiles and small
    faces); engines that align on 5 points (inswapper) prefer them.
    """

    landmarks: np.ndarray  # float32 (T, 478, 2)
    present: np.ndarray  # bool (T,)
    keypoints: np.ndarray | None = None  # float32 (T, 5, 2) from SCRFD
    keypoints_present: np.ndarray | None = None  # bool (T,)
    hands: np.ndarray | None = None  # float32 (T, MAX_HANDS, 21, 2), NaN where no hand

    def hands_at(self, index: int) -> np.ndarray | None:
        """The hands seen in frame `index`, (k, 21, 2), or None when there are none."""
        if self.hands is None or index >= len(self.hands):
            return None
        seen = self.hands[index][~np.isnan(self.hands[index][:, 0, 0])]
        return seen if len(seen) else None

    def at(self, index: int) -> np.ndarray | None:
        if index >= len(self.present) or not self.present[index]:
            return None
        return self.landmarks[index]

    def keypoints_at(self, index: int) -> np.ndarray | None:
        """The 5 alignment keypoints of frame `index`: SCRFD's when available, else from the mesh."""
        if self.keypoints is not None and self.keypoints_present is not None and index < len(self.keypoints_present) \
                and self.keypoints_present[index]:
            return self.keypoints[index]
        landmarks = self.at(index)
        if landmarks is None:
            return None
        from zaobot.models.topology import five_keypoints

        return five_keypoints(landmarks)

    def face_boxes(self) -> list[tuple[int, int, int, int]]:
        """Bounding box of the face in every frame where it is present."""
        pts = self.landmarks[self.present]
        if len(pts) == 0:
            return []
        lo = np.floor(pts.min(axis=1)).astype(int)
        hi = np.ceil(pts.max(axis=1)).astype(int)
        return [(int(a[0]), int(a[1]), int(b[0]), int(b[1])) for a, b in zip(lo, hi)]


def _pick_first(faces: list[np.ndarray], how: FacePick) -> np.ndarray:
    if how == "left":
        return min(faces, key=lambda f: float(f[:, 0].mean()))
    if how == "right":
        return max(faces, key=lambda f: float(f[:, 0].mean()))
    return max(faces, key=lambda f: float(np.ptp(f[:, 0]) * np.ptp(f[:, 1])))


def follow_face(per_frame: list[list[np.ndarray]], how: FacePick = "largest") -> tuple[np.ndarray, np.ndarray]:
    """One face track through the clip: (landmarks (T, 478, 2), found (T,)).

    The first face is chosen by `how`; after that, the face nearest to where the
    track was last seen, so a second actor never takes over the track.
    """
    count = len(per_frame)
    shape = next((faces[0].shape for faces in per_frame if faces), (478, 2))
    track = np.zeros((count, *shape), np.float32)
    found = np.zeros(count, bool)
    last: np.ndarray | None = None
    for i, faces in enumerate(per_frame):
        if not faces:
            continue
        if last is None:
            chosen = _pick_first(faces, how)
        else:
            centre = last.mean(axis=0)
            chosen = min(faces, key=lambda f: float(np.linalg.norm(f.mean(axis=0) - centre)))
            if np.linalg.norm(chosen.mean(axis=0) - centre) > 0.6 * float(np.ptp(last[:, 0])):
                continue
        track[i] = chosen
        found[i] = True
        last = chosen
    return track, found


def fill_gaps(track: np.ndarray, found: np.ndarray, max_gap: int = MAX_GAP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate short gaps (and hold at the ends); longer gaps stay absent."""
    track = track.copy()
    present = found.copy()
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return track, present
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            for k in range(1, gap + 1):
                t = k / (gap + 1)
                track[a + k] = (1 - t) * track[a] + t * track[b]
                present[a + k] = True
    first, last = idx[0], idx[-1]
    if first <= max_gap:
        track[:first] = track[first]
        present[:first] = True
    if len(found) - 1 - last <= max_gap:
        track[last + 1:] = track[last]
        present[last + 1:] = True
    return track, present


def smooth_track(track: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Zero-lag Savitzky-Golay smoothing over time, per contiguous run of frames."""
    out = track.copy()
    padded = np.concatenate([[False], present, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= SMOOTH_WINDOW:
            out[start:stop] = savgol_filter(track[start:stop], SMOOTH_WINDOW, SMOOTH_ORDER, axis=0, mode="interp")
    return out


def _match_keypoints(per_frame: list[list[np.ndarray]], landmarks: np.ndarray, present: np.ndarray,
                     how: FacePick) -> tuple[np.ndarray, np.ndarray]:
    """Pick, in each frame, the SCRFD face that is the mesh track's face (or follow it where the mesh lost it)."""
    from zaobot.models.topology import five_keypoints

    if not present.any():
        return follow_face(per_frame, how)
    count = len(per_frame)
    track = np.zeros((count, 5, 2), np.float32)
    found = np.zeros(count, bool)
    last: np.ndarray | None = None
    for i, faces in enumerate(per_frame):
        reference = five_keypoints(landmarks[i]) if present[i] else last
        if not faces or reference is None:
            continue
        chosen = min(faces, key=lambda f: float(np.linalg.norm(f.mean(axis=0) - reference.mean(axis=0))))
        size = float(np.linalg.norm(reference[0] - reference[1])) or 1.0  # eye distance
        if np.linalg.norm(chosen.mean(axis=0) - reference.mean(axis=0)) > size:
            continue
        track[i], found[i], last = chosen, True, chosen
    return track, found


def analyse_frames(frames: Iterable[np.ndarray], how: FacePick = "largest", progress: Progress | None = None,
                   detector: object | None = None) -> SceneAnalysis:
    """Track and smooth the chosen face over frames (RGB). The only place scene detection runs.

    `detector` (SCRFD, optional) adds a 5-keypoint track beside the mesh landmarks."""
    from zaobot.models.landmarks import HandTracker, MeshTracker  # mediapipe loads only when analysing

    per_frame: list[list[np.ndarray]] = []
    per_frame_kps: list[list[np.ndarray]] = []
    hands: list[np.ndarray] = []

    with MeshTracker() as tracker, HandTracker(MAX_HANDS) as hand_tracker:
        def watched(source: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
            for frame in source:
                if detector is not None:
                    per_frame_kps.append([d.keypoints for d in detector.detect(frame)])  # type: ignore[attr-defined]  # an SCRFD detector
                hands.append(_hand_slots(hand_tracker.hands(frame)))
                yield frame

        for faces in tracker.track(watched(frames)):
            per_frame.append(faces)
            if progress:
                progress(1)
    track, found = follow_face(per_frame, how)
    track, present = fill_gaps(track, found)
    landmarks = smooth_track(track, present).astype(np.float32)
    hand_track = np.stack(hands) if hands else np.full((0, MAX_HANDS, 21, 2), np.nan, np.float32)
    if detector is None:
        return SceneAnalysis(landmarks=landmarks, present=present, hands=hand_track)
    kps, kps_found = _match_keypoints(per_frame_kps, landmarks, present, how)
    kps, kps_present = fill_gaps(kps, kps_found)
    return SceneAnalysis(landmarks=landmarks, present=present, keypoints=smooth_track(kps, kps_present),
                         keypoints_present=kps_present, hands=hand_track)


def _hand_slots(found: list[np.ndarray]) -> np.ndarray:
    """float32 (MAX_HANDS, 21, 2): the hands found in one frame, NaN in the empty slots."""
    slots = np.full((MAX_HANDS, 21, 2), np.nan, np.float32)
    for i, hand in enumerate(found[:MAX_HANDS]):
        slots[i] = hand
    return slots
