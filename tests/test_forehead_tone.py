"""The actor's forehead above the face oval takes the user's skin tone (masks.forehead, occlusion.scene_skin).

Real photo, real footage: the quality set's Obama photo in the webcam-talk clip, whose actor's
forehead reaches well above the mesh's oval and, there, is much darker and redder than the user's
skin as the output shows it. Left as it was, that forehead showed as a band over the user's face.
Two control renders show the tests can fail: no skin found above the oval (nothing toned there),
and everything there taken for skin (his hair toned too).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.media.scenes import Scene
from zaobot.media.video import read_frames
from zaobot.models import mesh
from zaobot.models.engine import NullTimer
from zaobot.models.landmarks import face_width
from zaobot.models.mesh import build_source, swap_face
from zaobot.models.occlusion import scene_skin, skin_probability
from zaobot.models.tone import to_lab
from zaobot.models.topology import FACE_OVAL

from tests.quality_set import QUALITY, selfie_with_landmarks

FRAMES = (20, 60, 120)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Per variant: (scene frame, output frame, actor's landmarks) for each of FRAMES."""
    scene = Scene.load(QUALITY / "scenes" / "webcam-talk")
    source = build_source(*selfie_with_landmarks("obama_smile_teeth_dark_skin"))
    frames = {i: f for i, f in enumerate(read_frames(scene.clip)) if i in FRAMES}
    assert set(frames) == set(FRAMES)
    out: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"toned": [], "control": [], "all": []}
    with pytest.MonkeyPatch.context() as patch:
        for variant in out:
            if variant != "toned":  # the controls: no skin found above the oval, or everything there taken for skin
                found = np.zeros if variant == "control" else np.ones
                patch.setattr(mesh, "scene_skin", lambda rgb, points, found=found: found(rgb.shape[:2], np.float32))
            for i, frame in frames.items():
                points = scene.analysis.at(i)
                assert points is not None
                out[variant].append((frame, swap_face(frame.copy(), points, source, NullTimer()), points))
    return out


def regions(frame: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bool masks: the actor's bare forehead in a band just above the oval, the output's forehead
    just inside it, and what is not skin (hair, wall) above the oval, within the toned reach."""
    width = face_width(points)
    oval = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(points[FACE_OVAL]).astype(np.int32)], 255)
    top = float(points[FACE_OVAL, 1].min())
    centre = float(points[FACE_OVAL, 0].mean())
    rows = np.arange(frame.shape[0], dtype=np.float32)[:, None]
    cols = np.arange(frame.shape[1], dtype=np.float32)[None, :]
    middle = np.abs(cols - centre) < 0.2 * width
    skin = np.zeros(frame.shape[:2], np.float32)
    y0, y1 = max(0, int(top - 0.3 * width)), int(top + 0.3 * width)
    x0, x1 = int(centre - 0.6 * width), int(centre + 0.6 * width)
    skin[y0:y1, x0:x1] = scene_skin(np.ascontiguousarray(frame[y0:y1, x0:x1]), points - np.array([x0, y0], np.float32))
    above = (rows < top - 0.02 * width) & (rows > top - 0.1 * width) & middle & (oval == 0)
    inside = (rows > top + 0.08 * width) & (rows < top + 0.16 * width) & middle & (oval > 0)
    reach = (rows < top - 0.02 * width) & (rows > top - 0.11 * width) & (np.abs(cols - centre) < 0.45 * width)
    return above & (skin > 0.9), inside, reach & (oval == 0) & (skin < 0.05)


def lightness(rgb: np.ndarray, where: np.ndarray) -> float:
    return float(np.median(to_lab(rgb)[..., 0][where]))


def test_forehead_above_the_oval_takes_the_users_tone(rendered):
    for (frame, toned, points), (_, control, _) in zip(rendered["toned"], rendered["control"], strict=True):
        band, forehead, _ = regions(frame, points)
        assert band.sum() > 100, "the actor's bare forehead above the oval should be found"
        user = lightness(toned, forehead)
        # The actor's forehead above the oval, in its shadow from the top light, is far darker than
        # the user's forehead as the output shows it (L 54 against 71 on these frames) ...
        assert abs(lightness(frame, band) - user) > 10
        # ... and above the oval the output now continues the user's forehead, where the control
        # (nothing toned above the oval) still shows the actor's.
        assert abs(lightness(toned, band) - user) < 5
        assert abs(lightness(control, band) - lightness(control, forehead)) > 10


def test_hair_and_wall_above_the_forehead_are_left_alone(rendered):
    for (frame, toned, points), (_, everything, _) in zip(rendered["toned"], rendered["all"], strict=True):
        _, _, other = regions(frame, points)
        assert other.sum() > 100, "the actor's hair above the forehead should be in view"
        change = np.abs(toned.astype(np.int16) - frame.astype(np.int16)).mean(axis=2)
        assert float(np.median(change[other])) < 2.0  # 0 on these frames
        # Taken for skin, his hair would be lightened like the forehead.
        control = np.abs(everything.astype(np.int16) - frame.astype(np.int16)).mean(axis=2)
        assert float(np.median(control[other])) > 6.0


def test_a_beige_wall_is_not_skin(rendered):
    """The webcam wall is beige, inside the skin model's wide tail: toned even a little, it glowed round the head."""
    for frame, _, points in rendered["toned"]:
        width = face_width(points)
        top, centre = float(points[FACE_OVAL, 1].min()), float(points[FACE_OVAL, 0].mean())
        y0, x0 = int(top - 0.1 * width), int(centre - width)
        region = np.ascontiguousarray(frame[y0:int(top + 0.8 * width), x0:int(centre + width)])
        local = points - np.array([x0, y0], np.float32)
        wall = (slice(0, int(0.2 * width)), slice(0, int(0.25 * width)))  # beside the head, left of the ear
        forehead = (slice(int(0.15 * width), int(0.25 * width)), slice(int(0.85 * width), int(1.15 * width)))
        skin = scene_skin(region, local)
        assert float(np.median(skin[forehead])) > 0.9
        assert float(np.median(skin[wall])) < 0.02
        assert float(np.median(skin_probability(region, local)[wall])) > 0.05  # the model's tail, which is cut
