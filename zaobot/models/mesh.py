"""The embedded CPU engine: mediapipe mesh + piecewise-affine warp + colour transfer + feathered blend.

Needs no downloaded weights. All per-frame work is confined to the face's
region of interest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zaobot.errors import FaceTooSmall, FaceTurnedAway, MultipleFaces, NoFace
from zaobot.models.blend import colour_lut, composite, face_mask, lab_stats
from zaobot.models.engine import StageTimer
from zaobot.models.landmarks import FaceAnalyzer, FaceBox, face_width
from zaobot.models.topology import FACE_OVAL, eye_openness, five_keypoints, yaw_ratio
from zaobot.models.warp import triangulate, warp_maps

SOURCE_FACE_MAX_PX = 512  # larger selfie faces are downscaled to this face width
EYES_OPEN_MIN = 0.14
YAW_LIMITS = (0.2, 0.8)
MAP_SIDE = 112  # the warp map is built at about this many pixels on its long side
FEATHER = 0.07  # soft-edge width, as a fraction of the face width


@dataclass(frozen=True)
class MeshSource:
    """A prepared selfie face. Lives in memory only; never written to disk."""

    lab: np.ndarray  # uint8 (h, w, 3) LAB crop around the face
    points: np.ndarray  # float32 (478, 2) landmarks in crop coordinates
    triangles: np.ndarray  # int32 (T, 3)
    lab_mean: np.ndarray  # float32 (3,)
    lab_std: np.ndarray  # float32 (3,)
    eyes_open: bool
    keypoints: np.ndarray  # float32 (5, 2) in crop coordinates


def count_faces(boxes: list[FaceBox]) -> int:
    """Faces that matter: a tiny face far in the background of a selfie is not counted."""
    if not boxes:
        return 0
    largest = max(b.w for b in boxes)
    return sum(1 for b in boxes if b.w >= max(24.0, 0.25 * largest))


def locate_face(analyzer: FaceAnalyzer, selfie: np.ndarray, min_face_px: int) -> np.ndarray:
    """The 478 landmarks of the selfie's one usable face; raises the specific SelfieError otherwise."""
    boxes = analyzer.detect(selfie)
    faces = count_faces(boxes)
    if faces == 0:
        raise NoFace()
    if faces > 1:
        raise MultipleFaces(count=faces)
    points = analyzer.landmarks(selfie, boxes[0])
    if points is None:
        raise NoFace()
    validate_face(points, min_face_px)
    return points


def validate_face(points: np.ndarray, min_face_px: int) -> None:
    width = face_width(points)
    if width < min_face_px:
        raise FaceTooSmall(detail=f"{width:.0f} px, at least {min_face_px} px needed")
    yaw = yaw_ratio(points)
    if not YAW_LIMITS[0] <= yaw <= YAW_LIMITS[1]:
        raise FaceTurnedAway()


def build_source(rgb: np.ndarray, points: np.ndarray) -> MeshSource:
    """Crop, scale and measure the selfie face once, so each frame only warps."""
    oval = points[FACE_OVAL]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    margin = 0.15 * (x1 - x0)
    h, w = rgb.shape[:2]
    cx0, cy0 = int(max(0, x0 - margin)), int(max(0, y0 - margin))
    cx1, cy1 = int(min(w, x1 + margin + 1)), int(min(h, y1 + margin + 1))
    crop = rgb[cy0:cy1, cx0:cx1]
    pts = points - np.array([cx0, cy0], dtype=np.float32)
    scale = min(1.0, SOURCE_FACE_MAX_PX / max(1.0, float(x1 - x0)))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        pts = (pts + 0.5) * scale - 0.5
    crop = np.ascontiguousarray(crop)
    size = (crop.shape[1], crop.shape[0])
    mask = face_mask(pts, size, feather=FEATHER * face_width(pts), keep_eyes=True)
    mean, std = lab_stats(crop, mask)
    return MeshSource(
        lab=cv2.cvtColor(crop, cv2.COLOR_RGB2LAB),
        points=pts.astype(np.float32),
        triangles=triangulate(pts),
        lab_mean=mean,
        lab_std=std,
        eyes_open=eye_openness(pts) >= EYES_OPEN_MIN,
        keypoints=five_keypoints(pts),
    )


def face_roi(points: np.ndarray, frame_size: tuple[int, int], pad: int = 2) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the face oval in the frame, or None when it is off-frame or tiny."""
    width, height = frame_size
    oval = points[FACE_OVAL]
    x0 = max(0, int(np.floor(oval[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(oval[:, 1].min())) - pad)
    x1 = min(width, int(np.ceil(oval[:, 0].max())) + pad + 1)
    y1 = min(height, int(np.ceil(oval[:, 1].max())) + pad + 1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return x0, y0, x1, y1


def swap_face(
    frame: np.ndarray, landmarks: np.ndarray | None, source: MeshSource, timer: StageTimer
) -> np.ndarray:
    """Swap `source` onto the face at `landmarks` (478, 2) in `frame` (H, W, 3) uint8 RGB."""
    if landmarks is None:
        return frame
    roi = face_roi(landmarks, (frame.shape[1], frame.shape[0]))
    if roi is None:
        return frame
    x0, y0, x1, y1 = roi
    size = (x1 - x0, y1 - y0)
    pts = landmarks - np.array([x0, y0], dtype=np.float32)
    scale = min(1.0, MAP_SIDE / max(size))
    with timer.stage("swap"):
        map_x, map_y = warp_maps(pts, source.points, source.triangles, size, scale)
        warped_lab = cv2.remap(source.lab, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    with timer.stage("blend"):
        scene_roi = frame[y0:y1, x0:x1]
        feather = FEATHER * face_width(pts)
        small_mask = face_mask(pts, size, feather=feather, keep_eyes=source.eyes_open, scale=scale)
        mask = cv2.resize(small_mask, size, interpolation=cv2.INTER_LINEAR)
        small_scene = cv2.resize(scene_roi, (small_mask.shape[1], small_mask.shape[0]), interpolation=cv2.INTER_AREA)
        dst_mean, dst_std = lab_stats(small_scene, small_mask)
        lut = colour_lut(source.lab_mean, source.lab_std, dst_mean, dst_std)
        face_rgb = cv2.cvtColor(cv2.LUT(warped_lab, lut), cv2.COLOR_LAB2RGB)
        out = frame.copy()
        out[y0:y1, x0:x1] = composite(scene_roi, face_rgb, mask)
    return out


class MeshEngine:
    """The `mesh` engine. One instance per worker thread (mediapipe graphs are not thread-safe)."""

    name = "mesh"

    def __init__(self, min_face_px: int = 80) -> None:
        self.min_face_px = min_face_px
        self._analyzer = FaceAnalyzer()

    def prepare_source(self, selfie: np.ndarray) -> MeshSource:
        return build_source(selfie, locate_face(self._analyzer, selfie, self.min_face_px))

    def swap_frame(
        self, frame: np.ndarray, landmarks: np.ndarray | None, source: MeshSource, timer: StageTimer
    ) -> np.ndarray:
        return swap_face(frame, landmarks, source, timer)

    def close(self) -> None:
        self._analyzer.close()
