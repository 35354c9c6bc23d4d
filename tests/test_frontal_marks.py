"""A mark on one cheek is not mirrored onto the other when a turned selfie is made frontal.

Real photo: the quality set's `eyes_half_closed` selfie, turned well to one side (the mirror
replaces most of her far half), with a teardrop gem under one eye. Mirrored as it was, the render
showed two gems. The gem is found here by its own contrast in the photo, not by the engine's code;
a control with the mark filter switched off shows the test can fail.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.models import frontal
from zaobot.models.frontal import frontalise, midline, reflect, turn_share
from zaobot.models.landmarks import face_width
from zaobot.models.selfie_face import yaw
from zaobot.models.topology import FACE_OVAL, LEFT_EYE, OUTER_LIPS, RIGHT_EYE

from tests.quality_set import selfie_with_landmarks

SELFIE = "faceapi_eyes_half_closed_dark_makeup"


def detail(rgb: np.ndarray, width: float) -> np.ndarray:
    """Luma against a median of 0.06 face widths: a small spot stands out, skin and shading don't."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    k = int(0.06 * width) | 1
    return np.abs(luma.astype(np.float32) - cv2.medianBlur(luma, k).astype(np.float32))


def strongest(values: np.ndarray, at: np.ndarray, radius: float) -> float:
    x, y = np.round(at).astype(int)
    r = int(radius)
    return float(values[y - r:y + r + 1, x - r:x + r + 1].max())


@pytest.fixture(scope="module")
def gem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(selfie, its landmarks, the gem's centre): the strongest small spot in the face, away from the
    eyes, lips and nose."""
    rgb, points = selfie_with_landmarks(SELFIE)
    assert turn_share(yaw(points)) > 0.5  # most of her far half comes from the mirror
    width = face_width(points)
    spots = detail(rgb, width)
    cheeks = np.zeros(spots.shape, np.uint8)
    cv2.fillPoly(cheeks, [np.round(points[FACE_OVAL]).astype(np.int32)], 1)
    features = np.zeros(spots.shape, np.uint8)
    for region in (RIGHT_EYE, LEFT_EYE, OUTER_LIPS):
        cv2.fillPoly(features, [np.round(points[region]).astype(np.int32)], 1)
    features = cv2.dilate(features, np.ones((int(0.05 * width),) * 2, np.uint8))
    ys, xs = np.mgrid[0:spots.shape[0], 0:spots.shape[1]]
    normal, offset = midline(points)
    aside = np.abs(xs * normal[0] + ys * normal[1] - offset) > 0.15 * width  # not the nose
    spots[(cheeks == 0) | (features > 0) | ~aside] = 0
    y, x = np.unravel_index(int(np.argmax(spots)), spots.shape)
    assert spots[y, x] > 60  # a gem, not a pore
    return rgb, points, np.array([x, y], np.float32)


def render(rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return frontalise(rgb, points, yaw(points))


def test_the_gem_stays_on_its_cheek_and_is_not_mirrored(gem) -> None:
    rgb, points, at = gem
    out, target = render(rgb, points)
    width = face_width(target)
    mirrored = reflect(at[None], *midline(target))[0]
    spots = detail(out, width)
    assert strongest(spots, at, 0.02 * width) > 50  # her own mark, on her own side
    assert strongest(spots, mirrored, 0.05 * width) < 20  # nothing like it on the other cheek


def test_control_without_the_filter_shows_the_gem_twice(gem) -> None:
    rgb, points, at = gem
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frontal, "_without_marks", lambda image, points: image)
        out, target = render(rgb, points)
    width = face_width(target)
    mirrored = reflect(at[None], *midline(target))[0]
    assert strongest(detail(out, width), mirrored, 0.05 * width) > 40
