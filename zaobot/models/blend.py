"""Masks, colour transfer and compositing for one face region. Pure functions on arrays."""

from __future__ import annotations

import cv2
import numpy as np

from zaobot.models.topology import FACE_OVAL, INNER_LIPS, LEFT_EYE, RIGHT_EYE


def _fill(mask: np.ndarray, pts: np.ndarray, scale: float, value: int) -> None:
    poly = np.round(((pts + 0.5) * scale - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [poly], value, lineType=cv2.LINE_AA, shift=4)


def face_mask(
    points: np.ndarray,
    size: tuple[int, int],
    *,
    feather: float,
    keep_eyes: bool,
    scale: float = 1.0,
) -> np.ndarray:
    """Soft face mask, float32 in [0, 1], for landmarks `points` in region coordinates.

    The mask is built at `scale` (its shape is round(H*scale), round(W*scale));
    a blurred mask upsamples cleanly, so callers resize it when they need it.

    The face oval is eroded before blurring so the soft edge stays inside the
    face (no seams). The inner lips are cut out with a tighter feather so the
    scene's teeth and tongue show; the eyes are cut out when `keep_eyes` is
    False (a selfie with closed or squinting eyes).
    """
    width, height = size
    sw, sh = max(2, round(width * scale)), max(2, round(height * scale))
    f = max(1.0, feather * scale)
    oval = np.zeros((sh, sw), np.uint8)
    _fill(oval, points[FACE_OVAL], sw / width, 255)
    k = int(round(f)) * 2 + 1
    oval = cv2.erode(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    soft = cv2.GaussianBlur(oval, (0, 0), sigmaX=f * 0.6).astype(np.float32) / 255.0

    holes = np.zeros((sh, sw), np.uint8)
    _fill(holes, points[INNER_LIPS], sw / width, 255)
    if not keep_eyes:
        _fill(holes, points[RIGHT_EYE], sw / width, 255)
        _fill(holes, points[LEFT_EYE], sw / width, 255)
    if holes.any():
        hole_soft = cv2.GaussianBlur(holes, (0, 0), sigmaX=max(0.6, f * 0.15)).astype(np.float32) / 255.0
        soft *= 1.0 - hole_soft
    return soft


def lab_stats(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (each float32 (3,)) of the LAB colour of `rgb` where mask > 0.5."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    sel = lab[mask.reshape(-1) > 0.5]
    if len(sel) < 16:
        sel = lab
    return sel.mean(axis=0), sel.std(axis=0) + 1e-3


def colour_lut(
    src_mean: np.ndarray, src_std: np.ndarray, dst_mean: np.ndarray, dst_std: np.ndarray
) -> np.ndarray:
    """A (1, 256, 3) uint8 LUT that moves LAB statistics from src to dst (Reinhard transfer)."""
    ratio = np.clip(dst_std / src_std, 0.5, 2.0)
    x = np.arange(256, dtype=np.float32)[:, None]
    lut = (x - src_mean[None, :]) * ratio[None, :] + dst_mean[None, :]
    return np.clip(np.round(lut), 0, 255).astype(np.uint8)[None]


def composite(scene: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scene*(1-mask) + face*mask for uint8 (H, W, 3) images and a float32 (H, W) mask."""
    inv = np.ascontiguousarray(1.0 - mask, dtype=np.float32)
    return cv2.blendLinear(face, scene, np.ascontiguousarray(mask, dtype=np.float32), inv)
