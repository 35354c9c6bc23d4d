"""Piecewise-affine warp over a triangulated landmark mesh (mediapipe's own tessellation).

Instead of warping triangle by triangle (~25 ms a frame in a Python loop), we
rasterise a triangle-id map at reduced resolution, turn it into one dense
coordinate map, upsample that map and call `cv2.remap` once. The map is
continuous across triangle edges, so upsampling it barely changes the result.
"""

from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4  # sub-pixel bits for cv2.fillConvexPoly
_ONE = 1 << _SHIFT


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine (2, 3) float64 that maps points `src` (N, 2) onto `dst` (N, 2)."""
    a = np.hstack([src.astype(np.float64), np.ones((len(src), 1))])
    sol = np.linalg.solve(a.T @ a + 1e-9 * np.eye(3), a.T @ dst.astype(np.float64))  # normal equations: no SVD
    return sol.T


def triangle_affines(dst_pts: np.ndarray, src_pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """For every triangle, the affine (T, 2, 3) float64 that maps dst coordinates to src.

    Closed-form 2x2 inverses: ten times faster than batched np.linalg.inv.
    Degenerate (collapsed) dst triangles get NaN.
    """
    d = dst_pts[tris].astype(np.float64)  # (T, 3, 2)
    s = src_pts[tris].astype(np.float64)
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]  # columns of D
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]  # columns of S
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    bad = np.abs(det) < 1e-6
    det = np.where(bad, 1.0, det)
    # inv(D) = [[e2y, -e2x], [-e1y, e1x]] / det ; A = S @ inv(D)
    i00, i01 = e2[:, 1] / det, -e2[:, 0] / det
    i10, i11 = -e1[:, 1] / det, e1[:, 0] / det
    m = np.empty((len(tris), 2, 3), np.float64)
    for row in range(2):
        a = f1[:, row] * i00 + f2[:, row] * i10
        b = f1[:, row] * i01 + f2[:, row] * i11
        m[:, row, 0] = a
        m[:, row, 1] = b
        m[:, row, 2] = s[:, 0, row] - a * d[:, 0, 0] - b * d[:, 0, 1]
    m[bad] = np.nan
    return m


def warp_maps(
    dst_pts: np.ndarray,
    src_pts: np.ndarray,
    tris: np.ndarray,
    size: tuple[int, int],
    map_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense maps (map_x, map_y), float32 (H, W), sending each dst pixel to its src position.

    dst_pts: (N, 2) in the coordinates of the dst region of size (W, H).
    Pixels outside the mesh follow the global affine fit, so upsampling never
    mixes valid coordinates with a sentinel.
    """
    width, height = size
    sw, sh = max(2, round(width * map_scale)), max(2, round(height * map_scale))
    sx, sy = sw / width, sh / height
    affines = triangle_affines(dst_pts, src_pts, tris)
    outside = fit_affine(dst_pts, src_pts)
    valid = ~np.isnan(affines[:, 0, 0])
    affines[~valid] = outside
    table = np.concatenate([affines, outside[None]], axis=0)  # index -1 -> outside

    ids = np.full((sh, sw), -1, dtype=np.int32)
    scaled = np.empty_like(dst_pts, dtype=np.float64)
    scaled[:, 0] = (dst_pts[:, 0] + 0.5) * sx - 0.5
    scaled[:, 1] = (dst_pts[:, 1] + 0.5) * sy - 0.5
    corners = np.round(scaled[tris] * _ONE).astype(np.int32)  # (T, 3, 2)
    for t in np.flatnonzero(valid):
        cv2.fillConvexPoly(ids, corners[t], int(t), lineType=cv2.LINE_8, shift=_SHIFT)

    xs = (np.arange(sw, dtype=np.float64) + 0.5) / sx - 0.5
    ys = (np.arange(sh, dtype=np.float64) + 0.5) / sy - 0.5
    m = table[ids]  # (sh, sw, 2, 3)
    map_x = m[..., 0, 0] * xs[None, :] + m[..., 0, 1] * ys[:, None] + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs[None, :] + m[..., 1, 1] * ys[:, None] + m[..., 1, 2]
    map_x = map_x.astype(np.float32)
    map_y = map_y.astype(np.float32)
    if (sw, sh) != (width, height):
        map_x = cv2.resize(map_x, (width, height), interpolation=cv2.INTER_LINEAR)
        map_y = cv2.resize(map_y, (width, height), interpolation=cv2.INTER_LINEAR)
    return map_x, map_y
