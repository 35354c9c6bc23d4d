"""5-point face alignment as insightface does it, and its exact inverse for pasting back."""

from __future__ import annotations

import cv2
import numpy as np

# insightface's ArcFace template for 112x112 crops: eyes (image-left first), nose, mouth corners.
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def template(size: int) -> np.ndarray:
    """The template for a square crop of `size` (insightface's estimate_norm convention)."""
    if size % 112 == 0:
        return ARCFACE_112 * (size / 112.0)
    ratio = size / 128.0
    return ARCFACE_112 * ratio + np.array([8.0 * ratio, 0.0])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping src (N, 2) onto dst: (2, 3) float64."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / (s0 ** 2).sum() * len(src)
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_matrix(keypoints: np.ndarray, size: int) -> np.ndarray:
    """The affine (2, 3) that maps a face's 5 keypoints onto the template of a `size` crop."""
    return similarity(keypoints, template(size))


def crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned square crop (size, size, 3) of `image`."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def paste_mask(size: int) -> np.ndarray:
    """Soft mask (size, size) float32 for pasting a swapped crop back: feathered, inside the crop."""
    mask = np.zeros((size, size), np.float32)
    margin = max(2, size // 10)
    mask[margin:size - margin, margin:size - margin] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), size / 24)


def paste_back(frame: np.ndarray, face: np.ndarray, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Warp `face` (size, size, 3) back through the inverse of `matrix` into `frame`, on the face region only."""
    size = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    h, w = frame.shape[:2]
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return frame
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    roi = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(face, shifted, roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, shifted, roi, flags=cv2.INTER_LINEAR, borderValue=0.0)
    region = frame[y0:y1, x0:x1]
    blended = cv2.blendLinear(warped, region, alpha, np.ascontiguousarray(1.0 - alpha, dtype=np.float32))
    out = frame.copy()
    out[y0:y1, x0:x1] = blended
    return out
