"""The masks that decide, per pixel of a face region, whose pixels and whose tone show.

Pure functions over landmark arrays; every mask is built at the reduced scale of the
warp map (about 112 px across the face) and upsampled by the caller, because blurred
masks upsample cleanly and a full-resolution build costs 10x more.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zaobot.models.topology import (
    CHIN,
    FACE_OVAL,
    FOREHEAD_TOP,
    INNER_LIPS,
    LEFT_BROW,
    LEFT_EYE,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
)

FEATHER = 0.04  # the outer edge's soft width, a share of the face width: sharper edges keep more identity
CORE_INSET = 0.10  # the user's own tone applies fully this far inside the edge ...
CORE_SOFT = 0.06  # ... fading over this width towards the scene's tone at the edge
FEATURE_MARGIN = 0.06  # eyes, brows and lips grown by this share of the face width count as "not skin"
# Skin the selfie's hair hid is the user's own (occlusion.skin_fill) below the brows, and within
# this share of the face width around the actor's eyes: the scene's skin there carried the actor's
# glasses rims and eye corners (a ring round each eye on the quality set), and down the face's sides
# the actor's paler or pinker cheek showed as a band beside the user's skin. Above the brows the
# scene's forehead fills in, in the user's tone (`toned`): its texture, not a smooth mean.
EYES_OWN_SKIN = 0.22
# The actor's forehead this far above the face oval (face widths) takes the user's skin tone, up to
# the hairline (occlusion.scene_skin): left as it was, it showed as a pink or pale band over the
# user's face. Full strength to FOREHEAD_FULL of that reach, then fading out.
FOREHEAD_REACH = 0.2
FOREHEAD_FULL = 0.6
SIDE_FADE = 0.05  # the band fades out over this share of the face width towards the region's sides


@dataclass(frozen=True)
class FrameMasks:
    """Soft masks, float32 in [0, 1], all of one (reduced) shape."""

    outer: np.ndarray  # the face oval with its feathered edge: the seam
    sharp: np.ndarray  # where the selfie's own pixels show: outer minus holes and occluders
    core: np.ndarray  # where the user's skin tone applies fully; 0 at the seam, so the edge takes the scene's
    occluded: np.ndarray  # where hair hid the selfie's skin above the brows: the scene's skin, in the user's tone
    skin: np.ndarray | None = None  # `sharp` without eyes, brows and lips, where light is measured (halved() adds it)
    front: np.ndarray | None = None  # the scene's hands and objects in front of the face: shown untouched
    toned: np.ndarray | None = None  # the actor's skin at the top of the face and above it, in the user's tone


def polygon_mask(shape: tuple[int, int], pts: np.ndarray, scale: float) -> np.ndarray:
    """uint8 (h, w): the polygon `pts` (region pixels) filled anti-aliased at `scale`."""
    mask = np.zeros(shape, np.uint8)
    poly = np.round(((pts + 0.5) * scale - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def _ellipse(radius: float) -> np.ndarray:
    k = max(1, int(round(radius))) * 2 + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def smooth(image: np.ndarray, sigma: float, scale: float = 1.0) -> np.ndarray:
    """float32: a one-channel uint8 (or float) image Gaussian-blurred, times `scale`.

    Two separable passes straight to float: OpenCV's GaussianBlur on uint8 takes its bit-exact
    fixed-point path, 5-10 times slower on the small masks built every frame (0.4 ms against 0.07
    on a 125 x 100 mask), and the result is converted to float anyway. The kernel spans 3 sigma
    each side, as GaussianBlur's does for uint8."""
    kernel = cv2.getGaussianKernel(int(round(6.0 * sigma + 1.0)) | 1, sigma)
    return cv2.sepFilter2D(image, cv2.CV_32F, kernel, kernel * scale)


def _unit(mask: np.ndarray) -> np.ndarray:
    """A blurred mask capped at 1: float sums can overshoot by 1e-7, and 1 - mask must stay >= 0."""
    return np.minimum(mask, 1.0, out=mask)


def dilated(mask: np.ndarray, radius: float) -> np.ndarray:
    """A uint8 region grown by `radius` px (an ellipse), as soft_region grows it."""
    return cv2.dilate(mask, _ellipse(radius))


def soft_region(mask: np.ndarray, grow: float, sigma: float) -> np.ndarray:
    """A uint8 region grown (grow > 0) or shrunk (grow < 0) by |grow| px, then blurred: float32 [0, 1]."""
    if grow >= 0.5:
        mask = dilated(mask, grow)
    elif grow <= -0.5:
        mask = cv2.erode(mask, _ellipse(-grow))
    if sigma > 0.3:
        return _unit(smooth(mask, sigma, 1.0 / 255.0))
    return mask.astype(np.float32) / 255.0


def _inset(inside: np.ndarray, by: float, sigma: float) -> np.ndarray:
    """float32 [0, 1]: the region whose distance transform is `inside`, shrunk by `by` px and blurred:
    soft_region(region, -by, sigma) without the erosion. The 0.3 px keeps the area an erosion of the
    anti-aliased polygon keeps (its edge pixels are partly outside), on ovals of 60-110 px."""
    _, shrunk = cv2.threshold(inside, max(1, round(by)) + 0.3, 1.0, cv2.THRESH_BINARY)
    return _unit(smooth(shrunk, sigma))


def frame_masks(
    points: np.ndarray,
    shape: tuple[int, int],
    scale: float,
    face_px: float,
    *,
    mouth_from_scene: float,
    eyes_from_scene: bool,
    mouth_grow: float = 0.03,
    keep: np.ndarray | None = None,
    hands: np.ndarray | None = None,
    objects: np.ndarray | None = None,
    scene_skin: np.ndarray | None = None,
) -> FrameMasks:
    """Masks for the scene face at `points` (478, 2), in region pixels, built at `scale`.

    shape: the reduced (h, w). face_px: the face width in region pixels.
    * The inner lips are always a hole, so the scene's teeth and tongue show.
    * `mouth_from_scene` (0-1) is how much of the whole mouth, lips included, comes from the
      scene: all of it when the selfie's mouth is open (its teeth would be stretched over the
      actor's), and in the frames where the actor's mouth opens much wider than the selfie's.
      The hole reaches `mouth_grow` face widths past the actor's lips: a laughing selfie's
      lips and teeth spill past its own lip landmarks, and must not be warped onto skin.
    * With `eyes_from_scene` (the selfie's eyes are not clearly open) the eyes do too.
    * `keep` (float32, `shape`) is the selfie's occluder map warped to the scene: hair
      across the forehead is 0 there, so the scene's skin fills in, toned to the user's;
      below the brows and round the eyes (EYES_OWN_SKIN) the selfie's own filled-in skin
      shows instead.
    * `hands` (k, 21, 2), region pixels: the scene's hands this frame. In front of the face
      they stay the scene's own, untoned; pasted over, they showed through as a ghost.
    * `objects` (float32, `shape`): other things in front of the actor's face (a microphone,
      occlusion.scene_objects), kept in front the same way.
    * `scene_skin` (float32, `shape`): the actor's bare skin (occlusion.scene_skin). Above the
      brows, in the oval and up to FOREHEAD_REACH past it, it takes the user's tone (`toned`).
    """
    f = face_px * scale
    oval = polygon_mask(shape, points[FACE_OVAL], scale)
    feather = max(1.0, FEATHER * f)
    # Both are the oval shrunk and blurred: one distance transform serves the two (two erosions by
    # a 21 px ellipse cost 0.4 ms a frame, this 0.07).
    inside = cv2.distanceTransform((oval > 127).astype(np.uint8), cv2.DIST_L2, 5)
    outer = _inset(inside, feather, 0.5 * feather)
    core = _inset(inside, CORE_INSET * f, CORE_SOFT * f)

    holes = np.zeros_like(outer)
    hair = keep is not None and float(keep.min()) < 0.99
    if eyes_from_scene or hair:
        eyes = np.maximum(polygon_mask(shape, points[RIGHT_EYE], scale), polygon_mask(shape, points[LEFT_EYE], scale))
    lips = polygon_mask(shape, points[INNER_LIPS], scale)
    holes = np.maximum(holes, soft_region(lips, 0, max(0.6, 0.006 * f)))
    if mouth_from_scene > 0.0:
        mouth = polygon_mask(shape, points[OUTER_LIPS], scale)
        holes = np.maximum(holes, mouth_from_scene * soft_region(mouth, mouth_grow * f, 0.025 * f))
    if eyes_from_scene:
        holes = np.maximum(holes, soft_region(eyes, 0.035 * f, 0.02 * f))
    sharp = outer * (1.0 - holes)
    occluded = np.zeros_like(outer)
    if hair and keep is not None:
        keep = np.maximum(keep, own_skin(points, eyes, f, scale))
        sharp *= keep
        occluded = outer * (1.0 - keep)
    front = None if hands is None else hands_mask(hands, shape, scale)
    if objects is not None and objects.any():
        front = objects if front is None else np.maximum(front, objects)
    if front is not None:
        sharp = sharp * (1.0 - front)
    toned = None if scene_skin is None else forehead(oval, points, f, scale) * scene_skin
    return FrameMasks(outer=outer, sharp=sharp, core=core * outer, occluded=occluded, front=front, toned=toned)


def own_skin(points: np.ndarray, eyes: np.ndarray, f: float, scale: float) -> np.ndarray:
    """float32 (h, w) in [0, 1]: where skin the selfie's hair hid shows as the user's own (the
    texture's skin_fill), not the scene's: below the brows, and within EYES_OWN_SKIN of the eyes.

    eyes: uint8, the actor's eyes at `scale`; f: the face width at that scale."""
    # A ramp on the distance to the eyes: a dilation by a 45 px ellipse and a blur cost 1.3 ms a frame, this 0.1.
    distance = cv2.distanceTransform(255 - eyes, cv2.DIST_L2, 3)
    near_eyes = np.clip((EYES_OWN_SKIN * f - distance) / (0.06 * f), 0.0, 1.0)
    h, w = eyes.shape
    return np.maximum(near_eyes, 1.0 - above_brows(points, (h, w), f, scale))


def forehead(oval: np.ndarray, points: np.ndarray, f: float, scale: float) -> np.ndarray:
    """float32 (h, w) in [0, 1]: the face above the brows and the band FOREHEAD_REACH above the oval.

    "Above" is along the face's own axis (chin to forehead), so a tilted head is toned the same on
    both sides. The region only grows upward (mesh.face_roi): towards its left and right sides the
    band fades out, or the tone would stop at a hard vertical edge where a bald temple meets them.
    oval: uint8, the oval at `scale`; f: the face width at that scale."""
    reach = max(1.0, FOREHEAD_REACH * f)
    outside = cv2.distanceTransform(255 - oval, cv2.DIST_L2, 3)
    band = np.clip((reach - outside) / ((1.0 - FOREHEAD_FULL) * reach), 0.0, 1.0)
    xs = np.arange(oval.shape[1], dtype=np.float32)[None, :]
    side = np.minimum(xs, oval.shape[1] - 1 - xs)
    h, w = oval.shape
    return band * above_brows(points, (h, w), f, scale) * np.clip(side / max(1.0, SIDE_FADE * f), 0.0, 1.0)


def above_brows(points: np.ndarray, shape: tuple[int, int], f: float, scale: float) -> np.ndarray:
    """float32 (h, w) in [0, 1]: 0 below the brows' top, rising to 1 over 0.1 face widths above it.

    "Above" is along the face's own axis (chin to forehead), so a tilted head is split the same on
    both sides. f: the face width at `scale`."""
    at = (points.astype(np.float32) + 0.5) * scale - 0.5
    up = at[FOREHEAD_TOP] - at[CHIN]
    up /= max(1e-3, float(np.hypot(*up)))
    brows = float((at[np.r_[RIGHT_BROW, LEFT_BROW]] @ up).max())
    xs = np.arange(shape[1], dtype=np.float32)[None, :]
    ys = np.arange(shape[0], dtype=np.float32)[:, None]
    return np.clip((xs * up[0] + ys * up[1] - brows) / max(1.0, 0.1 * f), 0.0, 1.0)


# mediapipe's hand: the palm's outline, then each finger from its knuckle to its tip.
PALM = np.array([0, 1, 5, 9, 13, 17], dtype=np.int32)
FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
FINGER_WIDTH = 0.45  # a finger's width, as a share of the knuckle spacing (index to middle)
HAND_MARGIN = 0.25  # the mask reaches this share of the knuckle spacing past the landmarks


def hands_mask(hands: np.ndarray, shape: tuple[int, int], scale: float) -> np.ndarray:
    """float32 (h, w) in [0, 1]: the hands `hands` (k, 21, 2) drawn as palm and fingers at `scale`.

    Drawn from the skeleton, not a convex hull: the face between spread fingers stays swapped."""
    mask = np.zeros(shape, np.uint8)
    spacing = 1.0
    for hand in hands:
        pts = (hand.astype(np.float64) + 0.5) * scale - 0.5
        spacing = max(1.0, float(np.linalg.norm(pts[5] - pts[9])))
        width = max(1, int(round(FINGER_WIDTH * spacing)))
        cv2.fillPoly(mask, [np.round(cv2.convexHull(pts[PALM].astype(np.float32))).astype(np.int32)], 255)
        for finger in FINGERS:
            line = np.round(pts[list(finger)]).astype(np.int32)
            cv2.polylines(mask, [line], False, 255, thickness=width, lineType=cv2.LINE_AA)
    return soft_region(mask, HAND_MARGIN * spacing, 0.15 * spacing)


def features_mask(points: np.ndarray, shape: tuple[int, int], scale: float, f: float) -> np.ndarray:
    """float32 (h, w): eyes, brows and lips with a margin. Their darkness is the face's layout, not
    its light, and the user's sit a little apart from the actor's (shape.py): a light fit over
    them would paint the actor's features back in."""
    mask = np.zeros(shape, np.uint8)
    for region in (RIGHT_EYE, LEFT_EYE, RIGHT_BROW, LEFT_BROW, OUTER_LIPS):
        mask = np.maximum(mask, polygon_mask(shape, points[region], scale))
    return soft_region(mask, FEATURE_MARGIN * f, 0.02 * f)


def halved(masks: FrameMasks, points: np.ndarray, scale: float, face_px: float) -> FrameMasks:
    """The same masks at half the scale, for work that is low-frequency (tone and light), with
    `skin` added: built at this scale because only the light fit uses it.

    points, face_px: the face in region pixels; scale: the masks' own scale."""
    h, w = masks.outer.shape
    size = (max(2, (w + 1) // 2), max(2, (h + 1) // 2))

    def half(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask, size, interpolation=cv2.INTER_AREA)

    sharp = half(masks.sharp)
    half_scale = scale * size[0] / w
    features = features_mask(points, (size[1], size[0]), half_scale, face_px * half_scale)
    return FrameMasks(outer=half(masks.outer), sharp=sharp, core=half(masks.core),
                      occluded=half(masks.occluded), skin=sharp * (1.0 - features),
                      front=None if masks.front is None else half(masks.front),
                      toned=None if masks.toned is None else half(masks.toned))
