"""Index loops of the mediapipe 478-point face mesh (ordered, so they can be filled)."""

from __future__ import annotations

import numpy as np

N_LANDMARKS = 478
N_MESH = 468  # without the 10 iris points

FACE_OVAL = np.array(
    [10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152,
     377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338],
    dtype=np.int32,
)
INNER_LIPS = np.array(
    [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95],
    dtype=np.int32,
)
OUTER_LIPS = np.array(
    [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146],
    dtype=np.int32,
)
# "Right"/"left" are the subject's: the right eye is on the image's left.
RIGHT_EYE = np.array(
    [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7], dtype=np.int32
)
LEFT_EYE = np.array(
    [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249], dtype=np.int32
)
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473
NOSE_TIP = 1
MOUTH_RIGHT_CORNER = 61  # image left
MOUTH_LEFT_CORNER = 291  # image right
CHEEK_IMAGE_LEFT = 234
CHEEK_IMAGE_RIGHT = 454

# Eyelid pairs and eye corners for the eye-openness ratio.
RIGHT_EYE_LIDS = (159, 145, 33, 133)
LEFT_EYE_LIDS = (386, 374, 263, 362)


def five_keypoints(landmarks: np.ndarray) -> np.ndarray:
    """The 5 points insightface aligns on: eyes (image-left first), nose tip, mouth corners.

    landmarks: float (478, 2) in pixels -> float32 (5, 2).
    """
    idx = [RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER, NOSE_TIP, MOUTH_RIGHT_CORNER, MOUTH_LEFT_CORNER]
    return landmarks[idx].astype(np.float32)


def eye_openness(landmarks: np.ndarray) -> float:
    """Smaller of the two eyes' lid gap / eye width; about 0.25-0.35 open, < 0.12 closed."""
    ratios = []
    for top, bottom, c1, c2 in (RIGHT_EYE_LIDS, LEFT_EYE_LIDS):
        gap = float(np.linalg.norm(landmarks[top] - landmarks[bottom]))
        width = float(np.linalg.norm(landmarks[c1] - landmarks[c2])) or 1.0
        ratios.append(gap / width)
    return min(ratios)


def yaw_ratio(landmarks: np.ndarray) -> float:
    """Where the nose tip sits between the cheeks: 0.5 frontal, towards 0 or 1 turned away."""
    left = landmarks[CHEEK_IMAGE_LEFT, 0]
    right = landmarks[CHEEK_IMAGE_RIGHT, 0]
    span = float(right - left)
    if abs(span) < 1e-6:
        return 0.0
    return float((landmarks[NOSE_TIP, 0] - left) / span)
