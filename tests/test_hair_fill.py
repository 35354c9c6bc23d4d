"""Where the selfie's hair hides skin, and the actor wears glasses (occlusion.skin_fill, masks.own_skin).

Real photo, real footage: the quality set's parted-lips selfie (hair tied back, strands at the
temples) in the cued-speech clip, whose speaker wears round glasses. The hair at her temples is
masked out of the texture; the scene's skin used to fill in there, glasses rims and all, so a
ring showed round each of her eyes. The control render (the scene's skin everywhere) shows the
test can fail.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.media.scenes import Scene
from zaobot.media.video import read_frames
from zaobot.models import masks
from zaobot.models.engine import NullTimer
from zaobot.models.landmarks import face_width
from zaobot.models.mesh import build_source, swap_face
from zaobot.models.occlusion import _sample_mask, keep_map, skin_fill, skin_probability
from zaobot.models.topology import FACE_OVAL, LEFT_EYE, RIGHT_EYE

from tests.quality_set import QUALITY, selfie_with_landmarks

SELFIE = "faceapi_east_asian_hair_tied_back"
FRAMES = (20, 60, 120)


@pytest.fixture(scope="module")
def selfie() -> tuple[np.ndarray, np.ndarray]:
    return selfie_with_landmarks(SELFIE)


def high_pass(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 2.0)


def glasses_ring(face: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool: the band round the actor's eyes where her glasses' rims are, inside the face."""
    width = face_width(face)
    eyes = np.zeros(shape, np.uint8)
    for loop in (RIGHT_EYE, LEFT_EYE):
        cv2.fillPoly(eyes, [np.round(face[loop]).astype(np.int32)], 255)
    distance = cv2.distanceTransform(255 - eyes, cv2.DIST_L2, 3)
    oval = np.zeros(shape, np.uint8)
    cv2.fillPoly(oval, [np.round(face[FACE_OVAL]).astype(np.int32)], 255)
    inside = cv2.erode(oval, np.ones((int(0.06 * width),) * 2, np.uint8)) > 0
    return (distance > 0.05 * width) & (distance < 0.2 * width) & inside


def test_hair_is_filled_with_the_users_own_skin(selfie):
    rgb, points = selfie
    skin = skin_probability(rgb, points)
    keep = keep_map(rgb, points, skin)
    hair = keep < 0.05
    assert hair.sum() > 200, "the selfie's temple strands should be masked"
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    reference = float(np.median(luma[_sample_mask(luma.shape, points, face_width(points))]))
    filled = cv2.cvtColor(skin_fill(rgb, points, keep, skin), cv2.COLOR_RGB2GRAY).astype(np.float32)

    # What is masked (light, blown-out strands: luma 232 against her skin's 177) is far from her
    # skin; what fills it is close to it (180).
    assert abs(float(np.median(luma[hair])) - reference) > 35
    assert abs(float(np.median(filled[hair])) - reference) < 25
    assert np.array_equal(filled[keep >= 0.999], luma[keep >= 0.999])  # the rest is untouched


def test_actors_glasses_do_not_show_round_the_users_eyes(selfie, monkeypatch):
    scene = Scene.load(QUALITY / "scenes" / "cued-speech")
    source = build_source(*selfie)
    frames = {i: f for i, f in enumerate(read_frames(scene.clip)) if i in FRAMES}
    assert set(frames) == set(FRAMES)

    def rims_shown(own_skin: bool) -> list[float]:
        """Per frame: how much the output's fine detail round the eyes follows the scene's (its rims)."""
        if not own_skin:  # the control: the scene's skin fills every hair hole
            monkeypatch.setattr(masks, "own_skin", lambda points, eyes, *_: np.zeros(eyes.shape, np.float32))
        shown = []
        for i, frame in frames.items():
            face = scene.analysis.at(i)
            out = swap_face(frame.copy(), face, source, NullTimer())
            ring = glasses_ring(face, frame.shape[:2])
            shown.append(float(np.corrcoef(high_pass(frame)[ring], high_pass(out)[ring])[0, 1]))
        return shown

    assert max(rims_shown(True)) < 0.25  # measured 0.12-0.15
    assert min(rims_shown(False)) > 0.3  # the scene's skin, rims included: 0.38-0.41


def test_fill_far_from_any_skin_is_the_faces_skin_colour(selfie):
    """A fringe down to the eyes leaves skin only low on the face: the fill far from it must still be
    skin-coloured, not black (a local mean over nothing), and a face with no skin seen is left as is."""
    rgb, points = selfie
    skin = skin_probability(rgb, points)
    keep = np.ones(rgb.shape[:2], np.float32)
    keep[: int(points[6, 1])] = 0.0  # everything above the nose bridge hidden
    filled = skin_fill(rgb, points, keep, skin)
    cheeks = np.array([rgb[int(points[i, 1]), int(points[i, 0])] for i in (205, 425)], np.float32).mean(axis=0)
    top = filled[: int(points[10, 1])].reshape(-1, 3).astype(np.float32)
    assert np.abs(np.median(top, axis=0) - cheeks).max() < 40
    assert np.array_equal(skin_fill(rgb, points, np.zeros_like(keep), skin), rgb)


def test_own_skin_below_the_brows_and_round_the_eyes(selfie):
    """masks.own_skin: 1 (the user's own skin fills hair holes) below the brows' top and round the
    eyes, 0 (the scene's forehead, in the user's tone) up by the hairline."""
    _, points = selfie
    shape = (int(points[:, 1].max()) + 20, int(points[:, 0].max()) + 20)
    eyes = np.zeros(shape, np.uint8)
    for loop in (RIGHT_EYE, LEFT_EYE):
        cv2.fillPoly(eyes, [np.round(points[loop]).astype(np.int32)], 255)
    own = masks.own_skin(points, eyes, face_width(points), 1.0)
    at = {i: float(own[int(round(points[i, 1])), int(round(points[i, 0]))]) for i in (10, 151, 205, 425, 152, 1)}
    assert at[10] == 0.0 and at[151] < 0.5, at  # the top of the forehead, mid-forehead
    assert min(at[205], at[425], at[152], at[1]) == 1.0, at  # cheeks, chin, nose tip
