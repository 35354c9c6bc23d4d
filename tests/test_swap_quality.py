"""The mesh engine's quality rules, checked on real pixels: occluders, mouth, eyes, tone, light.

Each test renders real frames of the bundled scene with a real photo (the astronaut),
changed the way ordinary selfies differ: hair across the forehead, a darker skin, a
covered face, and compares against a control render that shows the test can fail.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot import errors
from zaobot.models import mesh
from zaobot.models.engine import NullTimer
from zaobot.models.landmarks import FaceAnalyzer, face_width
from zaobot.models.mesh import MeshSource, build_source, face_roi, region_masks, swap_face
from zaobot.models.selfie_face import validate_face
from zaobot.models.topology import FACE_OVAL, LEFT_EYE_LIDS, OUTER_LIPS, RIGHT_EYE_LIDS


@pytest.fixture(scope="module")
def astronaut_points(astronaut):
    with FaceAnalyzer() as analyzer:
        return analyzer.landmarks(astronaut, analyzer.detect(astronaut)[0])


@pytest.fixture(scope="module")
def scene_frame(demo_scene):
    from zaobot.media.video import read_frames

    for i, frame in enumerate(read_frames(demo_scene.clip)):
        if i == 40:
            return frame, demo_scene.analysis.at(40)
    raise AssertionError("short scene")


def render(source: MeshSource, scene_frame) -> np.ndarray:
    frame, landmarks = scene_frame
    return swap_face(frame.copy(), landmarks, source, NullTimer())


def region(points: np.ndarray, idx: np.ndarray, shape: tuple[int, int], grow: int = 0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points[idx]).astype(np.int32)], 255)
    if grow < 0:
        mask = cv2.erode(mask, np.ones((1 - 2 * grow, 1 - 2 * grow), np.uint8))
    return mask > 0


def forehead_box(points: np.ndarray) -> tuple[slice, slice]:
    """The middle of the forehead: between the brows' inner ends, from the hairline down to the brows."""
    x0, x1 = sorted((points[107, 0], points[336, 0]))
    y0, y1 = points[10, 1] + 0.03 * face_width(points), points[107, 1] - 0.03 * face_width(points)
    return slice(int(y0), int(y1)), slice(int(x0) - 10, int(x1) + 10)


def with_hair_strands(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Dark hair strands drawn diagonally across the forehead, as a fringe falls."""
    out = rgb.copy()
    rows, cols = forehead_box(points)
    for k in range(6):
        x = cols.start - 20 + k * 14
        cv2.line(out, (x, rows.start - 10), (x + 30, rows.stop - 4), (58, 40, 28), 3, cv2.LINE_AA)
    return out


def test_hair_strands_stay_off_the_actors_face(astronaut, astronaut_points, scene_frame, monkeypatch):
    clean = build_source(astronaut, astronaut_points)
    strands = build_source(with_hair_strands(astronaut, astronaut_points), astronaut_points)
    with monkeypatch.context() as patch:  # the same texture without its hair filled in with skin
        patch.setattr(mesh, "skin_fill", lambda rgb, *_: rgb)
        raw = build_source(with_hair_strands(astronaut, astronaut_points), astronaut_points)
    # The strands are found: the texture's alpha is low on them, high on the cheeks.
    rows, cols = forehead_box(strands.points)
    alpha = strands.rgba[..., 3]
    drawn = np.abs(raw.rgba[..., :3].astype(int) - clean.rgba[..., :3].astype(int)).sum(axis=2) > 60
    assert drawn[rows, cols].mean() > 0.1
    assert alpha[rows, cols][drawn[rows, cols]].mean() < 60
    # ... and under them the texture is skin, so the mask's soft edge fades into skin, not into a strand.
    # Measured: the strands differ from the clean forehead by 202 (RGB sum, median), the filled skin by 68.
    def off_clean(texture: MeshSource) -> float:
        diff = np.abs(texture.rgba[..., :3].astype(int) - clean.rgba[..., :3].astype(int)).sum(axis=2)
        return float(np.median(diff[rows, cols][drawn[rows, cols]]))

    assert off_clean(strands) < 0.5 * off_clean(raw)
    cheek = np.round(strands.points[50]).astype(int)
    assert alpha[cheek[1] - 5:cheek[1] + 5, cheek[0] - 5:cheek[0] + 5].min() > 240

    out_clean, out_strands = render(clean, scene_frame), render(strands, scene_frame)
    # Control: the same strands pasted without the occluder map would show.
    pasted = raw.with_texture(np.dstack([raw.rgba[..., :3], clean.rgba[..., 3]]))
    out_pasted = render(pasted, scene_frame)
    rows, cols = forehead_box(scene_frame[1])

    def stripes(img: np.ndarray) -> float:  # share of the forehead made much darker than without strands
        a = cv2.cvtColor(img[rows, cols], cv2.COLOR_RGB2GRAY).astype(float)
        b = cv2.cvtColor(out_clean[rows, cols], cv2.COLOR_RGB2GRAY).astype(float)
        return float((b - a > 40).mean())

    assert stripes(out_pasted) > 0.15, "control: pasted strands should show"
    assert stripes(out_strands) < 0.02, "strands pasted onto the actor's forehead"


def test_open_mouth_comes_from_the_scene(astronaut, astronaut_points, scene_frame):
    # The selfie's lips are painted with stripes, so they can't pass for the scene's own.
    painted = astronaut.copy()
    lips = region(astronaut_points, OUTER_LIPS, painted.shape[:2])
    painted[lips & (np.indices(lips.shape)[1] % 6 < 3)] = (40, 160, 60)
    source = build_source(painted, astronaut_points)
    assert source.mouth_open, "the astronaut smiles with her teeth showing"
    out = render(source, scene_frame)
    frame, landmarks = scene_frame
    mouth = region(landmarks, OUTER_LIPS, frame.shape[:2], grow=-2)
    # Inside the actor's lips the picture is the scene's mouth (toned, so compare structure).
    a = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[mouth].astype(float)
    b = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[mouth].astype(float)
    assert np.corrcoef(a, b)[0, 1] > 0.95
    closed = MeshSource(**{**source.__dict__, "mouth_open": False})
    c = cv2.cvtColor(render(closed, scene_frame), cv2.COLOR_RGB2GRAY)[mouth].astype(float)
    assert np.corrcoef(c, b)[0, 1] < np.corrcoef(a, b)[0, 1] - 0.02, "control: the selfie's lips differ"


def test_skin_tone_is_the_users_and_light_is_the_scenes(astronaut, astronaut_points, scene_frame):
    """A darker-skinned selfie stays darker than the actor, under the scene's shading."""
    darker = np.clip(astronaut.astype(np.float32) * 0.62, 0, 255).astype(np.uint8)
    source = build_source(darker, astronaut_points)
    out = render(source, scene_frame)
    frame, landmarks = scene_frame
    roi = face_roi(landmarks, (frame.shape[1], frame.shape[0]))
    assert roi is not None
    x0, y0, x1, y1 = roi
    size = (x1 - x0, y1 - y0)
    masks, _ = region_masks(landmarks - np.array([x0, y0], np.float32), size, source)
    core = cv2.resize(masks.core * (masks.sharp > 0.5), size) > 0.8

    def lightness(img: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)

    selfie_l = float(cv2.cvtColor(darker, cv2.COLOR_RGB2LAB)[..., 0][
        region(astronaut_points, FACE_OVAL, darker.shape[:2], grow=-20)].mean())
    out_l, scene_l = float(lightness(out)[core].mean()), float(lightness(frame)[core].mean())
    assert abs(out_l - selfie_l) < 0.35 * abs(scene_l - selfie_l), (out_l, selfie_l, scene_l)
    sigma = 0.08 * (x1 - x0)
    low_out = cv2.GaussianBlur(lightness(out), (0, 0), sigma)[core]
    low_scene = cv2.GaussianBlur(lightness(frame), (0, 0), sigma)[core]
    assert np.corrcoef(low_out, low_scene)[0, 1] > 0.8


def test_mostly_covered_face_is_refused(astronaut, astronaut_points):
    covered = astronaut.copy()
    pts = astronaut_points
    top = int(pts[6, 1])  # from the nose bridge down: a scarf or a mask
    x0, x1 = int(pts[FACE_OVAL][:, 0].min()) - 5, int(pts[FACE_OVAL][:, 0].max()) + 5
    covered[top:int(pts[152, 1]) + 10, x0:x1] = (70, 110, 170)
    with pytest.raises(errors.FaceCovered):
        build_source(covered, pts)
    assert build_source(astronaut, pts).covered < 0.3


def test_closed_eyes_refused_half_closed_use_the_scenes(astronaut_points):
    closed = astronaut_points.copy()
    for top, bottom, _, _ in (RIGHT_EYE_LIDS, LEFT_EYE_LIDS):
        closed[top] = closed[bottom] = (astronaut_points[top] + astronaut_points[bottom]) / 2
    with pytest.raises(errors.EyesClosed):
        validate_face(closed, 80)
    validate_face(astronaut_points, 80)


def test_one_eye_shut_while_the_other_is_open_is_refused(astronaut_points):
    """A wink (or an eye under hair that the mesh guessed open) is refused; two eyes lowered alike are not."""
    wink = astronaut_points.copy()
    top, bottom, _, _ = RIGHT_EYE_LIDS
    wink[top] = wink[bottom] = (astronaut_points[top] + astronaut_points[bottom]) / 2
    with pytest.raises(errors.EyeClosedOrHidden):
        validate_face(wink, 80)
    lowered = astronaut_points.copy()  # both lids half down: a squint or a downward look, accepted
    for top, bottom, _, _ in (RIGHT_EYE_LIDS, LEFT_EYE_LIDS):
        lowered[top] = lowered[bottom] + 0.45 * (astronaut_points[top] - astronaut_points[bottom])
    validate_face(lowered, 80)


@pytest.mark.parametrize(("folder", "name", "error"), [
    ("selfies_extra", "faceapi_hair_over_face_looking_down", errors.EyeClosedOrHidden),  # one shut, one under hair
    ("selfies", "faceapi_eyes_half_closed_dark_makeup", None),  # both lowered: rendered with the scene's eyes
    ("selfies", "faceapi_eyes_down_hand_in_hair", None),
    ("selfies", "faceapi_laughing_teeth_head_tilt", None),  # a laugh's squint is not a wink
])
def test_real_selfies_with_hidden_or_lowered_eyes(folder, name, error):
    from zaobot.config import PACKAGE_DIR
    from zaobot.media.images import decode_image
    from zaobot.models.selfie_face import locate_face

    path = PACKAGE_DIR.parent / "benchmarks" / "quality" / folder / f"{name}.jpg"
    rgb = decode_image(path.read_bytes(), max_bytes=1 << 24, max_pixels=1 << 24)
    with FaceAnalyzer() as analyzer:
        if error is None:
            assert locate_face(analyzer, rgb, 80).shape == (478, 2)
        else:
            with pytest.raises(error):
                locate_face(analyzer, rgb, 80)


def test_mirror_table_is_the_faces_symmetry():
    from zaobot.models.topology import LEFT_EYE, MIDLINE, MIRROR, RIGHT_EYE

    assert (MIRROR[MIRROR] == np.arange(len(MIRROR))).all()
    assert set(MIRROR[RIGHT_EYE]) == set(LEFT_EYE)
    assert len(MIDLINE) == 28 and {1, 10, 152} <= set(MIDLINE.tolist())


def test_turned_selfie_is_made_frontal():
    """A real selfie turned to one side (the quality set's Luis Pedro photo) becomes symmetric."""
    from zaobot.config import PACKAGE_DIR
    from zaobot.media.images import decode_image
    from zaobot.models.frontal import frontalise
    from zaobot.models.selfie_face import yaw

    path = PACKAGE_DIR.parent / "benchmarks" / "quality" / "selfies_extra" / "luispedro_neutral_stubble_turned.jpg"
    rgb = decode_image(path.read_bytes(), max_bytes=1 << 24, max_pixels=1 << 24)
    with FaceAnalyzer() as analyzer:
        points = analyzer.landmarks(rgb, analyzer.detect(rgb)[0])
    assert abs(yaw(points) - 0.5) > 0.25
    image, front = frontalise(rgb, points, yaw(points))
    assert image.shape == rgb.shape
    assert abs(yaw(front) - 0.5) < 0.1
    # The two cheeks now look alike: the far one is the near one, mirrored.
    from zaobot.models.frontal import midline, reflect
    normal, offset = midline(front)
    cheek_a = np.round(front[205]).astype(int)
    cheek_b = np.round(reflect(front[[425]], normal, offset)[0]).astype(int)
    assert np.abs(front[205] - reflect(front[[425]], normal, offset)[0]).max() < 0.1 * face_width(front)

    def patch(img: np.ndarray, c: np.ndarray) -> np.ndarray:
        return img[c[1] - 6:c[1] + 7, c[0] - 6:c[0] + 7].astype(float).mean(axis=(0, 1))

    assert np.abs(patch(image, cheek_a) - patch(image, cheek_b)).max() < 25
    # A frontal selfie is left alone.
    same, same_points = frontalise(rgb, front, 0.5)
    assert same is rgb and same_points is front


def test_mouth_follows_the_actor_when_it_opens_wider(astronaut_points, astronaut):
    from zaobot.models.mesh import mouth_from_scene
    from zaobot.models.topology import LOWER_LIP_INNER, UPPER_LIP_INNER

    source = build_source(astronaut, astronaut_points)
    closed = MeshSource(**{**source.__dict__, "mouth_open": False, "mouth_gap": 0.0})
    scene = astronaut_points.copy()
    scene[LOWER_LIP_INNER] = scene[UPPER_LIP_INNER]  # the actor's mouth shut
    assert mouth_from_scene(scene, closed) == 0.0
    talking = scene.copy()
    talking[LOWER_LIP_INNER, 1] += 0.05 * face_width(scene) * 0.4  # a syllable: the user's lips stay
    assert mouth_from_scene(talking, closed) == 0.0
    scene[LOWER_LIP_INNER, 1] += 0.3 * face_width(scene) * 0.4  # wide open
    assert mouth_from_scene(scene, closed) == 1.0
    assert mouth_from_scene(scene, source) == 1.0 and source.mouth_open


def test_pyramid_level_matches_the_scene_face(astronaut, astronaut_points):
    from zaobot.models.mesh import pick_level

    big = cv2.resize(astronaut, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # a 280 px face
    source = build_source(big, (astronaut_points + 0.5) * 3 - 0.5)
    widths = [level.face_px for level in source.levels]
    assert widths == sorted(widths, reverse=True) and len(widths) >= 2
    assert pick_level(source, widths[0] * 0.3).face_px == min(w for w in widths if w >= widths[0] * 0.3)
    assert pick_level(source, widths[0] * 2).face_px == widths[0]
