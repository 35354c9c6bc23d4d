"""Put the user's face under the scene's light without turning it into the actor's skin.

Works at the reduced scale of the masks (about 112 px across the face): lighting and tone
are low-frequency, so this costs about a millisecond a frame. Pure functions.

* Lighting: a third-order polynomial in face coordinates (ten terms) fitted to the L
  channel is the broad shading across a face (light from the left, from above, one cheek
  in shade). The selfie's fit is swapped for the scene's, keeping the selfie's mean level:
  the user's skin tone is never lightened or darkened towards the actor's. A beard,
  freckles or make-up are finer than a cubic, so they stay the user's. The fit sees skin
  only: eyes, brows and lips are the face's layout, not its light, and the user's sit a
  little apart from the actor's (shape.py), so fitted over they would paint the actor's
  features back in. (Second order over the whole face: lighting r 0.775 over the quality
  set; third order over skin: see benchmarks/RESULTS.md.)
* Colour: the user's chroma, moved `CHROMA_SHARE` of the way to the scene face's mean, so
  a selfie taken under warm light doesn't glow orange in a cool scene.
* Seam: near the edge the face's whole low band is replaced by the scene's (a two-band
  blend), so the soft edge only has fine detail left to hide.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zaobot.models.masks import FrameMasks

CHROMA_SHARE = 0.35  # how far the user's mean chroma moves towards the scene face's (white balance)
HOLE_LIGHTNESS_SHARE = 0.6  # scene pixels shown through holes (mouth, eyes) move this much to the user's L
EDGE_SIGMA = 0.05  # low band of the edge blend, a share of the face width
RELIGHT = 1.0  # how much of the scene's broad shading replaces the selfie's
# Polynomial order of "broad shading": 3 is ten terms (light from a side, from above, a cheek in shade).
SHADING_ORDER = 3


@dataclass(frozen=True)
class ToneDeltas:
    """Additive RGB corrections (float32 (h, w, 3), grey levels) at the reduced scale."""

    face: np.ndarray  # added to the warped selfie
    scene: np.ndarray  # added to the scene where it shows through inside the face


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 or float RGB (0-255) -> float32 LAB (L 0-100)."""
    return cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)


def to_rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0


def weighted_mean(lab: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean LAB (3,) under float weights (h, w)."""
    total = float(weights.sum())
    if total < 1e-3:
        return lab.reshape(-1, 3).mean(axis=0)
    return (lab * weights[..., None]).reshape(-1, 3).sum(axis=0) / total


def _normalised_blur(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low band of `values` (h, w, 3) counting only weighted pixels (normalised convolution).

    Linear in `values`: the low band of a difference is the difference of the low bands."""
    num = cv2.GaussianBlur(values * weights[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weights, (0, 0), sigma)[..., None]
    return num / np.maximum(den, 1e-3)


def _basis(shape: tuple[int, int], weights: np.ndarray) -> np.ndarray:
    """(h*w, K) polynomial basis of SHADING_ORDER in coordinates centred on the weighted face, in face widths.

    Each term x^i y^j is an outer product of a row of powers and a column of powers: built that
    way, not from per-pixel powers, it costs a fifth (0.1 ms a frame instead of 0.5)."""
    h, w = shape
    total = float(weights.sum()) or 1.0
    cx = float(weights.sum(axis=0) @ np.arange(w, dtype=np.float32)) / total
    cy = float(weights.sum(axis=1) @ np.arange(h, dtype=np.float32)) / total
    span = max(1.0, float(np.sqrt(total)))
    x = (np.arange(w, dtype=np.float32) - cx) / span
    y = (np.arange(h, dtype=np.float32) - cy) / span
    order = int(SHADING_ORDER)
    xp, yp = [np.ones_like(x)], [np.ones_like(y)]
    for _ in range(order):
        xp.append(xp[-1] * x)
        yp.append(yp[-1] * y)
    terms = [(i, degree - i) for degree in range(order + 1) for i in range(degree + 1)]
    basis = np.empty((h, w, len(terms)), np.float32)
    for k, (i, j) in enumerate(terms):
        np.multiply(yp[j][:, None], xp[i][None, :], out=basis[..., k])
    return basis.reshape(-1, len(terms))


def shading(lightness: np.ndarray, weights: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The quadratic fit (h, w) to `lightness` under `weights`, minus its weighted mean: the light's shape.

    Linear in `lightness` (a least-squares fit), so the difference of two faces' shading is one fit."""
    w = np.sqrt(weights.reshape(-1))
    sel = w > 0.2
    sel[1::2] = False  # every other pixel is plenty for ten terms, and halves the cost
    if sel.sum() < 12:
        return np.zeros_like(lightness)
    a = basis[sel] * w[sel, None]
    # Normal equations: a 10x10 solve is ten times faster than lstsq's SVD and as exact here.
    normal = a.T @ a + 1e-6 * np.eye(a.shape[1], dtype=a.dtype)
    coef = np.linalg.solve(normal, a.T @ (lightness.reshape(-1)[sel] * w[sel]))
    fit = (basis @ coef).reshape(lightness.shape).astype(np.float32)
    return fit - float((fit * weights).sum() / max(float(weights.sum()), 1e-3))


def tone_deltas(
    face_rgb: np.ndarray,
    scene_rgb: np.ndarray,
    masks: FrameMasks,
    face_px: float,
    scene_mean: np.ndarray | None = None,
) -> tuple[ToneDeltas, np.ndarray]:
    """Corrections for one frame, and the scene face's mean LAB this frame (for smoothing).

    face_rgb, scene_rgb: uint8 (h, w, 3) at the masks' scale; face_px: face width at that
    scale. `scene_mean` is the caller's temporally smoothed scene mean (None: this frame's),
    so the user's tone doesn't flicker with every change of the actor's face."""
    weights = masks.sharp
    face_lab, scene_lab = to_lab(face_rgb), to_lab(scene_rgb)
    face_mean = weighted_mean(face_lab, weights)
    this_scene_mean = weighted_mean(scene_lab, weights)
    scene_mean = this_scene_mean if scene_mean is None else scene_mean

    # Where the scene shows through: its mouth and eyes move part of the way to the user's
    # lightness (teeth and eye whites stay light), skin filled in for hair moves all the way.
    fill = np.empty(3, np.float32)
    fill[0] = face_mean[0] - scene_mean[0]
    fill[1:] = (1.0 - CHROMA_SHARE) * (face_mean[1:] - scene_mean[1:])
    hole = fill * np.array([HOLE_LIGHTNESS_SHARE, 1.0, 1.0], np.float32)
    # The actor's forehead up to the hairline takes the user's tone too (masks.forehead).
    toned = np.zeros_like(weights) if masks.toned is None else masks.toned
    toned_scene = scene_lab + toned[..., None] * fill

    # The seam: towards the edge the face's low band becomes the scene's, so the user's tone
    # fades into the actor's skin over CORE_INSET + CORE_SOFT of the face instead of at the
    # soft edge, and only fine detail meets there (a two-band blend). At the top of the face,
    # that skin is the forehead already in the user's tone.
    sigma = max(1.0, EDGE_SIGMA * face_px)
    difference = scene_lab - face_lab
    edge = _normalised_blur(toned_scene - face_lab, weights, sigma)

    basis = _basis((weights.shape[0], weights.shape[1]), weights)
    core = np.empty_like(face_lab)
    skin = masks.sharp if masks.skin is None else masks.skin
    core[..., 0] = RELIGHT * shading(np.ascontiguousarray(difference[..., 0]), skin, basis)
    core[..., 1:] = CHROMA_SHARE * (scene_mean[1:] - face_mean[1:])
    c = masks.core[..., None]
    face_delta: np.ndarray = to_rgb(face_lab + (1.0 - c) * edge + c * core) - face_rgb.astype(np.float32)

    # Filled-in skin takes the user's tone out to the face's edge, not just in the core: the
    # actor's own skin in a patch where the user's hair was would show as a blotch.
    filled = np.maximum(masks.occluded, toned)[..., None]
    scene_lab = toned_scene + c * (1.0 - filled) * hole + (filled - toned[..., None]) * fill
    scene_delta: np.ndarray = to_rgb(scene_lab) - scene_rgb.astype(np.float32)
    return ToneDeltas(face=face_delta, scene=scene_delta), this_scene_mean
