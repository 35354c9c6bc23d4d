"""A turned selfie's far half, moved out to make the face frontal, does not draw its detail into lines.

Real photo: the quality set's `eyes_down_hand_in_hair` selfie (head bowed and turned: about half of
her far half comes from the mirror). Her long lashes reach past the mesh's far eye corner; moving the
far half out stretched them into long lines that showed down the actor's cheek. The warp's stretch is
measured from its own maps; the lines are counted in the frontal image, lateral of the far eye, by
their darkness against a median; a control with the smoothing off shows the test can fail.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.models import frontal
from zaobot.models.frontal import _stretch, frontalise, midline, turn_share
from zaobot.models.landmarks import face_width
from zaobot.models.selfie_face import yaw
from zaobot.models.topology import CHEEK_IMAGE_LEFT, CHEEK_IMAGE_RIGHT, FACE_OVAL

from tests.quality_set import selfie_with_landmarks

OUTER_CORNERS = {"image left": 33, "image right": 263}


def lines_beside_far_eye(name: str) -> float:
    """Share of the frontal image, inside the oval and lateral of the far eye's outer corner (from just
    above it down to the nose tip), darker than its surroundings (a median of 0.04 face widths) by 12."""
    rgb, points = selfie_with_landmarks(name)
    out, target = frontalise(rgb, points, yaw(points))
    width = face_width(target)
    normal, offset = midline(points)
    side = points.astype(np.float64) @ normal - offset
    near_right = abs(side[CHEEK_IMAGE_RIGHT]) > abs(side[CHEEK_IMAGE_LEFT])
    sign = -1.0 if near_right else 1.0  # far side positive
    corner = OUTER_CORNERS["image left" if near_right else "image right"]
    normal, offset = midline(target)
    ys, xs = np.mgrid[0:out.shape[0], 0:out.shape[1]]
    beyond = sign * (xs * normal[0] + ys * normal[1] - offset) > sign * (target[corner] @ normal - offset)
    oval = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(target[FACE_OVAL]).astype(np.int32)], 1)
    inside = cv2.erode(oval, np.ones((max(3, int(0.02 * width)),) * 2, np.uint8)) > 0
    band = inside & beyond & (ys > target[corner, 1] - 0.1 * width) & (ys < target[1, 1])
    luma = cv2.cvtColor(out[..., :3], cv2.COLOR_RGB2GRAY)
    dark = cv2.medianBlur(luma, int(0.04 * width) | 1).astype(np.float32) - luma.astype(np.float32) > 12
    return float(dark[band].mean())


def test_lashes_past_the_far_eye_are_not_drawn_into_lines(monkeypatch):
    _, points = selfie_with_landmarks("faceapi_eyes_down_hand_in_hair")
    assert 0.3 < turn_share(yaw(points)) < 0.6  # half mirror, half her own far cheek moved out
    smoothed = lines_beside_far_eye("faceapi_eyes_down_hand_in_hair")
    monkeypatch.setattr(frontal, "STRETCH_START", 100.0)
    monkeypatch.setattr(frontal, "STRETCH_FULL", 101.0)
    control = lines_beside_far_eye("faceapi_eyes_down_hand_in_hair")
    assert smoothed < 0.75 * control, (smoothed, control)  # measured 0.021 against 0.036


@pytest.mark.parametrize("name", ["faceapi_eyes_down_hand_in_hair", "faceapi_laughing_teeth_head_tilt"])
def test_the_near_half_is_left_as_it_was(name, monkeypatch):
    """Only the far half moved, so only it is smoothed: the near half (beyond the join's soft width) is
    the same to the pixel with the smoothing on and off, though its warp has stretched slivers too."""
    rgb, points = selfie_with_landmarks(name)
    smoothed, target = frontalise(rgb, points, yaw(points))
    monkeypatch.setattr(frontal, "STRETCH_START", 100.0)
    monkeypatch.setattr(frontal, "STRETCH_FULL", 101.0)
    plain, _ = frontalise(rgb, points, yaw(points))
    normal, offset = midline(points)
    side = points.astype(np.float64) @ normal - offset
    near_sign = 1.0 if abs(side[CHEEK_IMAGE_RIGHT]) > abs(side[CHEEK_IMAGE_LEFT]) else -1.0
    normal, offset = midline(target)
    ys, xs = np.mgrid[0:rgb.shape[0], 0:rgb.shape[1]]
    near = near_sign * (xs * normal[0] + ys * normal[1] - offset) > 0.1 * face_width(target)
    assert not np.array_equal(smoothed, plain)  # the far half did change
    assert np.array_equal(smoothed[near], plain[near])


def test_stretch_of_a_map_is_its_most_drawn_out_direction():
    """A remap reading the source at half speed along x draws it out to twice its length; the identity
    does not draw it out at all."""
    ys, xs = np.mgrid[0:40, 0:60].astype(np.float32)
    assert np.allclose(_stretch(xs, ys)[5:-5, 5:-5], 1.0, atol=1e-3)
    assert np.allclose(_stretch(0.5 * xs, ys)[5:-5, 5:-5], 2.0, atol=1e-3)
    assert np.allclose(_stretch(xs, 0.25 * ys)[5:-5, 5:-5], 4.0, atol=1e-3)
    assert np.allclose(_stretch(0.5 * xs, 0.25 * ys)[5:-5, 5:-5], 4.0, atol=1e-3)  # the larger of the two
    # Drawn out twice along a diagonal: the source read at half speed along (1, 1), full speed across it.
    angle = np.pi / 4
    u = np.cos(angle) * xs + np.sin(angle) * ys
    v = -np.sin(angle) * xs + np.cos(angle) * ys
    src_x = np.cos(angle) * 0.5 * u - np.sin(angle) * v
    src_y = np.sin(angle) * 0.5 * u + np.cos(angle) * v
    assert np.allclose(_stretch(src_x.astype(np.float32), src_y.astype(np.float32))[5:-5, 5:-5], 2.0, atol=1e-3)
