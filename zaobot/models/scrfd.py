"""SCRFD face detector (insightface's det_10g.onnx), for scene pre-analysis when the operator has it.

Better than the mesh's detector on profiles and small faces. Nine outputs: scores, box distances
and keypoint distances for strides 8, 16 and 32, two anchors per location.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from zaobot.models.onnx_session import ModelError, OnnxModel, Port, choose_providers

STRIDES = (8, 16, 32)
ANCHORS = 2
INPUT = 640
DETECTOR_FILES = ("buffalo_l/det_10g.onnx", "det_10g.onnx")


def detector_path(models_dir: Path) -> Path | None:
    root = Path(models_dir).expanduser()
    return next((root / f for f in DETECTOR_FILES if (root / f).is_file()), None)


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x0, y0, x1, y1 in frame pixels
    score: float
    keypoints: np.ndarray  # (5, 2) in frame pixels


def anchor_centres(stride: int, size: int = INPUT) -> np.ndarray:
    """(cells * ANCHORS, 2) anchor centres for one stride, in insightface's order."""
    n = size // stride
    ys, xs = np.mgrid[:n, :n]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, ANCHORS, axis=0)


def decode(outputs: list[np.ndarray], scale: float, threshold: float = 0.5, nms: float = 0.4) -> list[Detection]:
    """Turn SCRFD's nine outputs (for a 640x640 input) into detections in frame coordinates."""
    boxes, scores, kpss = [], [], []
    for i, stride in enumerate(STRIDES):
        score = outputs[i].reshape(-1)
        dist = outputs[i + 3].reshape(-1, 4) * stride
        kd = outputs[i + 6].reshape(-1, 10) * stride
        centres = anchor_centres(stride)
        keep = np.flatnonzero(score >= threshold)
        if len(keep) == 0:
            continue
        c = centres[keep]
        boxes.append(np.concatenate([c - dist[keep, :2], c + dist[keep, 2:]], axis=1))
        scores.append(score[keep])
        kpss.append((np.tile(c, 5) + kd[keep]).reshape(-1, 5, 2))
    if not boxes:
        return []
    all_boxes = np.concatenate(boxes) / scale
    all_scores = np.concatenate(scores)
    all_kps = np.concatenate(kpss) / scale
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in all_boxes]
    kept = cv2.dnn.NMSBoxes(xywh, all_scores.astype(float).tolist(), threshold, nms)
    order = np.array(kept).reshape(-1)
    return [Detection(all_boxes[i], float(all_scores[i]), all_kps[i]) for i in order]


class ScrfdDetector:
    def __init__(self, path: Path, cache_dir: Path) -> None:
        outputs = [Port((1,))] * 3 + [Port((4,))] * 3 + [Port((10,))] * 3
        self.model = OnnxModel(path, [Port((3, INPUT, INPUT))], outputs, providers=choose_providers(),
                               cache_dir=cache_dir, name="scrfd", check_outputs=False, batch_axis=False)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        scale = INPUT / max(h, w)
        canvas = np.zeros((INPUT, INPUT, 3), np.float32)
        canvas[: round(h * scale), : round(w * scale)] = cv2.resize(rgb, (round(w * scale), round(h * scale)))
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        return decode(self.model.run_all(blob), scale)


def load_detector(models_dir: Path, cache_dir: Path) -> ScrfdDetector | None:
    path = detector_path(models_dir)
    if path is None:
        return None
    try:
        return ScrfdDetector(path, cache_dir)
    except ModelError:
        return None
