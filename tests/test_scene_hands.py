"""The scene's own hands and objects stay in front of the swapped face (models/tracking.py, masks.hands_mask,
occlusion.scene_objects).

Real footage: the cued-speech clip of the quality set, where the speaker's hand passes in
front of her face. Without the hands the selfie was pasted over the hand, which then showed
through as a ghost; the control render shows that the test can fail.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from zaobot.media.scenes import Scene
from zaobot.media.video import read_frames
from zaobot.models.engine import NullTimer
from zaobot.models.landmarks import FaceAnalyzer
from zaobot.models.masks import hands_mask
from zaobot.models.mesh import build_source, swap_face
from zaobot.models.topology import FACE_OVAL
from zaobot.models.tracking import analyse_frames

SCENE = Path(__file__).resolve().parents[1] / "benchmarks" / "quality" / "scenes" / "cued-speech"


@pytest.fixture(scope="module")
def scene() -> Scene:
    return Scene.load(SCENE)


def frame_with_hand_on_face(scene: Scene) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(index, frame, face landmarks, hands) of the frame whose hand covers most of the face oval."""
    analysis = scene.analysis
    best, best_share = -1, 0.0
    for i in range(len(analysis.present)):
        hands, face = analysis.hands_at(i), analysis.at(i)
        if hands is None or face is None:
            continue
        shape = (scene.height, scene.width)
        oval = np.zeros(shape, np.uint8)
        cv2.fillPoly(oval, [np.round(face[FACE_OVAL]).astype(np.int32)], 255)
        share = float((hands_mask(hands, shape, 1.0)[oval > 0] > 0.5).mean())
        if share > best_share:
            best, best_share = i, share
    assert best_share > 0.05, "the clip should have a hand in front of the face"
    frame = next(f for i, f in enumerate(read_frames(scene.clip)) if i == best)
    return best, frame, analysis.at(best), analysis.hands_at(best)


def test_analysis_finds_the_hands(scene):
    frames = [f for i, f in enumerate(read_frames(scene.clip)) if i < 30]
    analysis = analyse_frames(frames)
    seen = [analysis.hands_at(i) for i in range(len(frames))]
    assert sum(h is not None for h in seen) >= 10
    hand = next(h for h in seen if h is not None)
    assert hand.shape[1:] == (21, 2)
    assert (hand[..., 0] >= -50).all() and (hand[..., 0] <= scene.width + 50).all()


def test_hand_in_front_of_the_face_stays_the_scenes(scene, astronaut):
    with FaceAnalyzer() as analyzer:
        points = analyzer.landmarks(astronaut, analyzer.detect(astronaut)[0])
    source = build_source(astronaut, points)
    _, frame, face, hands = frame_with_hand_on_face(scene)

    shape = frame.shape[:2]
    oval = np.zeros(shape, np.uint8)
    cv2.fillPoly(oval, [np.round(face[FACE_OVAL]).astype(np.int32)], 255)
    core = cv2.erode(hands_mask(hands, shape, 1.0), np.ones((5, 5), np.uint8)) > 0.99
    on_face = core & (oval > 0)
    assert on_face.sum() > 100

    with_hands = swap_face(frame.copy(), face, source, NullTimer(), hands=hands)
    without = swap_face(frame.copy(), face, source, NullTimer())

    def change(out: np.ndarray) -> float:
        return float(np.abs(out.astype(np.int16) - frame.astype(np.int16))[on_face].mean())

    assert change(without) > 10  # the control: the selfie was pasted over the hand
    assert change(with_hands) < 2  # the hand is the scene's own, colour included
    # ... and the rest of the face is still swapped.
    rest = (oval > 0) & ~(hands_mask(hands, shape, 1.0) > 0.01)
    assert float(np.abs(with_hands.astype(np.int16) - frame.astype(np.int16))[rest].mean()) > 10


def test_microphone_in_front_of_the_face_stays_the_scenes(scene, astronaut, monkeypatch):
    """The speaker's black headset microphone (occlusion.scene_objects) is kept in front of the face;
    her glasses rims and her eyes are not taken for objects."""
    import zaobot.models.mesh as mesh
    from zaobot.models.occlusion import scene_objects
    from zaobot.models.topology import LEFT_EYE, RIGHT_EYE

    with FaceAnalyzer() as analyzer:
        points = analyzer.landmarks(astronaut, analyzer.detect(astronaut)[0])
    source = build_source(astronaut, points)
    index = 60
    frame = next(f for i, f in enumerate(read_frames(scene.clip)) if i == index)
    face = scene.analysis.at(index)
    shape = frame.shape[:2]
    oval = np.zeros(shape, np.uint8)
    cv2.fillPoly(oval, [np.round(face[FACE_OVAL]).astype(np.int32)], 255)
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    mic = cv2.erode(((luma < 50) & (oval > 0)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert mic.sum() > 150, "the speaker's microphone should be in front of her cheek"

    found = scene_objects(frame, face) > 0.5
    assert found[mic].mean() > 0.95
    eyes = np.zeros(shape, np.uint8)
    for loop in (RIGHT_EYE, LEFT_EYE):
        cv2.fillPoly(eyes, [np.round(face[loop]).astype(np.int32)], 255)
    assert not found[eyes > 0].any()
    assert found[oval > 0].mean() < 0.15  # the microphone, not the face

    def change(out: np.ndarray, where: np.ndarray) -> float:
        return float(np.abs(out.astype(np.int16) - frame.astype(np.int16))[where].mean())

    kept = swap_face(frame.copy(), face, source, NullTimer())
    monkeypatch.setattr(mesh, "scene_objects", lambda rgb, pts: np.zeros(rgb.shape[:2], np.float32))
    pasted = swap_face(frame.copy(), face, source, NullTimer())
    assert change(pasted, mic) > 20  # the control: the face was painted over the microphone
    assert change(kept, mic) < 3
    assert change(kept, (oval > 0) & ~cv2.dilate(found.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)) > 10


def test_no_objects_on_a_clear_face():
    from zaobot.models.occlusion import scene_objects

    talk = Scene.load(SCENE.parent / "webcam-talk")
    for index, frame in enumerate(read_frames(talk.clip)):
        if index % 40 == 0:
            assert not (scene_objects(frame, talk.analysis.at(index)) > 0.5).any(), index
