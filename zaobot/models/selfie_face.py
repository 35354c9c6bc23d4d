"""Find the one usable face in a selfie, or say precisely why there isn't one.

Shared by both engines: the checks are about the photo, not about how it is rendered.
"""

from __future__ import annotations

import numpy as np

from zaobot.errors import EyeClosedOrHidden, EyesClosed, FaceTooSmall, FaceTurnedAway, MultipleFaces, NoFace
from zaobot.models.landmarks import FaceAnalyzer, FaceBox, face_width
from zaobot.models.topology import eye_ratios

# Yaw: where the nose sits between the two sides of the face (0.5 frontal), averaged over
# three heights so one landmark's wobble can't flip a borderline selfie between accepted
# and refused. Up to these limits the mesh engine mirrors the near half (frontal.py); past
# them the far eye and cheek are hidden.
YAW_LIMITS = (0.15, 0.85)
_YAW_PAIRS = ((234, 454, 1), (93, 323, 4), (132, 361, 2))
EYES_CLOSED_MAX = 0.09  # both eyes below this lid gap / eye width: closed, not a squint
# One eye shut while the other reads wide open: a wink, or an eye under hair that the mesh
# guessed open. Eyes move together, so an honest photo has both about equally open (the
# set's most uneven pair is 1.5 to 1, two lowered eyes at 0.13 and 0.09).
ONE_EYE_SHUT = 0.1
OTHER_EYE_OPEN = 0.2
EYES_UNEVEN = 2.5


def count_faces(boxes: list[FaceBox]) -> int:
    """Faces that matter: a tiny face far in the background of a selfie is not counted."""
    if not boxes:
        return 0
    largest = max(b.w for b in boxes)
    return sum(1 for b in boxes if b.w >= max(24.0, 0.25 * largest))


def yaw(points: np.ndarray) -> float:
    """0.5 for a frontal face, towards 0 or 1 as the head turns."""
    ratios = []
    for left, right, nose in _YAW_PAIRS:
        span = float(points[right, 0] - points[left, 0])
        if abs(span) > 1e-6:
            ratios.append(float((points[nose, 0] - points[left, 0]) / span))
    return float(np.mean(ratios)) if ratios else 0.0


def validate_face(points: np.ndarray, min_face_px: int) -> None:
    """Raise the SelfieError for a face that is too small, turned away, or has an eye closed or hidden."""
    width = face_width(points)
    if width < min_face_px:
        raise FaceTooSmall(detail=f"{width:.0f} px, at least {min_face_px} px needed")
    if not YAW_LIMITS[0] <= yaw(points) <= YAW_LIMITS[1]:
        raise FaceTurnedAway()
    shut, other = sorted(eye_ratios(points))
    if other < EYES_CLOSED_MAX:  # both shut
        raise EyesClosed()
    if shut < ONE_EYE_SHUT and other >= max(OTHER_EYE_OPEN, EYES_UNEVEN * shut):
        # The engine would render the user's eyes as a wink for the whole clip, or paste the
        # hair lying over the hidden one: ask for both eyes, open and uncovered.
        raise EyeClosedOrHidden()


def locate_face(analyzer: FaceAnalyzer, selfie: np.ndarray, min_face_px: int) -> np.ndarray:
    """The 478 landmarks of the selfie's one usable face; raises the specific SelfieError otherwise."""
    boxes = analyzer.detect(selfie)
    faces = count_faces(boxes)
    if faces == 0:
        raise NoFace()
    if faces > 1:
        raise MultipleFaces(count=faces)
    points = analyzer.landmarks(selfie, boxes[0])
    if points is None:
        raise NoFace()
    validate_face(points, min_face_px)
    return points
