"""Piecewise-affine warp over a triangulated landmark mesh (mediapipe's own tessellation).

Instead of warping triangle by triangle (~25 ms a frame in a Python loop), the dst mesh is
rasterised once per frame on a reduced grid: every grid pixel inside the mesh gets its
triangle's three corners and its barycentric weights, all in a few vectorised numpy passes
(no per-triangle Python call). A coordinate map for any source layout is then one weighted
sum, so the same raster serves the full-size selfie and a small pyramid level. The map is
continuous across triangle edges, so upsampling it to full size barely changes the result,
and `cv2.remap` runs once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_EDGE_EPS = 1e-6  # pixels exactly on a shared edge belong to either triangle: both give the same map


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine (2, 3) float64 that maps points `src` (N, 2) onto `dst` (N, 2)."""
    a = np.hstack([src.astype(np.float64), np.ones((len(src), 1))])
    sol = np.linalg.solve(a.T @ a + 1e-9 * np.eye(3), a.T @ dst.astype(np.float64))  # normal equations: no SVD
    return sol.T


@dataclass(frozen=True)
class MeshRaster:
    """Which triangle covers each pixel of a (h, w) grid, and where in it (barycentric weights)."""

    shape: tuple[int, int]  # (h, w) of the grid
    dst: np.ndarray  # float64 (N, 2): the dst points in grid pixels
    tris: np.ndarray  # int (T, 3): the triangles
    pixels: np.ndarray  # int32 (P,): flat indices of the grid pixels the mesh covers
    owner: np.ndarray  # int32 (P,): the triangle covering each
    wb: np.ndarray  # float32 (P,): barycentric weight of the triangle's second corner
    wc: np.ndarray  # float32 (P,): ... and of its third

    def maps(self, src_pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map_x, map_y), float32 (h, w): where each grid pixel comes from in a layout `src_pts` (N, 2).

        Pixels outside the mesh follow the global affine fit, so upsampling never mixes valid
        coordinates with a sentinel."""
        h, w = self.shape
        outside = fit_affine(self.dst, src_pts).astype(np.float32)
        xs = np.arange(w, dtype=np.float32)[None, :]
        ys = np.arange(h, dtype=np.float32)[:, None]
        corner = src_pts.astype(np.float32)[self.tris]  # (T, 3, 2)
        base = corner[:, 0]
        e1, e2 = corner[:, 1] - base, corner[:, 2] - base
        o = self.owner
        maps = []
        for axis, coef in enumerate(outside):
            full = coef[0] * xs + coef[1] * ys + coef[2]
            full.reshape(-1)[self.pixels] = base[o, axis] + self.wb * e1[o, axis] + self.wc * e2[o, axis]
            maps.append(full)
        return maps[0], maps[1]


def _grid_points(dst_pts: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    dst = np.empty((len(dst_pts), 2), np.float64)
    dst[:, 0] = (dst_pts[:, 0] + 0.5) * scale[0] - 0.5
    dst[:, 1] = (dst_pts[:, 1] + 0.5) * scale[1] - 0.5
    return dst


def _weight_coefficients(dst: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coef (T, 6) float32, collapsed (T,) bool): per triangle, the barycentric weights of its
    second and third corners as affine functions of the pixel: wb = c0 x + c1 y + c2, wc = c3 x + c4 y + c5."""
    a, b, c = dst[tris[:, 0]], dst[tris[:, 1]], dst[tris[:, 2]]
    e1, e2 = b - a, c - a
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    collapsed = np.abs(det) <= 1e-9
    inv = 1.0 / np.where(collapsed, 1.0, det)
    kb = np.stack([e2[:, 1], -e2[:, 0]], axis=1) * inv[:, None]
    kc = np.stack([-e1[:, 1], e1[:, 0]], axis=1) * inv[:, None]
    coef = np.concatenate([kb, -(a * kb).sum(axis=1, keepdims=True),
                           kc, -(a * kc).sum(axis=1, keepdims=True)], axis=1).astype(np.float32)
    return coef, collapsed


def rasterise(dst_pts: np.ndarray, tris: np.ndarray, shape: tuple[int, int], scale: tuple[float, float]) -> MeshRaster:
    """Rasterise the mesh `dst_pts` (N, 2, region pixels) on a grid of `shape` (h, w) at `scale` (sx, sy).

    Grid pixel (i, j) stands for the region point ((j + 0.5) / sx - 0.5, (i + 0.5) / sy - 0.5).
    Every triangle's bounding box is enumerated as candidate pixels in one flat array, and each
    candidate kept if its barycentric weights are all non-negative: a few numpy passes over about
    twice the covered area, instead of a Python call per triangle. (Reusing the last frame's
    ownership was tried: a pixel that crossed into a neighbouring sliver, at a blinking lid,
    extrapolates that sliver's affine by pixels.)"""
    h, w = shape
    dst = _grid_points(dst_pts, scale)
    coef, collapsed = _weight_coefficients(dst, tris)
    a, b, c = dst[tris[:, 0]], dst[tris[:, 1]], dst[tris[:, 2]]  # (T, 2) each
    lo = np.maximum(np.ceil(np.minimum(np.minimum(a, b), c) - _EDGE_EPS), 0).astype(np.int32)
    hi = np.minimum(np.floor(np.maximum(np.maximum(a, b), c) + _EDGE_EPS), [w - 1, h - 1]).astype(np.int32)
    span = np.maximum(hi - lo + 1, 0)  # (T, 2): bounding box width, height in pixels
    count = span[:, 0] * span[:, 1]
    count[collapsed] = 0  # a collapsed triangle covers nothing
    owner = np.repeat(np.arange(len(tris), dtype=np.int32), count)  # one candidate per pixel of each box
    offset = np.arange(int(count.sum()), dtype=np.int32) - np.repeat((np.cumsum(count) - count).astype(np.int32),
                                                                     count)
    bw = np.repeat(span[:, 0], count)
    row = offset // bw
    col = offset - row * bw
    # Each weight at its box's corner, and its steps along a row and down a column: per-triangle
    # values repeated over the box cost a quarter less than six coefficients gathered per candidate.
    corner = lo.astype(np.float32)
    wb0 = coef[:, 0] * corner[:, 0] + coef[:, 1] * corner[:, 1] + coef[:, 2]
    wc0 = coef[:, 3] * corner[:, 0] + coef[:, 4] * corner[:, 1] + coef[:, 5]
    fc, fr = col.astype(np.float32), row.astype(np.float32)
    wb = np.repeat(wb0, count) + np.repeat(coef[:, 0], count) * fc + np.repeat(coef[:, 1], count) * fr
    wc = np.repeat(wc0, count) + np.repeat(coef[:, 3], count) * fc + np.repeat(coef[:, 4], count) * fr
    inside = (wb >= -_EDGE_EPS) & (wc >= -_EDGE_EPS) & (wb + wc <= 1.0 + _EDGE_EPS)
    pixels = np.repeat(lo[:, 1] * w + lo[:, 0], count) + row * w + col
    return MeshRaster(shape=(h, w), dst=dst, tris=tris, pixels=pixels[inside],
                      owner=owner[inside], wb=wb[inside], wc=wc[inside])


def upsample_maps(map_x: np.ndarray, map_y: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The grid maps resized to `size` (W, H); continuous maps upsample cleanly."""
    if (map_x.shape[1], map_x.shape[0]) == size:
        return map_x, map_y
    return (cv2.resize(map_x, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(map_y, size, interpolation=cv2.INTER_LINEAR))


def grid_shape(size: tuple[int, int], map_scale: float) -> tuple[tuple[int, int], tuple[float, float]]:
    """((h, w), (sx, sy)): the reduced grid for a region of `size` (W, H) at about `map_scale`."""
    width, height = size
    sw, sh = max(2, round(width * map_scale)), max(2, round(height * map_scale))
    return (sh, sw), (sw / width, sh / height)


def warp_maps(
    dst_pts: np.ndarray,
    src_pts: np.ndarray,
    tris: np.ndarray,
    size: tuple[int, int],
    map_scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense maps (map_x, map_y), float32 (H, W), sending each dst pixel to its src position.

    dst_pts: (N, 2) in the coordinates of the dst region of size (W, H); the mesh is
    rasterised at `map_scale` and the maps upsampled."""
    shape, scale = grid_shape(size, map_scale)
    map_x, map_y = rasterise(dst_pts, tris, shape, scale).maps(src_pts)
    return upsample_maps(map_x, map_y, size)
