"""The user's proportions on the actor's moving face (models/shape.py).

Unit checks on the landmark arithmetic, then a real render: an astronaut with her eyes set
wider apart, swapped into the demo scene, must come out with wider-set eyes, measured by
the face mesh on the output frame. The control render (no scene track) shows it can fail.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.models import shape
from zaobot.models.engine import NullTimer
from zaobot.models.landmarks import FaceAnalyzer, face_width
from zaobot.models.mesh import MeshEngine, build_source
from zaobot.models.topology import (
    FACE_OVAL,
    LEFT_BROW,
    LEFT_EYE,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
    WARP_TRIANGLES,
    warp_points,
)
from zaobot.models.warp import warp_maps

LEFT_IRIS = np.arange(473, 478)
RIGHT_IRIS = np.arange(468, 473)


def rotate(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return points @ np.array([[c, -s], [s, c]]).T + np.array(shift)


def spread_eyes(points: np.ndarray, amount: float) -> np.ndarray:
    """`points` with each eye (lids, brow, iris) moved `amount` face widths away from the other."""
    out = points.copy()
    width = face_width(points.astype(np.float32))
    right = np.r_[RIGHT_EYE, RIGHT_BROW, RIGHT_IRIS]  # the subject's right: the image's left
    left = np.r_[LEFT_EYE, LEFT_BROW, LEFT_IRIS]
    sign = 1.0 if points[LEFT_EYE, 0].mean() > points[RIGHT_EYE, 0].mean() else -1.0
    out[left, 0] += sign * amount * width
    out[right, 0] -= sign * amount * width
    return out


@pytest.fixture(scope="module")
def astronaut_points(astronaut):
    with FaceAnalyzer() as analyzer:
        return analyzer.landmarks(astronaut, analyzer.detect(astronaut)[0]).astype(np.float64)


def test_similarity_fit_recovers_rotation_scale_and_shift(astronaut_points):
    moved = rotate(astronaut_points, 0.3, 1.7, (40.0, -12.0))
    fit = shape.fit_similarity(astronaut_points, moved)
    assert np.abs(fit.apply(astronaut_points) - moved).max() < 1e-6


def test_resting_shape_ignores_pose_and_a_minority_of_talking_frames(astronaut_points):
    rest_pose = astronaut_points
    talking = astronaut_points.copy()
    talking[OUTER_LIPS, 1] += 25.0  # mouth wide open
    frames = [rotate(rest_pose, a, s, (s * 10, a * 50)) for a, s in ((0.0, 1.0), (0.2, 0.8), (-0.1, 1.2))]
    frames += [rotate(talking, 0.1, 1.1, (5, 5)), rotate(talking, -0.2, 0.9, (0, 9))]
    rest = shape.resting_shape(np.stack(frames))
    # Same shape as the resting pose, up to a similarity; the open mouth did not leak in.
    fitted = shape.fit_similarity(rest, rest_pose).apply(rest)
    assert np.abs(fitted - rest_pose).max() < 1e-3 * face_width(rest_pose.astype(np.float32))


def test_offsets_carry_proportions_not_pose_and_spare_outline_and_lips(astronaut_points):
    rest = astronaut_points
    # Pose (an affine: seen from below, turned a little) is not proportion: no offsets.
    posed = astronaut_points @ np.array([[0.9, 0.1], [0.05, 0.8]]).T + 7.0
    assert np.abs(shape.shape_offsets(posed, rest, hold_eyes=False)).max() < 1e-6

    width = face_width(rest.astype(np.float32))
    wide = spread_eyes(astronaut_points, 0.03)
    offsets = shape.shape_offsets(wide, rest, hold_eyes=False)
    spread = offsets[LEFT_IRIS[0], 0] - offsets[RIGHT_IRIS[0], 0]
    expected = np.sign(rest[LEFT_IRIS[0], 0] - rest[RIGHT_IRIS[0], 0])
    assert spread * expected > 0.03 * width  # the eyes move apart ...
    assert np.abs(offsets[FACE_OVAL]).max() < 1e-9  # ... the outline stays the actor's ...
    assert np.abs(offsets[OUTER_LIPS]).max() < 1e-9  # ... and so do the lips the scene may show
    assert np.linalg.norm(offsets, axis=1).max() <= shape.MAX_SHIFT * np.ptp(rest[FACE_OVAL, 0]) + 1e-6

    # Eyes the scene shows through (the selfie's are closed) stay put too.
    held = shape.shape_offsets(wide, rest, hold_eyes=True)
    assert np.abs(held[np.r_[LEFT_EYE, RIGHT_EYE]]).max() < 1e-9


def test_offsets_follow_the_frames_pose(astronaut_points):
    rest = astronaut_points
    offsets = np.zeros_like(rest)
    offsets[1] = (3.0, -2.0)
    frame = rotate(rest, 0.5, 2.0, (100.0, 50.0))
    moved = shape.reshaped(frame.astype(np.float32), rest, offsets)
    expected = rotate(rest + offsets, 0.5, 2.0, (100.0, 50.0))
    assert np.abs(moved - expected).max() < 1e-3


def eye_spacing(points: np.ndarray) -> float:
    """Distance between the iris centres, in face widths."""
    return float(np.linalg.norm(points[468] - points[473]) / face_width(points.astype(np.float32)))


def dark_pupil_spacing(frame: np.ndarray, actor: np.ndarray) -> float:
    """Distance between the darkest spots (the pupils) near each of the actor's eyes, in face widths.

    Read from the pixels, not from a face mesh: a mesh's shape prior pulls eyes back
    towards average proportions and would under-report the change."""
    width = face_width(actor.astype(np.float32))
    grey = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 0.02 * width)
    centres = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        (x0, y0), (x1, y1) = actor[eye].min(axis=0), actor[eye].max(axis=0)
        pad = 0.08 * width
        box = grey[int(y0):int(y1) + 1, int(x0 - pad):int(x1 + pad) + 1]
        y, x = np.unravel_index(np.argmin(box), box.shape)
        centres.append(np.array([x + int(x0 - pad), y + int(y0)], np.float64))
    return float(np.linalg.norm(centres[0] - centres[1]) / width)


def test_render_carries_the_users_eye_spacing(astronaut, astronaut_points, demo_scene):
    """Real pixels: a user whose eyes sit 6% of a face width further apart than the actor's
    comes out with wider-set eyes than a render without the user's proportions."""
    from zaobot.media.video import read_frames

    pts = astronaut_points.astype(np.float32)
    wide = spread_eyes(pts, 0.03)
    h, w = astronaut.shape[:2]
    map_x, map_y = warp_maps(warp_points(wide), warp_points(pts), WARP_TRIANGLES, (w, h), 0.5)
    user = cv2.remap(astronaut, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    source = build_source(user, wide)

    index = 40
    frame = next(f for i, f in enumerate(read_frames(demo_scene.clip)) if i == index)
    landmarks = demo_scene.analysis.at(index)
    engine = MeshEngine()
    try:
        pairs = iter([(frame.copy(), landmarks)])
        with_shape = next(engine.swap_stream(pairs, source, NullTimer(), analysis=demo_scene.analysis))
        without = next(engine.swap_stream(iter([(frame.copy(), landmarks)]), source, NullTimer()))
    finally:
        engine.close()
    actor = dark_pupil_spacing(frame, landmarks)
    measured = {name: dark_pupil_spacing(out, landmarks) for name, out in (("with", with_shape), ("without", without))}
    # Without the user's proportions her eyes land on the actor's; with them they sit wider
    # apart: the user's are 0.06 face widths wider, less what the outline's fade holds back.
    assert abs(measured["without"] - actor) < 0.015
    assert measured["with"] - measured["without"] > 0.03
