"""The embedded CPU engine: mediapipe mesh + piecewise-affine warp + relight + two-band blend.

Needs no downloaded weights. All per-frame work is confined to the face's region of
interest, and everything but the warp itself and the final composite runs at the
reduced scale of the warp map (about 112 px across the face).

What goes where, and why (measured on real selfies and real footage, see
benchmarks/quality.py):
* The selfie's texture is warped onto the scene face along mediapipe's own
  tessellation, which never folds on a turned face (Delaunay on one layout does), with
  the eye openings closed by fans (topology.WARP_TRIANGLES), so an iris stays in its eye.
* The warp's target is the actor's landmarks moved to the user's proportions (shape.py):
  the actor's expression, the user's eye spacing, nose and brows.
* An open mouth in the selfie (teeth) would be stretched over the actor's mouth, and
  half-closed eyes smear into dark smudges: those come from the scene instead. On a big
  laugh the mesh leaves the lower lip outside its lip line; found by colour, it is kept
  out of the texture like hair (occlusion.lips_outside).
* Hair falling over the selfie's face is kept out of the texture (occlusion.py): above the
  brows the scene's forehead fills in, in the user's tone; below them, and round the eyes, the
  user's own skin does (the scene's brought the actor's glasses rims and eye corners, and a
  paler or pinker band down the face's sides).
* The scene's light replaces the selfie's, the user's skin tone stays (tone.py), out to
  the actor's hairline: the region reaches FOREHEAD_REACH above the oval, and the actor's
  bare forehead there takes the user's tone instead of showing as a band.
* The seam is a two-band blend: the scene's low band at the edge, a sharp edge for detail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from zaobot.errors import FaceCovered
from zaobot.models.engine import StageTimer
from zaobot.models.frontal import frontalise
from zaobot.models.landmarks import FaceAnalyzer, face_width
from zaobot.models.masks import FOREHEAD_REACH, FrameMasks, frame_masks, halved
from zaobot.models.occlusion import (
    covered_share,
    hair_model,
    keep_map,
    lips_outside,
    scene_objects,
    scene_skin,
    skin_fill,
    skin_probability,
)
from zaobot.models.selfie_face import locate_face, yaw
from zaobot.models.shape import reshaped, resting_shape, shape_offsets
from zaobot.models.tone import ToneDeltas, tone_deltas
from zaobot.models.topology import FACE_OVAL, WARP_TRIANGLES, eye_openness, five_keypoints, mouth_gap, warp_points
from zaobot.models.tracking import SceneAnalysis
from zaobot.models.warp import fit_affine, rasterise, upsample_maps

SOURCE_FACE_MAX_PX = 512  # larger selfie faces are downscaled to this face width
EYES_OPEN_MIN = 0.2  # below this (a squint, a laugh) the scene's eyes are used
# Above this inner-lip gap / mouth width the selfie's mouth is open wide enough for its teeth and
# lips to spill past the mesh's lip line (a laugh): the scene's whole mouth is used. Parted lips
# below it (0.12 on the set's soft smile) keep the user's own lips around the scene's teeth: the
# inner-lip hole already covers what shows between them.
MOUTH_OPEN_MIN = 0.14
# The scene's mouth reaches this far past its lips: base + share of the selfie's gap. A laughing
# selfie's lips that its mesh leaves outside the lip line are kept out of the texture instead
# (occlusion.lips_outside), so the margin is small: at 0.3 of the gap it covered so much of the
# user's face that the laughing selfie was the set's worst identity pair (0.607; now 0.576).
MOUTH_SPILL = (0.03, 0.1)
# The actor's mouth this much wider open than the selfie's (inner-lip gap / mouth width): from
# none to all of the mouth, lips included, from the scene. Below it the user's own lips frame the
# scene's teeth: talking (gaps to about 0.12) keeps them, which carries identity (dlib distance on
# a closed-mouth selfie in the cued-speech scene 0.60 -> 0.58); a shout or a laugh, whose lips
# would stretch, takes the actor's.
MOUTH_WIDER = (0.12, 0.2)
COVERED_MAX = 0.5  # more of the face than this is hair, hands or a mask: ask for another photo
MAP_SIDE = 112  # the warp map and masks are built at about this many pixels on their long side
SHARPEN = 0.3  # mild unsharp mask on the selfie: a warped face is softer than the scene's skin
SCENE_TONE_MEMORY = 0.9  # per-frame smoothing of the scene face's mean colour (no tone flicker)


@dataclass(frozen=True)
class SourceLevel:
    """The selfie crop at one scale of its pyramid."""

    rgba: np.ndarray  # uint8 (h, w, 4)
    points: np.ndarray  # float32 (478, 2)
    face_px: float
    # The colour channels alone, contiguous: the full-size warp samples three channels, not four,
    # and needs no conversion after (the alpha is read at the reduced scale only).
    rgb: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rgb", np.ascontiguousarray(self.rgba[..., :3]))


@dataclass(frozen=True)
class MeshSource:
    """A prepared selfie face. Lives in memory only; never written to disk."""

    levels: tuple[SourceLevel, ...]  # the crop, halved and halved again: sampled near the scene face's size
    eyes_open: bool
    mouth_open: bool
    mouth_gap: float
    covered: float  # share of the face that isn't skin
    keypoints: np.ndarray  # float32 (5, 2) in crop coordinates

    @property
    def rgba(self) -> np.ndarray:
        """uint8 (h, w, 4): the full-size RGB crop around the face; alpha 0 where hair covers it."""
        return self.levels[0].rgba

    @property
    def points(self) -> np.ndarray:
        """float32 (478, 2): landmarks in the full-size crop."""
        return self.levels[0].points

    def with_texture(self, rgba: np.ndarray) -> MeshSource:
        """The same face with another texture of the same layout (for experiments and tests)."""
        return replace(self, levels=pyramid(rgba, self.points))


def _sharpen(rgb: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    blur = cv2.GaussianBlur(rgb, (0, 0), sigma)
    return cv2.addWeighted(rgb, 1.0 + amount, blur, -amount, 0)


def _mask_window(mask: np.ndarray, image_size: tuple[int, int], origin: tuple[int, int], scale: float,
                 size: tuple[int, int]) -> np.ndarray:
    """The part of `mask` (covering an image of `image_size` (W, H) at its own, smaller resolution)
    under a crop of that image at `origin` (x, y), scaled by `scale`, of `size` (W, H): bilinear."""
    sx, sy = mask.shape[1] / image_size[0], mask.shape[0] / image_size[1]
    to_mask = np.array([[sx / scale, 0.0, sx * (origin[0] + 0.5 / scale) - 0.5],
                        [0.0, sy / scale, sy * (origin[1] + 0.5 / scale) - 0.5]], np.float32)
    return cv2.warpAffine(mask, to_mask, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def build_source(rgb: np.ndarray, points: np.ndarray, person: np.ndarray | None = None) -> MeshSource:
    """Crop, scale and measure the selfie face once, so each frame only warps and blends.
    `person`: the selfie's person mask (FaceAnalyzer.person, at any resolution), where hair is sampled.

    Raises FaceCovered when too little of the face is visible skin to render it."""
    oval = points[FACE_OVAL]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    margin = 0.15 * (x1 - x0)
    h, w = rgb.shape[:2]
    cx0, cy0 = int(max(0, x0 - margin)), int(max(0, y0 - margin))
    cx1, cy1 = int(min(w, x1 + margin + 1)), int(min(h, y1 + margin + 1))
    crop = rgb[cy0:cy1, cx0:cx1]
    pts: np.ndarray = points - np.array([cx0, cy0], dtype=np.float32)
    scale = min(1.0, SOURCE_FACE_MAX_PX / max(1.0, float(x1 - x0)))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        pts = (pts + 0.5) * scale - 0.5
    person_crop = None if person is None else _mask_window(person, (w, h), (cx0, cy0), scale,
                                                           (crop.shape[1], crop.shape[0]))
    crop = np.ascontiguousarray(crop)
    skin = skin_probability(crop, pts)
    covered = covered_share(crop, pts, skin)
    if covered > COVERED_MAX:
        raise FaceCovered()
    eyes_open, gap = eye_openness(pts) >= EYES_OPEN_MIN, mouth_gap(pts)
    hair = None if person_crop is None else hair_model(crop, pts, person_crop)
    keep = keep_map(crop, pts, skin, hair)
    if gap > MOUTH_OPEN_MIN:  # lips and teeth the mesh left outside its lip line stay out of the texture
        keep = np.minimum(keep, 1.0 - lips_outside(crop, pts))
    crop = skin_fill(crop, pts, keep, skin)
    rgba, pts = frontalise(np.dstack([crop, np.round(keep * 255).astype(np.uint8)]), pts, yaw(pts))
    sharp = _sharpen(np.ascontiguousarray(rgba[..., :3]), max(0.8, face_width(pts) / 256), SHARPEN)
    rgba = np.dstack([sharp, rgba[..., 3]])
    return MeshSource(
        levels=pyramid(np.ascontiguousarray(rgba), pts.astype(np.float32)),
        eyes_open=eyes_open,
        mouth_open=gap > MOUTH_OPEN_MIN,
        mouth_gap=gap,
        covered=covered,
        keypoints=five_keypoints(pts),
    )


def pyramid(rgba: np.ndarray, points: np.ndarray, smallest: float = 48.0) -> tuple[SourceLevel, ...]:
    """The crop at full, half, quarter... size, down to a face `smallest` px wide.

    A 400 px selfie face warped straight onto a 100 px scene face with bilinear sampling
    aliases into grain; sampling a level near the target size is the prefilter it needs."""
    levels = [SourceLevel(rgba, points, face_width(points))]
    while levels[-1].face_px / 2 >= smallest:
        prev = levels[-1]
        small = cv2.pyrDown(prev.rgba)
        sy, sx = small.shape[0] / prev.rgba.shape[0], small.shape[1] / prev.rgba.shape[1]
        pts = ((prev.points + 0.5) * np.array([sx, sy], np.float32) - 0.5).astype(np.float32)
        levels.append(SourceLevel(small, pts, face_width(pts)))
    return tuple(levels)


def pick_level(source: MeshSource, face_px: float) -> SourceLevel:
    """The smallest level whose face is still at least as wide as the scene face."""
    best = source.levels[0]
    for level in source.levels:
        if level.face_px >= face_px:
            best = level
    return best


def face_roi(points: np.ndarray, frame_size: tuple[int, int], pad: int = 2,
             up: float = 0.0) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the face oval in the frame, reaching `up` face widths above it (the
    forehead to the hairline), or None when it is off-frame or tiny."""
    width, height = frame_size
    oval = points[FACE_OVAL]
    x0 = max(0, int(np.floor(oval[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(oval[:, 1].min() - up * np.ptp(oval[:, 0]))) - pad)
    x1 = min(width, int(np.ceil(oval[:, 0].max())) + pad + 1)
    y1 = min(height, int(np.ceil(oval[:, 1].max())) + pad + 1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return x0, y0, x1, y1


def mouth_from_scene(scene_points: np.ndarray, source: MeshSource) -> float:
    """How much of the mouth this frame takes from the scene (0-1); smooth because the track is."""
    if source.mouth_open:
        return 1.0
    wider = mouth_gap(scene_points) - source.mouth_gap
    return float(np.clip((wider - MOUTH_WIDER[0]) / (MOUTH_WIDER[1] - MOUTH_WIDER[0]), 0.0, 1.0))


def reduction(size: tuple[int, int]) -> int:
    """The integer factor from a face region of `size` (W, H) down to the grid of maps, masks and
    tone: about MAP_SIDE px on its long side. An integer factor lets OpenCV area-average in one
    cheap pass (a fractional one costs three times more)."""
    return max(1, round(max(size) / MAP_SIDE))


def reduced_shape(size: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """((h, w), scale): the reduced grid on which maps, masks and tone work for a region of `size` (W, H)."""
    k = reduction(size)
    w, h = max(2, -(-size[0] // k)), max(2, -(-size[1] // k))
    return (h, w), w / size[0]


def grid_roi(roi: tuple[int, int, int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """`roi` grown by a few pixels so that its sides are multiples of its reduction factor, where the
    frame allows: the region then shrinks to its grid by exact area averaging."""
    x0, y0, x1, y1 = roi
    k = reduction((x1 - x0, y1 - y0))
    bounds = []
    for lo, hi, limit in ((x0, x1, frame_size[0]), (y0, y1, frame_size[1])):
        extra = -(hi - lo) % k
        if hi + extra <= limit:
            hi += extra
        elif lo - extra >= 0:
            lo -= extra
        bounds.append((lo, hi))
    (x0, x1), (y0, y1) = bounds
    return x0, y0, x1, y1


def region_masks(points: np.ndarray, size: tuple[int, int], source: MeshSource,
                 keep: np.ndarray | None = None, hands: np.ndarray | None = None,
                 objects: np.ndarray | None = None,
                 scene_skin: np.ndarray | None = None) -> tuple[FrameMasks, float]:
    """The masks for a face region of `size` (W, H) with region landmarks `points` (and the scene's
    hands, objects and bare skin there, if known), and their scale."""
    shape, scale = reduced_shape(size)
    grow = MOUTH_SPILL[0] + (MOUTH_SPILL[1] * source.mouth_gap if source.mouth_open else 0.0)
    return frame_masks(points, shape, shape[1] / size[0], face_width(points),
                       mouth_from_scene=mouth_from_scene(points, source), mouth_grow=grow,
                       eyes_from_scene=not source.eyes_open, keep=keep, hands=hands, objects=objects,
                       scene_skin=scene_skin), scale


def _apply_affine(affine: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate maps moved into another layout by a (2, 3) affine (one pyramid level to another)."""
    (a, b, c), (d, e, f) = affine
    return a * map_x + b * map_y + c, d * map_x + e * map_y + f


@dataclass
class _ClipState:
    """What carries from frame to frame within one render: the smoothed scene tone."""

    scene_mean: np.ndarray | None = None
    rest: np.ndarray | None = None  # the actor's resting shape (shape.resting_shape)
    offsets: np.ndarray | None = None  # the user's proportions on it (shape.shape_offsets)


def swap_face(frame: np.ndarray, landmarks: np.ndarray | None, source: MeshSource, timer: StageTimer,
              state: _ClipState | None = None, hands: np.ndarray | None = None) -> np.ndarray:
    """Swap `source` onto the face at `landmarks` (478, 2) in `frame` (H, W, 3) uint8 RGB; the scene's
    `hands` (k, 21, 2) in this frame, if any, stay in front."""
    if landmarks is None:
        return frame
    roi = face_roi(landmarks, (frame.shape[1], frame.shape[0]), up=FOREHEAD_REACH)
    if roi is None:
        return frame
    x0, y0, x1, y1 = grid_roi(roi, (frame.shape[1], frame.shape[0]))
    size = (x1 - x0, y1 - y0)
    pts: np.ndarray = landmarks - np.array([x0, y0], dtype=np.float32)
    shape, scale = reduced_shape(size)
    face_px = face_width(pts)
    small = (shape[1], shape[0])
    with timer.stage("swap"):
        offsets, rest = (None, None) if state is None else (state.offsets, state.rest)
        target = pts if offsets is None or rest is None else reshaped(pts, rest, offsets)
        raster = rasterise(warp_points(target), WARP_TRIANGLES, shape, (scale, shape[0] / size[1]))
        level = pick_level(source, face_px)
        map_x, map_y = raster.maps(warp_points(level.points))
        full_x, full_y = upsample_maps(map_x, map_y, size)
        warped = cv2.remap(level.rgb, full_x, full_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # The reduced-scale copy for masks and tone is sampled from a pyramid level near its own
        # size, on the same raster: downsizing the full-size warp costs ten times more.
        coarse = pick_level(source, face_px * scale)
        to_coarse = fit_affine(level.points, coarse.points).astype(np.float32)
        warped_small = cv2.remap(coarse.rgba, *_apply_affine(to_coarse, map_x, map_y), cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
    with timer.stage("blend"):
        scene_roi = frame[y0:y1, x0:x1]
        keep = warped_small[..., 3].astype(np.float32) * (1.0 / 255.0)
        near = None if hands is None else hands - np.array([x0, y0], dtype=np.float32)
        scene_small = cv2.resize(scene_roi, small, interpolation=cv2.INTER_AREA)
        pts_small = ((pts + 0.5) * scale - 0.5).astype(np.float32)
        objects = scene_objects(scene_small, pts_small)
        masks, _ = region_masks(pts, size, source, keep, near, objects, scene_skin(scene_small, pts_small))
        face_small = np.ascontiguousarray(warped_small[..., :3])
        smoothed = state.scene_mean if state is not None else None
        # Light and tone are low-frequency: they are worked out at half the masks' scale.
        halves = halved(masks, pts, shape[1] / size[0], face_px)
        half = (halves.outer.shape[1], halves.outer.shape[0])
        deltas, scene_mean = tone_deltas(cv2.resize(face_small, half, interpolation=cv2.INTER_AREA),
                                         cv2.resize(scene_small, half, interpolation=cv2.INTER_AREA), halves,
                                         0.5 * face_px * scale, smoothed)
        deltas = ToneDeltas(face=cv2.resize(deltas.face, small, interpolation=cv2.INTER_LINEAR),
                            scene=cv2.resize(deltas.scene, small, interpolation=cv2.INTER_LINEAR))
        if state is not None:
            state.scene_mean = scene_mean if smoothed is None else (
                SCENE_TONE_MEMORY * smoothed + (1 - SCENE_TONE_MEMORY) * scene_mean)
        # out = scene + a*(face - scene) + [d_scene + a*(d_face - d_scene)]: the bracket is low
        # frequency (a itself comes from the reduced scale), so it is formed small and upsampled
        # with a; full resolution then only blends uint8 and adds.
        alpha = masks.sharp[..., None]
        small_tone = deltas.scene + alpha * (deltas.face - deltas.scene)
        if masks.front is not None:
            small_tone *= (1.0 - masks.front)[..., None]  # the scene's hand or microphone keeps its own colour
        tone = cv2.resize(small_tone, size, interpolation=cv2.INTER_LINEAR)
        a = cv2.resize(masks.sharp, size, interpolation=cv2.INTER_LINEAR)
        mixed = cv2.blendLinear(warped, scene_roi, a, 1.0 - a)
        # The decoded frame is ours alone: write the face region in place instead of copying 2.7 MB.
        frame[y0:y1, x0:x1] = cv2.add(mixed, tone, dtype=cv2.CV_8U)
    return frame


class MeshEngine:
    """The `mesh` engine. One instance per worker thread (mediapipe graphs are not thread-safe)."""

    name = "mesh"

    def __init__(self, min_face_px: int = 80, find_hair: bool = True) -> None:
        """`find_hair`: segment the selfie to sample the person's hair (occlusion.hair_model). The chat's
        selfie check, which only validates, goes without: the segmentation would run on every selfie."""
        self.min_face_px = min_face_px
        self.find_hair = find_hair
        self._analyzer = FaceAnalyzer()

    def prepare_source(self, selfie: np.ndarray) -> MeshSource:
        points = locate_face(self._analyzer, selfie, self.min_face_px)
        return build_source(selfie, points, self._analyzer.person(selfie) if self.find_hair else None)

    def swap_frame(
        self, frame: np.ndarray, landmarks: np.ndarray | None, source: MeshSource, timer: StageTimer
    ) -> np.ndarray:
        return swap_face(frame, landmarks, source, timer)

    def swap_stream(self, pairs: Iterator[tuple[np.ndarray, np.ndarray | None]], source: MeshSource,
                    timer: StageTimer, analysis: SceneAnalysis | None = None) -> Iterator[np.ndarray]:
        """All frames of one clip in order, with the scene's tone smoothed over time.

        With the scene's `analysis`, the face takes the user's proportions on the actor's
        resting shape (shape.py), and the scene's hands stay in front of it."""
        state = _ClipState()
        track = None if analysis is None else analysis.landmarks[analysis.present]
        if track is not None and len(track):
            state.rest = resting_shape(track)
            state.offsets = shape_offsets(source.points, state.rest,
                                          hold_eyes=not source.eyes_open, mouth_open=source.mouth_open)
        for index, (frame, landmarks) in enumerate(pairs):
            hands = None if analysis is None else analysis.hands_at(index)
            yield swap_face(frame, landmarks, source, timer, state, hands)

    def close(self) -> None:
        self._analyzer.close()
