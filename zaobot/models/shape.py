"""The user's face proportions on the actor's moving face.

A texture warped onto the actor's landmarks keeps the actor's proportions: eye spacing,
nose length, brow height. A face recogniser (and a friend) reads identity as much from those
as from skin, so the swapped face looked only half like the user. Here every landmark is
moved by the user's shape minus the actor's resting shape, both in a pose-free frame, and
turned back into each frame's pose: the actor's expression (the change from rest) stays, the
proportions become the user's. The face outline stays the actor's, so the seam still falls
on the actor's jaw and hairline; the lips stay where the scene's own mouth may show through.

Pure functions over landmark arrays, a few microseconds a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zaobot.models.topology import FACE_OVAL, LEFT_EYE, OUTER_LIPS, RIGHT_EYE
from zaobot.models.warp import fit_affine

STRENGTH = 1.0  # share of the user's proportions carried over
OVAL_FADE = 0.12  # offsets fade to nothing over this distance from the outline, in face widths
HOLD_FADE = 0.10  # ... and around features the scene may show through (lips, closed eyes)
OPEN_MOUTH_FADE = 0.25  # ... and further round the lips of an open mouth: its jaw drop is not a proportion
MAX_SHIFT = 0.06  # no landmark moves further than this share of the face width


@dataclass(frozen=True)
class Similarity:
    """p' = p @ matrix.T + shift: rotation, uniform scale and shift, no shear."""

    matrix: np.ndarray  # float64 (2, 2)
    shift: np.ndarray  # float64 (2,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.matrix.T + self.shift


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> Similarity:
    """The least-squares similarity taking `src` (N, 2) onto `dst` (N, 2) (Umeyama, no reflection)."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    var = float((a * a).sum()) or 1.0
    # For 2-D points the optimum is closed form: [c -s; s c] with c, s from dot and cross sums.
    c = float((a * b).sum()) / var
    s = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / var
    matrix = np.array([[c, -s], [s, c]])
    return Similarity(matrix, mu_d - mu_s @ matrix.T)


def affine_onto(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """`src` (N, 2) moved by the least-squares affine onto `dst` (N, 2).

    An affine, not a similarity: a selfie taken from a little below or to the side is
    squashed along one axis, and that is pose, not proportion. What an affine cannot
    explain (eye spacing against nose length, brow height...) is what makes a face its own."""
    affine = fit_affine(src, dst)
    return src.astype(np.float64) @ affine[:, :2].T + affine[:, 2]


def resting_shape(track: np.ndarray) -> np.ndarray:
    """The actor's face at rest: the median over a clip's frames (T, 478, 2), each aligned to the first.

    The median keeps the shape most frames share and drops talking and blinking."""
    reference = track[0].astype(np.float64)
    reference = (reference - reference.mean(axis=0)) / max(1e-6, float(np.ptp(reference[FACE_OVAL, 0])))
    aligned = np.stack([fit_similarity(frame, reference).apply(frame) for frame in track])
    return np.median(aligned, axis=0)


def _signed_distance(points: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Each point's distance to a closed outline: positive inside, negative outside."""
    contour = outline.astype(np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in points])


def shape_offsets(user: np.ndarray, rest: np.ndarray, *, hold_eyes: bool, mouth_open: bool = False) -> np.ndarray:
    """(478, 2) offsets in the resting shape's frame that give it the user's proportions.

    user: the selfie's (frontal) landmarks; rest: resting_shape() of the scene. Zero on the
    outline and at the lips (the scene's mouth may show through there at any frame), and at
    the eyes when the scene's eyes show; fading in between."""
    aligned = affine_onto(user, rest)
    offsets = STRENGTH * (aligned - rest)
    width = float(np.ptp(rest[FACE_OVAL, 0])) or 1.0
    weight = np.clip(np.abs(_signed_distance(rest, rest[FACE_OVAL])) / (OVAL_FADE * width), 0.0, 1.0)
    holds = [(OUTER_LIPS, OPEN_MOUTH_FADE if mouth_open else HOLD_FADE)]
    if hold_eyes:
        holds += [(RIGHT_EYE, HOLD_FADE), (LEFT_EYE, HOLD_FADE)]
    for region, fade in holds:  # 0 inside the feature, rising to 1 at `fade` outside it
        weight = weight * np.clip(-_signed_distance(rest, rest[region]) / (fade * width), 0.0, 1.0)
    offsets *= weight[:, None]
    length = np.linalg.norm(offsets, axis=1, keepdims=True)
    limit = MAX_SHIFT * width
    return offsets * np.minimum(1.0, limit / np.maximum(length, 1e-9))


def reshaped(points: np.ndarray, rest: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The frame's landmarks (478, 2) moved by `offsets`, turned into the frame's pose and size."""
    to_frame = fit_similarity(rest, points)
    return (points + offsets @ to_frame.matrix.T).astype(np.float32)
