"""What covers the selfie's face: hair across the forehead, a hand, a mask. Pure functions.

A skin model in YCrCb chroma: a broad prior that holds for every skin tone (Cr 133-180,
Cb 70-130), narrowed to the person's own skin sampled on the cheeks and nose bridge.
Chroma ignores shading, so a shadowed cheek still reads as skin.

Uses:
* `keep_map`: on the forehead band (above the brows), non-skin is hair or a hat. It is
  kept out of the pasted texture (the scene's forehead fills in, toned to the user's), so
  strands don't become stripes on the actor's face. Brows, eyes, lips, glasses and a beard are
  the user's features and stay: they are below that band or excluded.
* `hair_model` and `hair_like`: hair with a skin's chroma (light brown, blond) near the face's
  edge, told from skin by a model of the person's own hair. By a brow only what is lighter
  than the brow's own dark hair can be hair: strands across a brow's tail are taken out, the
  brow stays. What looks nothing like the person's hair (face paint, a sticker) is never
  bridged or grown over as hair.
* `covered_share`: the share of the face (outside eyes, brows and lips) that isn't skin.
  Past about half, there isn't enough face to render: the user is asked for another photo.
  Blond hair has a skin-like hue and is missed; the figure is a guard, not a segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from zaobot.models.masks import dilated, polygon_mask, smooth, soft_region
from zaobot.models.tone import to_lab
from zaobot.models.topology import (
    FACE_OVAL,
    INNER_LIPS,
    LEFT_BROW,
    LEFT_EYE,
    LEFT_EYE_LIDS,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
    RIGHT_EYE_LIDS,
)

HAIR_DARKNESS = 0.45  # face pixels darker than this share of the sampled skin's luma are hair
HAIR_MAX_CHROMA = 14.0  # non-skin pixels with less chroma than this (YCrCb) are grey or white hair
CHROMA_FLOOR = 7.0  # least spread of skin chroma around the sample's (YCrCb units)
PRIOR_CR = (133.0, 180.0)
PRIOR_CB = (70.0, 130.0)
# Where the person's own skin is sampled: forehead, nose bridge, cheeks, under the eyes. Spread
# out, so that a fringe, a scarf or a hand leaves enough of the sample to be the reference.
SAMPLE_POINTS = (151, 108, 337, 6, 197, 50, 280, 117, 346, 205, 425)
# Nose wings, nostrils, and the area down to the mouth corners where a moustache grows.
NOSE_AND_MOUSTACHE = np.array([129, 358, 98, 327, 2, 61, 291, 0], dtype=np.int32)
MOUTH_CORNERS = np.array([61, 291], dtype=np.int32)


def _hw(image: np.ndarray) -> tuple[int, int]:
    """(h, w) of an image, typed as the pair the mask builders take."""
    return image.shape[0], image.shape[1]


def _face_px(points: np.ndarray) -> float:
    """The face oval's width in pixels (1 for a degenerate one): every scale here is a share of it."""
    return float(np.ptp(points[FACE_OVAL][:, 0])) or 1.0


def _luma_and_level(rgb: np.ndarray, points: np.ndarray, face_px: float) -> tuple[np.ndarray, float] | None:
    """(luma, smoothed a little, and its median over the sampled skin): what darkness is measured
    against. None when none of the sampled skin is in the image (a face cut off by the frame's edge)."""
    sample = _sample_mask(_hw(rgb), points, face_px)
    if not sample.any():
        return None
    luma = smooth(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), max(0.8, 0.006 * face_px))
    return luma, float(np.median(luma[sample]))


def _chroma(rgb: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Cr and Cb, float32, smoothed a little: JPEG's 4:2:0 chroma is blocky and noisy."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycrcb = cv2.GaussianBlur(ycrcb, (0, 0), sigma)
    return ycrcb[..., 1], ycrcb[..., 2]


def skin_probability(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """float32 (h, w) in [0, 1]: how much each pixel's chroma is like the person's own skin.

    The reference is the sampled skin that passes the prior; a black-and-white photo, or one
    under coloured light, fails the prior everywhere, and then the whole sample is the
    reference. The tolerance is wide enough to absorb light whose colour drifts across a face.
    None of the sampled skin in the image (a face cut off by the frame's edge): nothing is like it."""
    face_px = _face_px(points)
    cr, cb = _chroma(rgb, max(0.8, 0.006 * face_px))
    sample = _sample_mask(_hw(cr), points, face_px)
    if not sample.any():
        return np.zeros(_hw(rgb), np.float32)
    prior = (cr >= PRIOR_CR[0]) & (cr <= PRIOR_CR[1]) & (cb >= PRIOR_CB[0]) & (cb <= PRIOR_CB[1])
    picked = sample & prior if prior[sample].mean() >= 0.25 else sample
    mcr, mcb = float(np.median(cr[picked])), float(np.median(cb[picked]))
    scr = max(CHROMA_FLOOR, 1.4826 * float(np.median(np.abs(cr[picked] - mcr))))
    scb = max(CHROMA_FLOOR, 1.4826 * float(np.median(np.abs(cb[picked] - mcb))))
    d2 = ((cr - mcr) / scr) ** 2 + ((cb - mcb) / scb) ** 2
    return np.exp(-0.5 * np.maximum(0.0, d2 - 4.0) / 4.0).astype(np.float32)  # flat to 2 sigma, then falls


def _sample_mask(shape: tuple[int, int], points: np.ndarray, face_px: float) -> np.ndarray:
    sample = np.zeros(shape, np.uint8)
    for idx in SAMPLE_POINTS:
        cv2.circle(sample, tuple(int(v) for v in np.round(points[idx])), max(2, int(0.04 * face_px)), 255, -1)
    return sample > 0


def own_features(shape: tuple[int, int], points: np.ndarray, grow: int, brows: bool = True) -> np.ndarray:
    """Eyes, brows (unless `brows` is False) and lips, grown by `grow` px: the user's own non-skin features."""
    mask = np.zeros(shape, np.uint8)
    for loop in (RIGHT_EYE, LEFT_EYE, OUTER_LIPS, INNER_LIPS):
        mask |= polygon_mask(shape, points[loop], 1.0)
    if brows:
        mask |= brow_hulls(shape, points)
    if grow > 0:
        mask = dilated(mask, grow)
    return mask > 127


def brow_hulls(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """uint8 (h, w): both brows' convex hulls (the mesh's brow loops), 255 inside."""
    mask = np.zeros(shape, np.uint8)
    for brow in (RIGHT_BROW, LEFT_BROW):
        mask |= polygon_mask(shape, cv2.convexHull(points[brow]).reshape(-1, 2), 1.0)
    return mask


def hair_zone(shape: tuple[int, int], points: np.ndarray, brows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(zone, edge) bool (h, w): where hair or a hand over the face is looked for, and the
    part of the face's edge it must come in from.

    The zone is the face above the mouth corners, minus the user's own dark features: eyes
    (with lashes and make-up), brows (unless `brows` is False: hair_like tells a brow from
    hair over it itself, and then a brow's tail at the oval is part of the edge too), nostrils
    and the moustache area. A beard is below the mouth line or in the moustache area, so it
    stays the user's. Hair that falls over a face enters from its upper edge or sides, so only
    occluders connected to that edge count: glasses, a mole or a shadow inside the face don't."""
    face_px = _face_px(points)
    oval = polygon_mask(shape, points[FACE_OVAL], 1.0)
    mouth_line = float(max(points[MOUTH_CORNERS, 1]))
    rows = np.arange(shape[0])[:, None] < mouth_line
    own = np.zeros(shape, np.uint8)
    loops = [(RIGHT_EYE, 0.035), (LEFT_EYE, 0.035), (NOSE_AND_MOUSTACHE, 0.02)]
    if brows:
        loops += [(RIGHT_BROW, 0.015), (LEFT_BROW, 0.015)]
    for loop, grow in loops:
        hull = polygon_mask(shape, cv2.convexHull(points[loop]).reshape(-1, 2), 1.0)
        r = max(1, int(grow * face_px))
        own |= dilated(hull, r)
    zone = (oval > 127) & (own < 128) & rows
    r = max(2, int(0.03 * face_px))
    inner = cv2.erode(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    edge = zone & (inner < 128)
    return zone, edge


def keep_map(rgb: np.ndarray, points: np.ndarray, skin: np.ndarray | None = None,
             hair: HairModel | None = None) -> np.ndarray:
    """float32 (h, w): 0 where hair or another occluder lies over the face, 1 elsewhere.

    Brown and black hair have a skin-like chroma, so darkness counts too: a pixel far darker
    than the person's sampled skin is hair. With `hair` (hair_model's maps), strands at the
    face's sides that look like the person's own hair are found too (`hair_like`)."""
    skin = skin_probability(rgb, points) if skin is None else skin
    face_px = _face_px(points)
    measured = _luma_and_level(rgb, points, face_px)
    dark = np.zeros(_hw(rgb), bool) if measured is None else measured[0] < HAIR_DARKNESS * measured[1]
    cr, cb = _chroma(rgb, max(0.8, 0.006 * face_px))
    greyish = np.hypot(cr - 128.0, cb - 128.0) < HAIR_MAX_CHROMA  # grey, white, ash hair; not paint or make-up
    zone, edge = hair_zone(_hw(skin), points)
    candidate = (zone & (((skin < 0.35) & greyish) | dark)).astype(np.uint8) * 255
    k = max(3, int(0.015 * face_px) | 1)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))  # specks are pores
    # Grown: strands' soft, thin ends reach past what the threshold finds.
    grow = max(1, int(0.03 * face_px))
    occluder = dilated(entering(candidate, edge), grow)
    if hair is not None:
        found = hair_like(rgb, points, hair)
        # ... those found by likeness only over what could be hair (HAIR_FAR): paint beside a strand stays whole.
        occluder |= dilated(found, grow) & (((hair.distance < HAIR_FAR) | (found > 0)).astype(np.uint8) * 255)
    return 1.0 - soft_region(occluder, 0, max(1.0, 0.012 * face_px))


# hair_like looks this far (face widths) in from the face's edge (hair hanging past a temple reaches
# the eye's outer corner: 0.12 left a strand there) ...
HAIR_BAND = 0.2
# ... with the person's hair sampled this far out from it, above the brows (the selfie's crop, mesh.build_source,
# has 0.15 face widths round the oval: the sample reaches that far at the sides)
HAIR_SAMPLE_REACH = 0.25
HAIR_FEATURE_GROW = 0.06  # eyes and lips grown by this much are never hair (eyeliner wings, lashes) ...
BROW_DARKNESS = 0.8  # ... nor, within brows grown as much, what is darker than this share of the skin's luma
BROW_HAIR_EDGE = 0.01  # ... grown by this much (face widths): a brow hair's blurred edge is lighter than its core
HAIR_LLR = 3.0  # log-likelihood ratio, hair against skin, past which a pixel is hair
# Hair hangs down the sides in a curtain: a gap straight down between hair found above and below
# it is hair too (an unlit strand between two lit ones), up to twice this long (face widths: the
# closing reaches this far up and down).
HAIR_CURTAIN = 0.12
# ... and widened sideways by this much (face widths): the soft edge of a strand beside one found.
HAIR_WIDEN = 0.04
# The curtain and the widening never reach a pixel this far (squared Mahalanobis distance, four
# features) from the person's hair, and keep_map grows hair found by likeness no further than that:
# face paint or a sticker is not hair, and a colour patch between two strands was cut in half.
# Measured: what they fill on the quality set's photos is at most 56 away; the demo selfie's painted
# dots about 450. The distance from the skin model can't tell paint: the dots on the cheeks lie in
# its sample (about 25 away). Skin far from a person's hair (Hopper's, beside white hair) keeps its
# own texture where the grown edge used to reach: 289 pixels of her cheek.
HAIR_FAR = 100.0
HAIR_MIN_SAMPLE = 0.02  # least hair sample (a share of the face's area): a bald head or a tight crop has none
MIN_SAMPLE_PX = 16  # and at least this many pixels in each sample, for a covariance of four features
BROWS = np.array([70, 105, 300, 334], dtype=np.int32)  # upper brow points: the hair sample lies above them


def _appearance(rgb: np.ndarray, face_px: float) -> np.ndarray:
    """float32 (h, w, 4): CIELAB, smoothed a little, and the log of fine-detail energy (x 20, so that
    it weighs like a few LAB units): hair is strands, skin is smooth, even where their colours meet."""
    lab = to_lab(cv2.GaussianBlur(rgb, (0, 0), max(0.8, 0.006 * face_px))).astype(np.float32)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = gray - cv2.GaussianBlur(gray, (0, 0), max(1.0, 0.012 * face_px))
    energy = np.log1p(np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), max(1.5, 0.02 * face_px))))
    return np.dstack([lab, 20.0 * energy])


def _fit(features: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, float]:
    """(float32 (h, w) squared Mahalanobis distance, log-determinant of the covariance) of each pixel
    under a Gaussian fitted to `features` at `sample` (regularised: a few units of spread added to
    every feature)."""
    x = features[sample].astype(np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x.T) + 4.0 * np.eye(x.shape[1])
    inv = np.linalg.inv(cov)
    d = features - mean.astype(np.float32)
    return np.einsum("...i,ij,...j->...", d, inv.astype(np.float32), d), float(np.linalg.slogdet(cov)[1])


@dataclass(frozen=True)
class HairModel:
    """The person's own hair against their skin, per pixel of the selfie (float32 (h, w) each)."""

    ratio: np.ndarray  # log-likelihood ratio, hair against skin
    distance: np.ndarray  # squared Mahalanobis distance from the hair: large for paint, and for skin unlike it


def hair_model(rgb: np.ndarray, points: np.ndarray, person: np.ndarray) -> HairModel | None:
    """Each pixel's likeness to the person's own hair, against their skin and on its own, in colour
    and fine texture; None when too little hair is seen to sample (a bald head, a tight crop) or too
    little skin.

    The hair is sampled where it surely is, around the head above the brows (the `person` mask,
    at the image's size, keeps the backdrop out); the skin on the inner face, shading and all."""
    shape = _hw(rgb)
    if person.shape[:2] != shape:
        raise ValueError(f"person mask {person.shape[:2]} is not the image's {shape}")
    face_px = _face_px(points)
    oval = polygon_mask(shape, points[FACE_OVAL], 1.0)
    above = np.arange(shape[0])[:, None] < float(points[BROWS, 1].mean())
    hair_sample = ((_grown(oval, 0.03, face_px) < 128) & (_grown(oval, HAIR_SAMPLE_REACH, face_px) > 127)
                   & (person > 0.5) & above)
    face_area = float((oval > 127).sum())
    if hair_sample.sum() < max(MIN_SAMPLE_PX, HAIR_MIN_SAMPLE * face_area):
        return None
    skin_sample = (_grown(oval, -0.15, face_px) > 127) & ~own_features(shape, points, max(1, int(0.04 * face_px)))
    if skin_sample.sum() < MIN_SAMPLE_PX:
        return None
    features = _appearance(rgb, face_px)
    hair_d2, hair_logdet = _fit(features, hair_sample)
    skin_d2, skin_logdet = _fit(features, skin_sample)
    ratio = 0.5 * ((skin_d2 + skin_logdet) - (hair_d2 + hair_logdet))
    return HairModel(ratio=ratio.astype(np.float32), distance=hair_d2.astype(np.float32))


def _grown(mask: np.ndarray, r: float, face_px: float) -> np.ndarray:
    """uint8 `mask` dilated by r face widths (eroded for r < 0), with an ellipse of at least 1 px."""
    k = max(1, int(abs(r) * face_px))
    if r >= 0:
        return dilated(mask, k)
    return cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))


def _dark_brows(rgb: np.ndarray, points: np.ndarray, brow_area: np.ndarray, face_px: float) -> np.ndarray:
    """bool (h, w): the brows' own hair within `brow_area` (uint8, the brow hulls grown): darker
    than BROW_DARKNESS of the sampled skin, grown by BROW_HAIR_EDGE for a brow hair's soft edge.
    All of `brow_area` when no skin was sampled to compare with."""
    measured = _luma_and_level(rgb, points, face_px)
    if measured is None:
        return brow_area > 0
    dark = ((measured[0] < BROW_DARKNESS * measured[1]) & (brow_area > 0)).astype(np.uint8) * 255
    return _grown(dark, BROW_HAIR_EDGE, face_px) > 127


def hair_like(rgb: np.ndarray, points: np.ndarray, hair: HairModel) -> np.ndarray:
    """uint8 (h, w): strands at the face's sides and forehead corners that look like the person's
    own hair (`hair`: hair_model's maps), entering from the face's edge.

    Light brown hair on brown skin, or blonde curls under coloured light, pass the skin model
    (`keep_map`): pasted, they became stripes down the actor's cheeks. A pixel near the face's
    edge far likelier hair than skin is hair; so are a gap straight down between two such strands
    (HAIR_CURTAIN) and a strand's soft edge beside it (HAIR_WIDEN). Eyes and lips, generously
    grown, never are; nor, by the curtain or the widening, what looks nothing like the person's
    hair (HAIR_FAR: a painted dot on a cheek between two strands stays whole; `keep_map` grows
    what is found here only over what could be hair, too).

    Brows are looked at, not left out: strands hanging past a temple cross a brow's tail, and
    left there they were streaks from the hairline to the brow. Brow hair looks like head hair,
    so by a brow (its hull grown as much) what is darker than BROW_DARKNESS of the skin is the
    brow's own: never found by colour, and neither the curtain nor the widening of hair outside
    that area reaches in. Lighter strands lying in it are found as anywhere else, and widened over
    the dark beside them (a strand in their shade), so a brow with no hair across it stays whole."""
    shape = _hw(rgb)
    if hair.ratio.shape[:2] != shape or hair.distance.shape[:2] != shape:
        raise ValueError(f"hair maps {hair.ratio.shape[:2]} are not the image's {shape}")
    face_px = _face_px(points)
    oval = polygon_mask(shape, points[FACE_OVAL], 1.0)
    grow = max(1, int(HAIR_FEATURE_GROW * face_px))
    zone, edge = hair_zone(shape, points, brows=False)
    zone &= (_grown(oval, -HAIR_BAND, face_px) < 128) & ~own_features(shape, points, grow, brows=False)
    brow_area = _grown(brow_hulls(shape, points), HAIR_FEATURE_GROW, face_px)
    dark_brows = _dark_brows(rgb, points, brow_area, face_px)
    open_zone = zone & ~dark_brows
    candidate = (open_zone & (hair.ratio > HAIR_LLR)).astype(np.uint8) * 255
    k = max(3, int(0.015 * face_px) | 1)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))  # specks first
    # Then closed straight down and widened sideways (image axes: hair hangs with gravity, whatever
    # the head's tilt), within the zone, over what could be hair.
    plausible = hair.distance < HAIR_FAR
    fill = open_zone & plausible
    if HAIR_CURTAIN > 0:
        v = max(1, int(HAIR_CURTAIN * face_px))
        curtain = cv2.morphologyEx(candidate, cv2.MORPH_CLOSE, np.ones((2 * v + 1, 1), np.uint8))
        candidate = np.where(fill, curtain, candidate).astype(np.uint8)
    if HAIR_WIDEN > 0:
        sideways = np.ones((1, 2 * max(1, int(HAIR_WIDEN * face_px)) + 1), np.uint8)
        # Over the dark pixels by a brow only from strands found in its area (the hull grown by
        # HAIR_FEATURE_GROW, more than the widening's reach): a strand lying across a brow's tail
        # covers the dark in its shade, hair that stays clear of the brow's area never reaches it.
        over_brow = cv2.dilate(np.where(brow_area > 0, candidate, 0).astype(np.uint8), sideways)
        widened = np.where(fill, cv2.dilate(candidate, sideways), candidate)
        candidate = np.where(zone & dark_brows & plausible, np.maximum(widened, over_brow), widened).astype(np.uint8)
    return entering(candidate, edge)


# The user's skin under their hair is estimated from skin this far around (face widths): the skin
# right beside hanging hair, usually in its shade. From 0.08, the lit middle of the cheek made the
# fill a pale band down the side of the face.
SKIN_FILL_SIGMA = 0.025


def skin_fill(rgb: np.ndarray, points: np.ndarray, keep: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 3): `rgb` with what `keep_map` marks as hair replaced by the user's own skin
    nearby (its local mean, eyes, brows and lips left out).

    Two uses: the soft edge of the hair mask then fades into skin, not into the strand it
    hides, and below the brows and near the eyes that skin shows instead of the scene's
    (masks.own_skin), where the scene's would bring the actor's glasses rims, eye corners and
    paler cheek in. A smooth mean over skin close by (SKIN_FILL_SIGMA), not an inpaint:
    propagating from the boundary dragged eyeliner and shadow in as smudges."""
    face_px = _face_px(points)
    if float(keep.min()) >= 0.99:
        return rgb
    own = own_features(_hw(keep), points, max(1, int(0.04 * face_px)))
    weights = (keep * (skin > 0.5) * ~own).astype(np.float32)
    total = float(weights.sum())
    if total < 1.0:  # no skin seen at all: nothing to fill from (the alpha still hides the hair)
        return rgb
    sigma = SKIN_FILL_SIGMA * face_px
    colour = rgb.astype(np.float32)
    overall = (colour * weights[..., None]).reshape(-1, 3).sum(axis=0) / total
    # Far from any skin the local mean has nothing to average: it leans on the face's overall skin colour.
    lean = 1e-2
    mean = cv2.GaussianBlur(colour * weights[..., None], (0, 0), sigma) + lean * overall
    mean /= (cv2.GaussianBlur(weights, (0, 0), sigma) + lean)[..., None]
    k = keep[..., None]
    # Rounded, not truncated: where `keep` is a hair under 1 (a blurred mask's far tail), 91.9999 must
    # stay 92, not become 91.
    return np.clip(np.rint(rgb * k + mean * (1.0 - k)), 0, 255).astype(np.uint8)


def covered_share(rgb: np.ndarray, points: np.ndarray, skin: np.ndarray | None = None) -> float:
    """Share of the face oval, outside eyes, brows and lips, that is unlike the person's cheeks."""
    skin = skin_probability(rgb, points) if skin is None else skin
    face_px = _face_px(points)
    oval = polygon_mask(_hw(skin), points[FACE_OVAL], 1.0) > 127
    area = oval & ~own_features(_hw(skin), points, max(1, int(0.02 * face_px)))
    if area.sum() == 0:
        return 1.0
    return float((skin[area] < 0.35).mean())


SCENE_OBJECT_DARKNESS = 0.3  # scene pixels darker than this share of the actor's skin luma: an object
SCENE_OBJECT_MIN = 0.06  # an object narrower than this share of the face (a glasses rim) is not one
EYE_LINE = np.array([RIGHT_EYE_LIDS[1], LEFT_EYE_LIDS[1]], dtype=np.int32)  # lower lids: objects are below them


def scene_objects(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """float32 (h, w) in [0, 1]: dark objects in front of the actor's face below the eyes (a
    headset microphone, a pen), which must stay in front of the swapped face as the actor's hands do.

    Pasted over, such an object showed through the face as a dark smear, and it darkened the
    light fitted to the face. Found the way hair is on a selfie, with a stricter darkness (an
    object is near-black next to skin; a beard's shadow is not) and only where it enters from
    the face's edge: the actor's eyes, brows, nostrils and lips are excluded, and an opening of
    SCENE_OBJECT_MIN face widths drops thin rims. rgb: the scene's face region at any scale;
    points: the actor's landmarks in it."""
    face_px = _face_px(points)
    shape = _hw(rgb)
    measured = _luma_and_level(rgb, points, face_px)
    if measured is None:  # the actor's skin is off the frame: nothing to compare an object's darkness with
        return np.zeros(shape, np.float32)
    luma, reference = measured
    oval = polygon_mask(shape, points[FACE_OVAL], 1.0) > 127
    k = max(3, int(SCENE_OBJECT_MIN * face_px) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    # Below the eyes: a microphone, a pen, a cup. Above them, dark pixels at the edge are the
    # actor's own hair, which the scene shows around the face anyway.
    below = np.arange(shape[0])[:, None] > float(points[EYE_LINE, 1].max())
    dark = ((luma < SCENE_OBJECT_DARKNESS * reference) & oval & below).astype(np.uint8) * 255
    r = max(2, int(0.04 * face_px))
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    edge = cv2.erode(oval.astype(np.uint8) * 255, ring) < 128
    found = entering(cv2.morphologyEx(dark, cv2.MORPH_OPEN, kernel), edge)
    if not found.any():  # most frames: pupils, nostrils and brows are thinner than an object, or inside
        return np.zeros(shape, np.float32)
    own = own_features(shape, points, max(1, int(0.03 * face_px))) | (skin_probability(rgb, points) >= 0.5)
    found[own] = 0
    found = entering(cv2.morphologyEx(found, cv2.MORPH_OPEN, kernel), edge)
    if not found.any():
        return np.zeros(shape, np.float32)
    return soft_region(found, max(1, int(0.02 * face_px)), max(0.8, 0.01 * face_px))  # the object's soft, blurred edge


SCENE_SKIN_LIGHTNESS = (0.45, 0.7)  # scene pixels from this share of the actor's skin luma to this one: hair to skin
SCENE_SKIN_TAIL = 0.3  # skin likeness below this is not skin at all (a beige wall), above 1 - this fully skin


def scene_skin(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """float32 (h, w) in [0, 1]: how much each scene pixel is the actor's bare skin (not hair, not background).

    For the forehead above the face oval, which takes the user's skin tone (masks.frame_masks):
    the actor's own forehead there showed as a pink or pale band over the user's face. Chroma
    like the actor's sampled skin, and not much darker than it: brown hair has a skin-like
    chroma, so darkness counts too. rgb: the scene's face region at any scale; points: the
    actor's landmarks in it."""
    face_px = _face_px(points)
    measured = _luma_and_level(rgb, points, face_px)
    if measured is None:  # the actor's sampled skin is off the frame (a face cut off at its top): none found
        return np.zeros(_hw(rgb), np.float32)
    luma, level = measured
    reference = max(1.0, level)
    lo, hi = SCENE_SKIN_LIGHTNESS
    light = np.clip((luma.astype(np.float32) / reference - lo) / (hi - lo), 0.0, 1.0)
    # The skin model's tail is wide (it must hold a shadowed cheek); a beige wall sits in it at
    # 0.1-0.2, and toned even that little it showed as a glow round the head. Cut the tail.
    likeness = np.clip((skin_probability(rgb, points) - SCENE_SKIN_TAIL) / (1.0 - 2 * SCENE_SKIN_TAIL), 0.0, 1.0)
    return likeness * light


def entering(candidate: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """uint8 (h, w): the connected parts of `candidate` (uint8) that reach `edge` (bool). Hair and
    objects in front of a face come in from its edge; a mole, a shadow or glasses inside it don't."""
    if not candidate.any():
        return candidate
    _, labels = cv2.connectedComponents(candidate)
    reaching = np.unique(labels[edge & (candidate > 0)])
    return np.isin(labels, reaching[reaching > 0]).astype(np.uint8) * 255


LIPS_REACH = 0.12  # the selfie's lips are looked for this far (face widths) past its mesh's lip line ...
TEETH_REACH = 0.04  # ... and its teeth this far


def lips_outside(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """float32 (h, w) in [0, 1]: the selfie's lips and teeth that lie outside its mesh's outer lip line.

    On a big laugh the mesh puts the lower lip's outer contour on the lower teeth: the lower lip
    is left outside the polygon and would be warped onto the actor's chin (a doubled lip line).
    Found by colour next to the mouth: redder than the person's skin (half-way to the lips' own
    a*), or teeth (lighter, greyer) just past the line, connected to the mesh's lips."""
    face_px = _face_px(points)
    shape = _hw(rgb)
    lab = to_lab(cv2.GaussianBlur(rgb, (0, 0), max(0.8, 0.006 * face_px)))
    sample = _sample_mask(shape, points, face_px)
    ref = np.median(lab[sample], axis=0)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    lips = polygon_mask(shape, points[OUTER_LIPS], 1.0) > 127
    lips_a = float(np.percentile(lab[..., 1][lips], 80))  # teeth inside the polygon pull the median down
    redder = lab[..., 1] > ref[1] + max(4.0, 0.5 * (lips_a - ref[1]))
    teeth = (lab[..., 0] > ref[0] + 5.0) & (chroma < 0.6 * float(np.median(chroma[sample])))
    # Lips reach LIPS_REACH past the line, teeth only TEETH_REACH: further out, light and grey is a
    # white beard, and the user's beard stays. (Darkness is no cue at all: a moustache is dark.)
    distance = cv2.distanceTransform(np.where(lips, 0, 255).astype(np.uint8), cv2.DIST_L2, 3)
    below_nose = np.arange(shape[0])[:, None] > float(points[2, 1])
    found_by = (redder & (distance < LIPS_REACH * face_px)) | (teeth & (distance < TEETH_REACH * face_px))
    candidate = ((below_nose & found_by) | lips).astype(np.uint8) * 255
    k = max(3, int(0.015 * face_px) | 1)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    found = entering(candidate, lips)
    found[lips] = 0
    return soft_region(found, max(1, int(0.015 * face_px)), max(1.0, 0.01 * face_px))
