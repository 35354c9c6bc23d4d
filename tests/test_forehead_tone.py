"""The actor's forehead above the face oval takes the user's skin tone (masks.forehead, occlusion.scene_skin).

Real photo, real footage: the quality set's Obama photo in the webcam-talk clip, whose actor's
forehead reaches well above the mesh's oval and, there, is much darker and redder than the user's
skin as the output shows it. Left as it was, that forehead showed as a band over the user's face.
Two control renders show the tests can fail: no skin found above the oval (nothing toned there),
and everything there taken for skin (his hair toned too, as a bald actor's temples would be).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.media.scenes import Scene
from zaobot.media.video import read_frames
from zaobot.models import masks, mesh
from zaobot.models.engine import NullTimer
from zaobot.models.landmarks import face_width
from zaobot.models.masks import FOREHEAD_REACH
from zaobot.models.mesh import build_source, swap_face
from zaobot.models.occlusion import SAMPLE_POINTS, scene_skin, skin_probability
from zaobot.models.tone import to_lab
from zaobot.models.topology import FACE_OVAL, LEFT_BROW, RIGHT_BROW

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
    """bool masks, chosen by the scene's own colours (not by the engine's skin test): the actor's
    bare forehead in a band just above the oval (skin-red, as light as his forehead), the output's
    forehead just inside the oval, and his dark hair within the toned reach above the oval."""
    width = face_width(points)
    oval = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(points[FACE_OVAL]).astype(np.int32)], 255)
    top = float(points[FACE_OVAL, 1].min())
    centre = float(points[FACE_OVAL, 0].mean())
    rows = np.arange(frame.shape[0], dtype=np.float32)[:, None]
    cols = np.arange(frame.shape[1], dtype=np.float32)[None, :]
    middle = np.abs(cols - centre) < 0.2 * width
    lab = to_lab(frame)
    inside = (rows > top + 0.08 * width) & (rows < top + 0.16 * width) & middle & (oval > 0)
    skin_l = float(np.median(lab[..., 0][inside]))  # the actor's own forehead, inside the oval
    above = (rows < top - 0.02 * width) & (rows > top - 0.1 * width) & middle & (oval == 0)
    bare = (lab[..., 1] > 15) & (lab[..., 0] > 0.75 * skin_l)
    outside = cv2.distanceTransform(255 - oval, cv2.DIST_L2, 3)
    reach = (outside > 0.02 * width) & (outside < 0.12 * width) & (rows < top + 0.05 * width)
    return above & bare, inside, reach & (lab[..., 0] < 0.6 * skin_l)


def lightness(rgb: np.ndarray, where: np.ndarray) -> float:
    return float(np.median(to_lab(rgb)[..., 0][where]))


def change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)


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


def test_hair_above_the_forehead_is_left_alone(rendered):
    for (frame, toned, points), (_, everything, _) in zip(rendered["toned"], rendered["all"], strict=True):
        _, _, hair = regions(frame, points)
        assert hair.sum() > 50, "the actor's hair above the forehead should be in view"
        # Only its soft edge against the forehead moves (median 3-6 grey levels on these frames) ...
        assert float(np.median(change(toned, frame)[hair])) < 8.0
        # ... where, taken for skin, it would be lightened like the forehead (43).
        assert float(np.median(change(everything, frame)[hair])) > 20.0


def test_the_tone_fades_out_before_the_regions_sides(rendered):
    """The region grows only upward; the band used to end in a hard vertical edge at its sides
    (40-49 grey levels where everything is taken for skin, as on a bald temple)."""
    for frame, everything, points in rendered["all"]:
        size = (frame.shape[1], frame.shape[0])
        roi = mesh.face_roi(points, size, up=FOREHEAD_REACH)
        assert roi is not None
        x0, y0, x1, _ = mesh.grid_roi(roi, size)
        brows = int(points[FACE_OVAL, 1].min() + 0.1 * face_width(points))
        moved = change(everything, frame)
        for column in (x0, x1 - 1):
            assert float(moved[y0:brows, column].mean()) < 3.0
        assert float(moved[y0:brows, x0:x1].max()) > 20.0  # the band itself is toned


def test_a_tilted_head_is_toned_on_both_sides():
    """'Above the brows' is along the face's own axis: with image rows, a head rolled 25 degrees kept
    a third of the band on its lowered side and toned the raised side's temple below the brows."""
    scene = Scene.load(QUALITY / "scenes" / "webcam-talk")
    upright = scene.analysis.at(30)
    assert upright is not None
    centre = upright[FACE_OVAL].mean(axis=0)
    shape = (400, 400)
    for degrees in (-25.0, 25.0):
        t = np.deg2rad(degrees)
        turn = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
        points = ((upright - centre) @ turn.T + np.array([200.0, 220.0], np.float32)).astype(np.float32)
        oval = masks.polygon_mask(shape, points[FACE_OVAL], 1.0)
        width = face_width(points)
        weight = masks.forehead(oval, points, width, 1.0)
        ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
        face = (np.stack([xs, ys], axis=-1) - np.array([200.0, 220.0], np.float32)) @ turn  # back upright
        brows = float((upright[np.r_[RIGHT_BROW, LEFT_BROW], 1] - centre[1]).min())
        outside = cv2.distanceTransform(255 - oval, cv2.DIST_L2, 3)
        band = (outside > 0) & (outside < 0.6 * FOREHEAD_REACH * width) & (face[..., 1] < brows - 0.1 * width)
        for side in (face[..., 0] < 0, face[..., 0] >= 0):
            assert float(weight[band & side].mean()) > 0.9
        below = (outside > 0) & (face[..., 1] > brows)
        assert float(weight[below].max()) < 0.1


def test_a_face_cut_off_at_the_top_is_swapped_not_whited_out():
    """With the actor's sampled skin above the frame, the skin model's median was NaN, and the NaN
    ran through the tone into the picture: the face region came out white."""
    scene = Scene.load(QUALITY / "scenes" / "webcam-talk")
    source = build_source(*selfie_with_landmarks("obama_smile_teeth_dark_skin"))
    frame = next(f for i, f in enumerate(read_frames(scene.clip)) if i == 30)
    points = scene.analysis.at(30)
    assert points is not None
    cut = int(points[list(SAMPLE_POINTS), 1].max() + 0.04 * face_width(points) + 2)  # below every sample
    frame, points = np.ascontiguousarray(frame[cut:]), points - np.array([0, cut], np.float32)
    assert scene_skin(frame, points).max() == 0.0
    out = swap_face(frame.copy(), points, source, NullTimer())
    moved = change(out, frame)
    assert moved.max() > 20.0  # the lower face is still swapped ...
    assert float(np.percentile(moved[moved > 0], 95)) < 120.0  # ... not painted white (240)


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
