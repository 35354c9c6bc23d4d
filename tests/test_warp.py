"""The piecewise-affine warp: its vectorised rasteriser against a per-pixel reference, on the real mesh."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from zaobot.models.topology import MESH_TRIANGLES, RIGHT_EYE, WARP_TRIANGLES, warp_points
from zaobot.models.warp import rasterise, warp_maps


def reference_maps(dst: np.ndarray, src: np.ndarray, tris: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per pixel, by brute force: the first triangle containing its centre maps it barycentrically; NaN outside."""
    h, w = shape
    out = np.full((h, w, 2), np.nan)
    ys, xs = np.mgrid[0:h, 0:w]
    p = np.stack([xs, ys], axis=-1).astype(np.float64)
    for t in tris:
        a, b, c = dst[t]
        m = np.array([[b[0] - a[0], c[0] - a[0]], [b[1] - a[1], c[1] - a[1]]])
        if abs(np.linalg.det(m)) < 1e-9:
            continue
        wbc = np.linalg.solve(m, (p - a).reshape(-1, 2).T).T.reshape(h, w, 2)
        inside = (wbc[..., 0] >= -1e-9) & (wbc[..., 1] >= -1e-9) & (wbc.sum(-1) <= 1 + 1e-9) & np.isnan(out[..., 0])
        sa, sb, sc = src[t]
        val = sa + wbc[..., :1] * (sb - sa) + wbc[..., 1:] * (sc - sa)
        out[inside] = val[inside]
    return out


@pytest.fixture(scope="module")
def face_mesh(demo_scene):
    """A real scene face (dst, in region pixels) and a real, different layout to sample from (src)."""
    dst = demo_scene.analysis.at(10)
    dst = dst - dst.min(axis=0) + 2
    src = demo_scene.analysis.at(100)
    src = (src - src.min(axis=0)) * 1.3 + 5  # another frame, bigger: a selfie at another size
    return dst.astype(np.float32), src.astype(np.float32)


def test_rasterised_maps_match_a_per_pixel_reference(face_mesh):
    dst, src = face_mesh
    size = (int(dst[:, 0].max()) + 3, int(dst[:, 1].max()) + 3)
    shape = (size[1] // 3, size[0] // 3)
    scale = (shape[1] / size[0], shape[0] / size[1])
    raster = rasterise(dst, MESH_TRIANGLES, shape, scale)
    map_x, map_y = raster.maps(src)
    grid_dst = (dst.astype(np.float64) + 0.5) * np.array(scale) - 0.5
    ref = reference_maps(grid_dst, src.astype(np.float64), MESH_TRIANGLES, shape)
    inside = ~np.isnan(ref[..., 0])
    assert inside.mean() > 0.4  # the face fills most of its box
    covered = np.zeros(shape[0] * shape[1], bool)
    covered[raster.pixels] = True
    assert np.array_equal(covered.reshape(shape), inside)  # the same pixels are inside the mesh
    err = np.hypot(map_x - ref[..., 0], map_y - ref[..., 1])[inside]
    # They map to the same place (float32 rounding), except where the real mesh folds over itself at
    # a lid or a lip: there two triangles claim a pixel and either answer is as good.
    assert np.mean(err < 1e-2) > 0.995 and err.max() < 1.0
    # Outside the mesh the map continues the global fit instead of a sentinel, so upsampling is clean.
    assert np.isfinite(map_x).all() and np.isfinite(map_y).all()
    full_x, _ = warp_maps(dst, src, MESH_TRIANGLES, size, scale[0])
    assert full_x.shape == (size[1], size[0])


def test_eye_openings_are_warped_with_their_eyes(face_mesh):
    """mediapipe's tessellation has holes at the eyes. Pixels there used to follow the whole
    face's affine fit, so an iris slid against its lids; the eye fans close them, and an eye
    moved on its own carries its iris along."""
    dst, _ = face_mesh
    shape = (int(dst[:, 1].max()) + 4, int(dst[:, 0].max()) + 4)
    eye = np.zeros(shape, np.uint8)
    cv2.fillPoly(eye, [np.round(dst[RIGHT_EYE]).astype(np.int32)], 255)
    eye = cv2.erode(eye, np.ones((3, 3), np.uint8)) > 0
    assert eye.sum() > 50

    old = rasterise(dst, MESH_TRIANGLES, shape, (1.0, 1.0))
    new = rasterise(warp_points(dst), WARP_TRIANGLES, shape, (1.0, 1.0))
    covered = lambda raster: np.isin(np.flatnonzero(eye), raster.pixels).mean()  # noqa: E731
    assert covered(old) < 0.05  # the hole the control shows
    assert covered(new) == 1.0

    # The eye alone moves 6 px right in the source layout: inside the opening, the map follows.
    src = dst.copy()
    src[np.r_[RIGHT_EYE, np.arange(468, 473)]] += (6.0, 0.0)
    map_x, _ = new.maps(warp_points(src))
    ys, xs = np.nonzero(eye)
    assert np.allclose(map_x[ys, xs] - xs, 6.0, atol=0.6)
