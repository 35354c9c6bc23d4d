"""Make a turned selfie frontal: the near half of the face, mirrored, stands in for the far half.

A selfie turned a little to one side shows the far cheek squashed into a few pixels.
Warped onto a frontal scene face, those pixels stretch into streaks (and hair or the
background behind the far cheek gets pasted in). Faces are nearly symmetric, so the near
half, mirrored across the midline, is a far better texture for the far half; the landmark
layout is made symmetric the same way. Where moving the far half out still draws the
selfie's own texture out (long lashes past the far eye's corner became lines down the cheek),
its fine detail is smoothed away. Done once per selfie, at full resolution (70-140 ms); a
frontal selfie is returned unchanged. Only the face is symmetric, not what is on it:
a small round mark on the near cheek (a mole, a gem) is left out of the mirror image, or the
render shows two.
"""

from __future__ import annotations

import cv2
import numpy as np

from zaobot.models.landmarks import face_width
from zaobot.models.masks import polygon_mask, soft_region
from zaobot.models.occlusion import own_features
from zaobot.models.topology import (
    CHEEK_IMAGE_LEFT,
    CHEEK_IMAGE_RIGHT,
    FACE_OVAL,
    MIDLINE,
    MIRROR,
    WARP_TRIANGLES,
    warp_points,
)
from zaobot.models.warp import warp_maps

START, FULL = 0.12, 0.25  # |yaw - 0.5| where mirroring starts, and where it is complete
SEAM = 0.05  # the soft width of the join, in face widths ...
SEAM_OFFSET = 0.1  # ... this far into the far half: the nose ridge of a turned face bulges past a straight midline
NOSE = np.array([168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 129, 358, 49, 279, 64, 294], dtype=np.int32)
# The selfie's own texture drawn out by more than STRETCH_START in some direction loses its fine detail,
# all of it from STRETCH_FULL (a blur of STRETCH_SMOOTH face widths).
STRETCH_START, STRETCH_FULL = 1.4, 1.8
STRETCH_SMOOTH = 0.02
# ... in proportion to the turn up to this turn_share: a slight turn moves the far half a little, and
# what stretches there is a sliver of a triangle, not a feature drawn out (Biden's selfie: 0.07).
STRETCH_TURN = 0.3
# A mark on one cheek (a mole, a gem, a piercing) must not be mirrored onto the other: small, compact
# spots of strong detail are taken out of the mirror image. Detail is luma against a blur of MARK_SIGMA
# face widths; a mark differs from it by more than MARK_CONTRAST grey levels, covers less than
# MARK_AREA face widths squared and spans less than MARK_SPAN. Eyes, brows, lips and the nose are
# the face's own symmetric features and are left alone, as is the oval's rim (hair, the jaw line).
MARK_SIGMA = 0.02
MARK_CONTRAST = 30.0
MARK_AREA = 0.004
MARK_SPAN = 0.1


def midline(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The midline as (unit normal (2,), offset): n . p = offset on the line, n points image-right."""
    mid = points[MIDLINE].astype(np.float64)
    k, c = np.polyfit(mid[:, 1], mid[:, 0], 1)  # x = k*y + c: near-vertical, so fit x from y
    normal = np.array([1.0, -k]) / np.hypot(1.0, k)
    return normal, float(c / np.hypot(1.0, k))


def reflect(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    d = points.astype(np.float64) @ normal - offset
    return points - 2.0 * d[:, None] * normal[None, :]


def turn_share(yaw_ratio: float) -> float:
    """0 for a frontal selfie, rising to 1 as it turns from START to FULL off frontal."""
    return float(np.clip((abs(yaw_ratio - 0.5) - START) / (FULL - START), 0.0, 1.0))


def frontalise(image: np.ndarray, points: np.ndarray, yaw_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """(image, points): the face made symmetric by mirroring its near half, in proportion to the turn.

    image: uint8 (h, w, C) crop around the face (any channels, e.g. RGB + occluder alpha);
    points: float32 (478, 2) in that crop."""
    share = turn_share(yaw_ratio)
    if share <= 0.0:
        return image, points
    normal, offset = midline(points)
    side = points.astype(np.float64) @ normal - offset  # > 0: image-right of the midline
    near_right = abs(side[CHEEK_IMAGE_RIGHT]) > abs(side[CHEEK_IMAGE_LEFT])
    far = (side < 0) if near_right else (side > 0)
    far[MIDLINE] = False

    mirrored = reflect(points[MIRROR], normal, offset)  # each point where its twin would put it
    # Points near the midline (the nose, the lips' centre) keep their place: the nose of a
    # turned face bulges to the far side, and moving it would fold the mesh. Points whose
    # twin is far out (the cheek, the jaw, the outer eye) move all the way.
    reach = np.abs(side[MIRROR]) / max(1.0, face_width(points))
    move = share * np.clip((reach - 0.12) / 0.12, 0.0, 1.0)
    target = points.astype(np.float64).copy()
    target[far] = points[far] + move[far, None] * (mirrored[far] - points[far])
    target = target.astype(np.float32)

    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    t_normal, t_offset = midline(target)
    dist = (xs * t_normal[0] + ys * t_normal[1] - t_offset) * (-1.0 if near_right else 1.0)  # > 0 on the far side
    width = max(1.0, SEAM * face_width(target))
    offset_px = SEAM_OFFSET * face_width(target)
    far_half = 1.0 / (1.0 + np.exp(-(dist - offset_px) / (0.5 * width)))

    map_x, map_y = _maps(points, target, (w, h))
    # In the far half, which moved, and inside the mesh (the oval less about 0.015 face widths):
    # outside it the maps follow one affine fit, and their seam with it (spread over a few pixels by
    # the maps' upsampling) is no stretch.
    rim = max(5, int(0.03 * face_width(target)) | 1)
    inside = cv2.erode(polygon_mask((h, w), target[FACE_OVAL], 1.0), np.ones((rim, rim), np.uint8)) > 127
    stretch = np.where(inside & (far_half > 0.5), _stretch(map_x, map_y), 1.0).astype(np.float32)
    own = _unstreaked(cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
                      stretch, face_width(target), min(1.0, share / STRETCH_TURN))
    twin = _without_marks(_warp(image, points[MIRROR], target, (w, h)), target)  # the near half, mirrored

    weight = share * far_half
    # The nose stays the selfie's own: its mirror image lands beside it.
    nose = cv2.GaussianBlur(_nose(target, (h, w)), (0, 0), width).astype(np.float64) / 255.0
    weight = (weight * (1.0 - nose)).astype(np.float32)[..., None]
    blended = own.astype(np.float32) + weight * (twin.astype(np.float32) - own.astype(np.float32))
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8), target


def _unstreaked(image: np.ndarray, stretch: np.ndarray, width: float, strength: float) -> np.ndarray:
    """`image` (uint8) with its fine detail smoothed away where the warp drew it out (`stretch`,
    from _stretch), times `strength` in [0, 1]: moving the far half out turned lashes past the far
    eye's corner into long lines down the cheek. Only detail goes: the shading and colour stay the
    selfie's own there (the mirror image instead left a patch of the near cheek's light). Every
    channel is smoothed alike, the occluder alpha too, so a smoothed strand keeps its mask."""
    sigma = max(1.0, STRETCH_SMOOTH * width)
    amount = strength * np.clip((stretch - STRETCH_START) / (STRETCH_FULL - STRETCH_START), 0.0, 1.0)
    if not amount.any():
        return image
    amount = cv2.GaussianBlur(amount, (0, 0), sigma)[..., None]  # no edge where one triangle meets the next
    smooth = cv2.GaussianBlur(image, (0, 0), sigma).astype(np.float32)
    return np.clip(image + amount * (smooth - image) + 0.5, 0, 255).astype(np.uint8)


def _stretch(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """float32 (h, w): how much a remap by (map_x, map_y) stretches the source at each pixel, in its
    most stretched direction (1: not at all; 2: a line drawn out to twice its length)."""
    jxx, jxy = np.gradient(map_x, axis=1), np.gradient(map_x, axis=0)
    jyx, jyy = np.gradient(map_y, axis=1), np.gradient(map_y, axis=0)
    # The smallest singular value of the Jacobian (dst to src): a direction the source is shrunk
    # into, i.e. the destination stretched by its inverse.
    total = jxx * jxx + jxy * jxy + jyx * jyx + jyy * jyy
    det = jxx * jyy - jxy * jyx
    smallest = np.sqrt(np.maximum(0.0, 0.5 * (total - np.sqrt(np.maximum(0.0, total * total - 4.0 * det * det)))))
    return (1.0 / np.maximum(smallest, 1e-3)).astype(np.float32)


def _nose(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 (h, w): the nose's convex hull, 255 inside."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(cv2.convexHull(points[NOSE])).astype(np.int32), 255)
    return mask


def _without_marks(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`image` (uint8, RGB first) with small one-off marks on the skin replaced by the skin around them.

    Mirrored as they are, a teardrop gem under one eye became two in the render. points: the face's
    layout in `image`."""
    width = face_width(points)
    luma = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = max(1.0, MARK_SIGMA * width)
    contrast = np.abs(luma - cv2.GaussianBlur(luma, (0, 0), sigma))
    # Shapes are judged at half the contrast: at the full one an eyeliner wing breaks into round bits.
    found = (contrast > 0.5 * MARK_CONTRAST).astype(np.uint8)
    shape = luma.shape
    own = own_features(shape, points, max(1, int(0.03 * width)))
    nose = _nose(points, shape)
    inner = soft_region(polygon_mask(shape, points[FACE_OVAL], 1.0), -0.05 * width, 0.0) > 0.5
    found[own | (nose > 0) | ~inner] = 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found)
    box_w, box_h, area = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_AREA]
    # Small and round: a stud or a mole. The end of an eyeliner wing, a lash or a crease is long and
    # thin, part of the user's look, and mirrored like the rest.
    small = ((area < MARK_AREA * width * width) & (np.maximum(box_w, box_h) < MARK_SPAN * width)
             & (np.maximum(box_w, box_h) <= 2 * np.minimum(box_w, box_h)) & (area >= 0.5 * box_w * box_h))
    small[0] = False  # the background label
    strong = np.zeros(count, bool)
    strong[np.unique(labels[(contrast > MARK_CONTRAST) & (found > 0)])] = True
    small &= strong
    if not small.any():
        return image
    marks = small[labels].astype(np.uint8) * 255
    soft = soft_region(marks, max(1.0, 0.015 * width), max(1.0, 0.005 * width))[..., None]
    # The skin around, the mark and its soft edge left out of the average (else it leaves a grey ghost).
    around = 1.0 - soft
    base = cv2.GaussianBlur(image * around, (0, 0), 2.0 * sigma) / np.maximum(
        cv2.GaussianBlur(around, (0, 0), 2.0 * sigma), 1e-3)[..., None]
    return np.clip(image + soft * (base - image) + 0.5, 0, 255).astype(np.uint8)


def _maps(src: np.ndarray, dst: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y): each pixel of the `dst` layout read from the `src` layout."""
    return warp_maps(warp_points(dst), warp_points(src), WARP_TRIANGLES, size, 0.5)


def _warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    map_x, map_y = _maps(src, dst, size)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
