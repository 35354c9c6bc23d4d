"""The live check: one real face, the selfie's, does the asked actions in the asked order.

A user proves a selfie is theirs with a short recording (a Telegram video note, a WeChat
short video) of a random challenge, such as "blink, then turn your head left". On each
sampled frame the mediapipe mesh (in tracking mode) gives the head's yaw, how open the
eyes are and how open the mouth is; each action is found as a departure from the
recording's own resting values, so a face that always looks a little to one side, or
has narrow eyes, is judged against itself.

Deny cues (what they stop, and what they can't, is said in README "The live check"):
- a still image moved about (a photo panned and zoomed, held to the camera): every frame's
  landmarks are one homography of another's, so the face has no motion of its own;
- a flat face during a head turn (a photo tilted): a real head's nose moves against its
  cheeks (parallax), so a homography fits a real turn badly;
- a second face, or a face that leaves the picture or jumps (a swap mid-recording).
The identity check compares dlib ResNet descriptors of several frontal frames with the
selfie's. Everything here works in memory; descriptors and landmarks are never returned,
only the verdict and a few scores (distances, ratios, counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from zaobot.challenge import ACTIONS, Action
from zaobot.models.landmarks import face_width
from zaobot.models.selfie_face import yaw
from zaobot.models.topology import FACE_OVAL, eye_ratios, mouth_gap

# Which check failed, as recorded in the job and the audit log (and chosen the user's message).
Failure = Literal["unreadable", "no_face", "faces", "still", "planar", "actions", "order", "identity"]

# Departures from the recording's resting values that count as the action (measured on the
# test recordings: a deliberate turn moves yaw by 0.15-0.25; a blink takes the lid gap to
# under a third of open; a wide-open mouth is a gap of 0.3-0.6 of the mouth's width).
TURN_YAW = 0.12
BLINK_SHARE = 0.35
MOUTH_OPEN = 0.25
MOUTH_OVER_REST = 0.15
# Homography residual / face width (90th percentile over the recording; at the turn for
# PLANAR_MAX). Measured in tests/test_liveness.py and benchmarks/liveness.py.
STILL_MAX = 0.011
PLANAR_MAX = 0.03
MIN_PRESENT = 0.7  # the face must be found on this share of sampled frames
FACE_PROBES = 4  # frames, spread over the recording, on which the detector counts the faces
MAX_JUMP = 0.6  # face centre moving more than this x face width between samples: a different face
IDENTITY_FRAMES = 3
IDENTITY_MAX = 0.55  # median descriptor distance to the selfie (dlib's own "same person" is 0.6)
IDENTITY_WORST = 0.65  # and no sampled frame further than this
# Landmarks for the homography fits: eye corners, brows, nose bridge and tip, cheeks, chin,
# mouth corners: spread over the face's depth, so a real turn shows parallax among them.
RIGID_POINTS = np.array([33, 133, 362, 263, 70, 300, 168, 6, 1, 4, 234, 454, 93, 323, 152, 61, 291, 10, 199])


@dataclass(frozen=True)
class Sample:
    """One analysed frame: its time, the main face's landmarks (None if no face) and how many faces the
    detector counts on it (None where it did not look: it looks on a few frames only)."""

    t: float
    points: np.ndarray | None
    faces: int | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome, as it may be stored: no landmarks, no descriptors."""

    passed: bool
    failed: Failure | None = None
    scores: dict[str, float | str] = field(default_factory=dict)
    missing: tuple[Action, ...] = ()  # actions never seen (for the user's message)


@dataclass(frozen=True)
class Measures:
    """Per-sample yaw, eye openness and mouth gap of the present samples, and their resting values."""

    times: np.ndarray
    yaw: np.ndarray
    eyes: np.ndarray
    mouth: np.ndarray
    rest_yaw: float
    rest_eyes: float
    rest_mouth: float


def measures(samples: Sequence[Sample]) -> Measures:
    present = [s for s in samples if s.points is not None]
    times = np.array([s.t for s in present])
    yaws = np.array([yaw(s.points) for s in present if s.points is not None])
    eyes = np.array([float(np.mean(eye_ratios(s.points))) for s in present if s.points is not None])
    mouth = np.array([mouth_gap(s.points) for s in present if s.points is not None])
    return Measures(times, yaws, eyes, mouth, float(np.median(yaws)), float(np.percentile(eyes, 80)),
                    float(np.percentile(mouth, 20)))


def active(m: Measures, action: Action) -> np.ndarray:
    """Per present sample: is the action being done? Turns are the subject's own left and right
    on an unmirrored recording (what a phone's camera stores): turning to one's left moves the
    nose towards the image's right, so the yaw ratio rises."""
    if action == "turn_left":
        return m.yaw - m.rest_yaw > TURN_YAW
    if action == "turn_right":
        return m.rest_yaw - m.yaw > TURN_YAW
    if action == "blink":
        return m.eyes < BLINK_SHARE * m.rest_eyes
    return m.mouth > max(MOUTH_OPEN, m.rest_mouth + MOUTH_OVER_REST)


def onsets(m: Measures, action: Action) -> list[float]:
    """Times at which the action starts (inactive -> active; active on the first sample counts)."""
    on = active(m, action)
    starts = np.flatnonzero(on & ~np.concatenate([[False], on[:-1]]))
    return [float(m.times[i]) for i in starts]


def in_order(challenge: Sequence[Action], found: dict[Action, list[float]]) -> bool:
    """Whether each action starts after the previous one started."""
    after = -1.0
    for action in challenge:
        later = [t for t in found[action] if t > after]
        if not later:
            return False
        after = later[0]
    return True


def homography_residuals(points: Sequence[np.ndarray], reference: np.ndarray,
                         subset: np.ndarray | None = None) -> np.ndarray:
    """For each face: how far its landmarks (or `subset` of them) are from the best homography of
    the reference's, RMS over the face width. Zero for a flat picture moved about."""
    ref = reference if subset is None else reference[subset]
    out = []
    for pts in points:
        target = pts if subset is None else pts[subset]
        h, _ = cv2.findHomography(ref.astype(np.float64), target.astype(np.float64), 0)
        if h is None:
            out.append(1.0)
            continue
        mapped = cv2.perspectiveTransform(ref.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)
        rms = float(np.sqrt(np.mean(np.sum((mapped - target) ** 2, axis=1))))
        out.append(rms / max(1.0, face_width(pts)))
    return np.array(out)


def continuity(samples: Sequence[Sample]) -> Failure | None:
    """'no_face' when the face is missing too often, 'faces' for a second face or a jump."""
    if not samples:
        return "no_face"
    present = [s for s in samples if s.points is not None]
    if len(present) < max(3, MIN_PRESENT * len(samples)):
        return "no_face"
    probed = [s.faces for s in samples if s.faces is not None]
    if probed and sum(n > 1 for n in probed) * 2 >= len(probed):  # a second face on half the probes
        return "faces"
    for a, b in zip(present, present[1:]):
        assert a.points is not None and b.points is not None
        centre_a, centre_b = a.points[FACE_OVAL].mean(axis=0), b.points[FACE_OVAL].mean(axis=0)
        if float(np.linalg.norm(centre_b - centre_a)) > MAX_JUMP * face_width(a.points) * max(1.0, (b.t - a.t) / 0.2):
            return "faces"
    return None


def identity_frames(samples: Sequence[Sample], m: Measures, count: int = IDENTITY_FRAMES) -> list[int]:
    """Indices (into the present samples) of frontal, eyes-open, mouth-closed frames spread over the
    recording: the frames on which a descriptor is most reliable."""
    calm = np.flatnonzero((np.abs(m.yaw - m.rest_yaw) < TURN_YAW / 2) & (m.eyes > 0.7 * m.rest_eyes)
                          & (m.mouth < max(MOUTH_OPEN, m.rest_mouth + MOUTH_OVER_REST) / 2))
    if calm.size == 0:
        return []
    picks = np.unique(calm[np.round(np.linspace(0, calm.size - 1, min(count, calm.size))).astype(int)])
    return [int(i) for i in picks]


def judge_motion(samples: Sequence[Sample], challenge: Sequence[Action]) -> tuple[Verdict, Measures | None]:
    """Every check but identity: (the verdict so far, with its scores; the measures, when a face was found)."""
    failure = continuity(samples)
    if failure is not None:
        return Verdict(False, failure, {"frames": float(len(samples))}), None
    present = [s for s in samples if s.points is not None]
    m = measures(present)
    pts = [s.points for s in present if s.points is not None]
    frontal = int(np.argmin(np.abs(m.yaw - m.rest_yaw)))
    # The whole mesh: blinks, speech and turns all move it off one homography; a still image can't.
    nonrigid = round(float(np.percentile(homography_residuals(pts, pts[frontal]), 90)), 4)
    scores: dict[str, float | str] = {
        "frames": float(len(samples)), "seconds": round(float(samples[-1].t - samples[0].t), 2),
        "nonrigid": nonrigid,
    }
    if nonrigid < STILL_MAX:
        return Verdict(False, "still", scores), m
    turned = np.abs(m.yaw - m.rest_yaw) > TURN_YAW
    if turned.any():
        # Depth-spread points only, so that an expression during the turn can't pass for parallax.
        turns = [p for p, t in zip(pts, turned) if t]
        parallax = float(homography_residuals(turns, pts[frontal], RIGID_POINTS).max())
        scores["turn_parallax"] = round(parallax, 4)
        if parallax < PLANAR_MAX:
            return Verdict(False, "planar", scores), m
    found = {action: onsets(m, action) for action in ACTIONS}
    scores["seen"] = ",".join(f"{a}@{ts[0]:.1f}" for a, ts in found.items() if ts)
    missing = tuple(a for a in challenge if not found[a])
    if missing:
        return Verdict(False, "actions", scores, missing), m
    if not in_order(challenge, found):
        return Verdict(False, "order", scores), m
    return Verdict(True, None, scores), m
