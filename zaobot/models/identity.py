"""Who a face is: dlib's ResNet face descriptor, with its 5-point aligner.

Both models ship in the `face_recognition_models` wheel and are public domain / CC0
(dlib-models README); the package's 68-point model is non-commercial (iBUG) and is
never loaded. Two descriptors closer than about 0.6 are the same person by dlib's own
calibration (99.38% on LFW). The live check uses it to tie a recording to the selfie;
the quality benchmark uses it as a judge the engines never see. Descriptors live in
memory only: nothing here writes to disk.
"""

from __future__ import annotations

import cv2
import dlib
import face_recognition_models
import numpy as np

from zaobot.models.topology import FACE_OVAL

SAME_PERSON = 0.6  # dlib's own threshold for its ResNet descriptor
METHOD = "dlib-resnet"


def oval_box(points: np.ndarray, size: tuple[int, int], pad: float = 0.0) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the face oval in a frame of `size` (W, H), grown by `pad` x its width."""
    oval = points[FACE_OVAL]
    lo, hi = oval.min(axis=0), oval.max(axis=0)
    grow = pad * float(hi[0] - lo[0])
    w, h = size
    return (max(0, int(lo[0] - grow)), max(0, int(lo[1] - grow)),
            min(w, int(hi[0] + grow) + 1), min(h, int(hi[1] + grow) + 1))


class FaceDescriber:
    """dlib ResNet descriptors of the face at a known place in an image. Not thread-safe, and
    dlib holds the GIL while it computes: run it in a worker process, never beside an event loop."""

    method = METHOD

    def __init__(self) -> None:
        self._detector = dlib.get_frontal_face_detector()  # HOG: no model file
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())

    def descriptor(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The 128-d descriptor of the face whose mesh landmarks are `points` (478, 2).

        dlib's aligner was trained on its own detector's boxes, so the face is re-detected
        near the landmarks (upsampled when small); the landmark box is the fallback."""
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = oval_box(points, (w, h), pad=0.5)
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        scale = max(1.0, 200.0 / max(1, x1 - x0))
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        found = self._detector(crop, 1 if crop.shape[1] < 400 else 0)
        centre = (points[FACE_OVAL].mean(axis=0) - [x0, y0]) * scale
        rect = None
        for r in found:
            if r.left() <= centre[0] <= r.right() and r.top() <= centre[1] <= r.bottom():
                rect = r
                break
        if rect is None:
            ix0, iy0, ix1, _ = oval_box(points, (w, h))
            width = ix1 - ix0
            left, top = (ix0 - x0) * scale, (iy0 - y0 + 0.15 * width) * scale
            rect = dlib.rectangle(int(left), int(top), int(left + width * scale), int(top + width * scale))
        shape = self._shape(crop, rect)
        return np.asarray(self._net.compute_face_descriptor(crop, shape), dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors: below SAME_PERSON, the same person."""
    return float(np.linalg.norm(a - b))
