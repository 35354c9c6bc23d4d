"""Face detection and the 478-point mesh, from the models bundled in mediapipe 0.10.21.

Images (selfies): a full-range detector counts the faces, then the mesh runs on a
crop around the single face, so a small face in a big photo still gets precise
landmarks. Video (scenes): the mesh runs in tracking mode, one instance per clip.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402

from zaobot.models.topology import FACE_OVAL  # noqa: E402

MESH_CROP_SIDE = 512  # the mesh sees the face at about this crop size


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixels."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def iou(self, other: FaceBox) -> float:
        x1, y1 = max(self.x, other.x), max(self.y, other.y)
        x2 = min(self.x + self.w, other.x + other.w)
        y2 = min(self.y + self.h, other.y + other.h)
        inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


def face_width(points: np.ndarray) -> float:
    """Width of the face oval in pixels."""
    oval = points[FACE_OVAL]
    return float(oval[:, 0].max() - oval[:, 0].min())


def _mesh_points(result: object, width: int, height: int) -> list[np.ndarray]:
    faces = getattr(result, "multi_face_landmarks", None) or []
    out = []
    for face in faces:
        pts = np.array([(p.x * width, p.y * height) for p in face.landmark], dtype=np.float32)
        out.append(pts)
    return out


class _Graphs:
    """Owns mediapipe graphs (native resources): closed by `close()` or at the end of a `with` block."""

    _graphs: tuple[Any, ...] = ()

    def close(self) -> None:
        for graph in self._graphs:
            graph.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PERSON_SIDE = 512  # the person mask's long side at most (FaceAnalyzer.person)


class FaceAnalyzer(_Graphs):
    """Detector + static mesh for still images. Not thread-safe: one per thread."""

    def __init__(self, min_score: float = 0.5) -> None:
        solutions = mp.solutions
        self._full = solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
        self._short = solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=min_score)
        self._mesh = solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
        )
        self._graphs = (self._full, self._short, self._mesh)
        self._person: Any = None  # selfie segmentation, loaded on first use: only a render's selfie needs it

    def person(self, rgb: np.ndarray) -> np.ndarray:
        """float32 in [0, 1]: how much each pixel is the person (hair and clothes included), not the
        backdrop: mediapipe's bundled selfie segmentation. Where hair around a face is sampled.

        The mask covers the whole image at PERSON_SIDE px on its long side at most (the model sees
        256 px anyway): at a 40 MP selfie's own size it would take 160 MB."""
        if self._person is None:
            self._person = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._graphs = (*self._graphs, self._person)
        scale = min(1.0, PERSON_SIDE / max(rgb.shape[:2]))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        mask = self._person.process(np.ascontiguousarray(rgb)).segmentation_mask
        return np.clip(np.asarray(mask, np.float32), 0.0, 1.0)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """All faces, largest first; both detector ranges merged so near and far faces count."""
        height, width = rgb.shape[:2]
        boxes: list[FaceBox] = []
        for detector in (self._full, self._short):
            result = detector.process(rgb)
            for det in result.detections or []:
                rel = det.location_data.relative_bounding_box
                box = FaceBox(rel.xmin * width, rel.ymin * height, rel.width * width, rel.height * height,
                              float(det.score[0]))
                if all(box.iou(seen) < 0.3 for seen in boxes):
                    boxes.append(box)
        return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)

    def landmarks(self, rgb: np.ndarray, box: FaceBox) -> np.ndarray | None:
        """478 landmarks (float32, pixels) for the face in `box`, or None if the mesh fails."""
        height, width = rgb.shape[:2]
        cx, cy = box.center
        side = max(box.w, box.h) * 2.2
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
        crop = rgb[y0:y1, x0:x1]
        scale = MESH_CROP_SIDE / max(crop.shape[:2])
        if scale < 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            scale = 1.0
        result = self._mesh.process(np.ascontiguousarray(crop))
        faces = _mesh_points(result, crop.shape[1], crop.shape[0])
        if not faces:
            return None
        pts = faces[0] / scale
        pts[:, 0] += x0
        pts[:, 1] += y0
        return pts.astype(np.float32)


class MeshTracker(_Graphs):
    """The mesh in tracking mode over one clip's frames. Make a fresh one per clip."""

    def __init__(self, max_faces: int = 3) -> None:
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=0.5, min_tracking_confidence=0.5,
        )
        self._graphs = (self._mesh,)

    def track(self, frames: Iterable[np.ndarray]) -> Iterator[list[np.ndarray]]:
        """For each RGB frame, every face's 478 landmarks (float32 pixels)."""
        for frame in frames:
            result = self._mesh.process(frame)
            yield _mesh_points(result, frame.shape[1], frame.shape[0])


class HandTracker(_Graphs):
    """mediapipe's hand landmarks in tracking mode over one clip's frames (the model ships in its
    wheel). Used at `scenes add` only: a hand in front of the actor's face must stay on top."""

    def __init__(self, max_hands: int = 2) -> None:
        self._hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=max_hands, model_complexity=0,
                                               min_detection_confidence=0.5, min_tracking_confidence=0.5)
        self._graphs = (self._hands,)

    def hands(self, frame: np.ndarray) -> list[np.ndarray]:
        """Every hand's 21 landmarks (float32 pixels) in one RGB frame."""
        result = self._hands.process(frame)
        found = getattr(result, "multi_hand_landmarks", None) or []
        h, w = frame.shape[:2]
        return [np.array([(p.x * w, p.y * h) for p in hand.landmark], np.float32) for hand in found]
