"""The invisible watermark: a keyed spread-spectrum mark in the luma, read back by voting over frames.

Design, and why:
* The mark lives on a coarse canonical grid (128 cells across, ~10 px cells at
  720p) that is upsampled smoothly onto the frame. Cells survive H.264 and a
  downscale to 480p, and a decoder can re-find them after a crop by searching
  scale and offset (a known pilot pattern makes that search cheap). The keyed
  patterns are a function of the cell's (row, column) only, not of the frame's
  size, so a crop that changes the grid's rounded height still reads.
* The pattern is static in time, so averaging a clip's frames keeps it while
  moving content averages out; a prediction of each cell from its neighbours
  removes most of the remaining (static) picture.
* Its strength is not static: every frame gets its own amplitude map, a cheap
  perceptual (JND-like) mask computed at 3 samples per cell: faint in flat
  areas (a wall, a blue backdrop), where grain shows at once; up to about twice
  as strong in texture, which masks it; a little stronger in the dark
  (luminance masking); and attenuated 5x on the face, where grain would cost
  the swap its identity. Only the amplitude follows the content, so the static
  pattern still adds up over frames. Texture gets only a little more because
  it is where the mark is worth least: a static bookshelf stays in the average
  and drowns the mark, while on a flat wall the picture hides nothing, so a
  faint mark there is read best (and costs the least bits and PSNR).
* Payload: the 64-bit watermark id + CRC-16, whitened with keyed bits, then a
  rate-1/3 convolutional code (K=7) read by a list Viterbi decoder, the CRC
  picking the first of the 16 best paths that checks. It decodes at about 1.8
  (signal / noise per payload bit) where the repetition code it replaces needed
  about 4: some 7 dB less mark for the same error rate. Patterns, pilot and
  whitening all derive from ZAOBOT_SECRET_KEY, so without it nobody can read
  or forge the mark, and a clip marked under another key reads as unmarked.
* The detector averages frames weighted by how flat each one is at each pixel
  (a moving picture hides the mark only where it is busy), then weights each
  cell's residual by 1 / (its local energy): the matched filter for a mark of
  similar strength everywhere under picture "noise" that is weak on flat areas
  and strong on static texture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from zaobot.keys import derive_key

GRID_W = 128
ROW_BLOCK = 8  # patterns are generated in blocks of grid rows, keyed by the block's index
PAYLOAD_BITS = 64
CRC_BITS = 16
INFO_BITS = PAYLOAD_BITS + CRC_BITS
CONSTRAINT = 7  # convolutional code: constraint length and generators (octal 133, 171, 165)
GENERATORS = (0o133, 0o171, 0o165)
CODED = (INFO_BITS + CONSTRAINT - 1) * len(GENERATORS)  # 258 chips, zero-tailed
PILOT_SHARE = 0.2  # of the mark's energy spent on the pilot used to re-align after crops
MEAN_FLOOR = 1.0  # grey levels: frame detail below this counts as flat when averaging frames
MIN_PILOT_Z = 6.0  # unmarked clips score 3-5 after the crop search; the payload needs about 7.5
LIST_SIZE = 16  # payload candidates tried against the CRC per decode
# Alignments decoded after a crop search (each with both predictors). A payload is only decoded once the
# pilot passed MIN_PILOT_Z, and then false accepts are 2 * DECODE_TRIES * LIST_SIZE / 65536 = 0.2%.
DECODE_TRIES = 4

# The perceptual mask, in grey levels (the std of the mark in the luma where it applies).
MASK_PER_CELL = 3  # mask samples per grid cell (about 3 px at 720p: cheap)
FLAT_AMPLITUDE = 0.9  # where the picture is flat
TEXTURE_GAIN = 0.7  # added per grey level of local texture contrast
MAX_AMPLITUDE = 2.0
DARK_BOOST = 0.5  # up to 1 + DARK_BOOST times as strong in black areas (Weber: grain hides in the dark)
FACE_GAIN = 0.2  # on the face
FACE_GROW = 0.15  # the face region: the landmarks' hull grown by this much of the face width
AMPLITUDE_REFRESH = 2  # a clip's perceptual mask is worked out every this many frames


def _grid_shape(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of the canonical grid for a frame: GRID_W cells across, square cells."""
    return max(8, round(GRID_W * height / width)), GRID_W


def _mask_shape(width: int, height: int) -> tuple[int, int]:
    """(h, w) of the perceptual mask: MASK_PER_CELL samples per grid cell, whatever the frame size."""
    gh, gw = _grid_shape(width, height)
    return gh * MASK_PER_CELL, gw * MASK_PER_CELL


@lru_cache(maxsize=64)
def _pattern_block(key: bytes, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(pilot (ROW_BLOCK, GRID_W), chips (CODED, ROW_BLOCK, GRID_W)) as int8 +-1, for grid rows
    block*ROW_BLOCK onward: the same cells carry the same chips whatever the frame's height."""
    seed = hashlib.sha256(key + f"rows{block}x{GRID_W}".encode()).digest()
    rng = np.random.default_rng(np.frombuffer(seed, np.uint32))
    pilot = rng.integers(0, 2, (ROW_BLOCK, GRID_W), dtype=np.int8) * 2 - 1
    chips = rng.integers(0, 2, (CODED, ROW_BLOCK, GRID_W), dtype=np.int8) * 2 - 1
    return pilot.astype(np.int8), chips.astype(np.int8)


@lru_cache(maxsize=8)
def _patterns(key: bytes, gh: int, gw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pilot (gh, gw), chip patterns (CODED, gh*gw), whitening bits (INFO_BITS,)) for a key and grid."""
    if gw != GRID_W:
        raise ValueError("the grid is GRID_W cells wide")
    blocks = [_pattern_block(key, b) for b in range((gh + ROW_BLOCK - 1) // ROW_BLOCK)]
    pilot = np.concatenate([p for p, _ in blocks])[:gh].astype(np.float32)
    chips = np.concatenate([c for _, c in blocks], axis=1)[:, :gh].reshape(CODED, gh * gw).astype(np.float32)
    rng = np.random.default_rng(np.frombuffer(hashlib.sha256(key + b"whitening").digest(), np.uint32))
    whitening = rng.integers(0, 2, INFO_BITS).astype(np.uint8)
    return pilot, chips, whitening


def watermark_key(secret: str) -> bytes:
    """The key every pattern derives from: its own HKDF purpose, so it tells nothing about other keys."""
    return derive_key(secret, "invisible-watermark")


def _crc16(bits: np.ndarray) -> np.ndarray:
    data = np.packbits(bits).tobytes()
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return np.unpackbits(np.array([crc >> 8, crc & 0xFF], np.uint8))


# ---------------------------------------------------------------- the convolutional code


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for shift in (4, 2, 1):
        x ^= x >> shift
    return x & 1


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """For every next state s (the last K-1 inputs, newest in the top bit) and its two predecessors:
    (previous state (S, 2), output chips +-1 (S, 2, n))."""
    states = 1 << (CONSTRAINT - 1)
    ns = np.arange(states)[:, None]
    reg = (ns << 1) | np.arange(2)[None, :]  # the K-bit register: input in the top bit, dropped bit at 0
    out = np.stack([_parity(reg & g) for g in GENERATORS], axis=-1).astype(np.float32) * 2 - 1
    return reg & (states - 1), out


def _conv_encode(bits: np.ndarray) -> np.ndarray:
    """+-1 chips of the zero-tailed rate-1/n convolutional code of `bits` (0/1)."""
    padded = np.concatenate([bits.astype(np.int64), np.zeros(CONSTRAINT - 1, np.int64)])
    reg = 0
    out = np.empty((len(padded), len(GENERATORS)), np.float32)
    for t, bit in enumerate(padded):
        reg = (reg >> 1) | (int(bit) << (CONSTRAINT - 1))
        out[t] = [bin(reg & g).count("1") % 2 for g in GENERATORS]
    return out.reshape(-1) * 2 - 1


def _list_viterbi(soft: np.ndarray, size: int) -> list[np.ndarray]:
    """The `size` most likely inputs (0/1, zero tail dropped) for soft chip values (positive = +1),
    best first: a parallel list Viterbi keeping `size` paths per state. With the CRC picking the first
    path that checks, this decodes about 1 dB further down than the single best path."""
    prev, out = _trellis()
    states = prev.shape[0]
    steps = soft.reshape(-1, len(GENERATORS)).astype(np.float64)
    metric = np.full((states, size), -np.inf)
    metric[0, 0] = 0.0
    back = np.empty((len(steps), states, size), np.int16)  # 2*size candidates: predecessor b, its rank
    for t, y in enumerate(steps):
        cand = (metric[prev] + (out @ y)[..., None]).reshape(states, 2 * size)
        order = np.argsort(-cand, axis=1, kind="stable")[:, :size]
        back[t] = order
        metric = np.take_along_axis(cand, order, axis=1)
    top = CONSTRAINT - 2
    paths = []
    for rank in range(size):
        if not np.isfinite(metric[0, rank]):
            break
        state, r = 0, rank  # the tail returns the encoder to state 0
        bits = np.empty(len(steps), np.uint8)
        for t in range(len(steps) - 1, -1, -1):
            bits[t] = state >> top
            b, r = divmod(int(back[t, state, r]), size)
            state = int(prev[state, b])
        paths.append(bits[:len(steps) - (CONSTRAINT - 1)])
    return paths


def _encode(watermark_id: str, whitening: np.ndarray) -> np.ndarray:
    payload = np.unpackbits(np.frombuffer(bytes.fromhex(watermark_id), np.uint8))
    if len(payload) != PAYLOAD_BITS:
        raise ValueError("watermark ids are 64-bit hex strings")
    bits = np.concatenate([payload, _crc16(payload)]) ^ whitening
    return _conv_encode(bits)


# ---------------------------------------------------------------- embedding


@dataclass(frozen=True)
class Mark:
    """A mark ready to add to frames of one size.

    `field` is the keyed pattern (unit std in the frame) at the mask's resolution; each frame scales it
    by its own perceptual amplitude map there, and one bilinear resize brings the product to the frame."""

    field: np.ndarray  # float32 (mh, mw): pilot + payload
    dither: np.ndarray  # int16 (H, W): _FIXED * (128 + an ordered dither in [-0.5, 0.5)), see apply_mark
    width: int
    height: int


_FIXED = 64  # fixed-point scale of the full-resolution mark (1/64 grey level)


def _bayer(size: int) -> np.ndarray:
    """An ordered-dither threshold map in [-0.5, 0.5): its error sits at the highest frequencies,
    which x264 drops for free, instead of grain at the mark's own scale."""
    m = np.zeros((1, 1), np.float32)
    while m.shape[0] < size:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return ((m + 0.5) / m.size - 0.5).astype(np.float32)


def make_mark(watermark_id: str, secret: str, width: int, height: int) -> Mark:
    """Build the per-clip pattern once; `apply_mark` then only scales it per frame."""
    gh, gw = _grid_shape(width, height)
    pilot, chips, whitening = _patterns(watermark_key(secret), gh, gw)
    coded = _encode(watermark_id, whitening)
    data = (coded @ chips).reshape(gh, gw) / np.sqrt(CODED)
    grid = np.sqrt(1 - PILOT_SHARE) * data + np.sqrt(PILOT_SHARE) * pilot
    mh, mw = _mask_shape(width, height)
    # Bilinear between cell centres, as the frame will see it after the final resize.
    field = cv2.resize(grid.astype(np.float32), (mw, mh), interpolation=cv2.INTER_LINEAR)
    field /= float(cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR).std()) + 1e-6
    dither = np.tile(_bayer(8), (height // 8 + 1, width // 8 + 1))[:height, :width] + 128.0
    dither = np.round(dither * _FIXED).astype(np.int16)
    return Mark(field=field, dither=np.ascontiguousarray(dither), width=width, height=height)


def texture_contrast(luma: np.ndarray) -> np.ndarray:
    """Local contrast of fine texture, float32 (h, w) grey levels, for a luma (h, w) at mask resolution.

    Detail finer than about a cell, in an energy window, then the minimum over a 3x3 neighbourhood:
    a lone edge (a door frame on a flat wall) is not texture and must not spread grain into the wall."""
    luma = luma.astype(np.float32, copy=False)
    detail = cv2.subtract(luma, cv2.GaussianBlur(luma, (5, 5), 1.0))
    energy = cv2.sqrt(cv2.max(cv2.blur(cv2.multiply(detail, detail), (3, 3)), 0.0))  # box sums can dip below 0
    return cv2.erode(energy, np.ones((3, 3), np.uint8))


def _luminance_tables() -> tuple[np.ndarray, np.ndarray]:
    """(gain, ceiling) for each background grey level 0-255, float32 (256,): luminance masking (up to
    1 + DARK_BOOST times the amplitude in black) and the most the mark may reach there (MAX_AMPLITUDE,
    less near black and white, where it would only be clipped)."""
    level = np.arange(256, dtype=np.float32)
    gain = 1.0 + DARK_BOOST * np.clip((64.0 - level) / 64.0, 0.0, 1.0)
    ceiling = np.minimum(MAX_AMPLITUDE, FLAT_AMPLITUDE + np.minimum(level, 255.0 - level) / 3.0)
    return gain.astype(np.float32), ceiling.astype(np.float32)


def perceptual_amplitude(luma: np.ndarray) -> np.ndarray:
    """The mark's amplitude (grey levels) a luma (uint8 or float32) at mask resolution can hide,
    float32 (h, w): a JND-like mask.

    Texture masking (FLAT_AMPLITUDE in flat areas, rising by TEXTURE_GAIN per grey level of texture
    contrast up to MAX_AMPLITUDE) times luminance masking, under a ceiling near black and white."""
    if luma.dtype == np.uint8:
        level, y = luma, luma.astype(np.float32)
    else:
        level, y = np.clip(luma + 0.5, 0, 255).astype(np.uint8), luma.astype(np.float32, copy=False)
    amp = cv2.multiply(texture_contrast(y), TEXTURE_GAIN)
    cv2.add(amp, FLAT_AMPLITUDE, dst=amp)
    background = cv2.blur(level, (5, 5))
    gain, ceiling = _luminance_tables()
    cv2.multiply(amp, cv2.LUT(background, gain), dst=amp)
    return cv2.min(amp, cv2.LUT(background, ceiling))


def face_weight(face: np.ndarray | None, size: tuple[int, int], frame_size: tuple[int, int]) -> np.ndarray | None:
    """1 - (1 - FACE_GAIN) * (soft face region), float32 (h, w) at mask resolution, or None without a face.

    `face`: landmarks (N, 2) in frame pixels; `size`: (h, w) of the mask; `frame_size`: (height, width).
    The region is the landmarks' convex hull grown by FACE_GROW of the face width, with a soft edge."""
    if face is None or len(face) < 3:
        return None
    h, w = size
    pts = np.asarray(face, np.float32)[:, :2] * np.array([w / frame_size[1], h / frame_size[0]], np.float32)
    width = float(np.ptp(pts[:, 0]))
    if not np.isfinite(width) or width < 1:
        return None
    centre = pts.mean(axis=0)
    grown = centre + (pts - centre) * (1.0 + 2.0 * FACE_GROW)
    region = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(region, cv2.convexHull(np.round(grown * 16).astype(np.int32)), 255, lineType=cv2.LINE_AA,
                       shift=4)
    k = max(3, int(FACE_GROW * width) | 1)
    region = cv2.blur(region, (k, k))
    return cv2.addWeighted(region, -(1.0 - FACE_GAIN) / 255.0, region, 0.0, 1.0, dtype=cv2.CV_32F)


def _downscaled(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A uint8 luma (H, W) at `size` (h, w), uint8: halved by area-averaging (OpenCV's fast path)
    while that stays above `size`, then one bilinear step."""
    while gray.shape[1] >= 2 * size[1] and gray.shape[0] >= 2 * size[0]:
        gray = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(gray, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def mask_luma(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The luma of an RGB uint8 (H, W, 3) frame at `size` (h, w), uint8."""
    return _downscaled(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), size)


def mark_amplitude(frame: np.ndarray, mark: Mark, face: np.ndarray | None = None) -> np.ndarray:
    """This frame's amplitude map (grey levels), float32 at the mark's mask resolution."""
    mh, mw = mark.field.shape
    height, width = frame.shape[:2]
    amp = perceptual_amplitude(mask_luma(frame, (mh, mw)))
    weight = face_weight(face, (mh, mw), (height, width))
    return amp if weight is None else cv2.multiply(amp, weight)


def _mark_plane(frame: np.ndarray, mark: Mark, face: np.ndarray | None) -> np.ndarray:
    """The mark for a frame as one uint8 (H, W) plane around 128 (see `mark_offset`)."""
    if frame.shape[:2] != (mark.height, mark.width):
        raise ValueError(f"mark is for {mark.width}x{mark.height}, frame is {frame.shape[1]}x{frame.shape[0]}")
    product = cv2.multiply(mark_amplitude(frame, mark, face), mark.field, scale=_FIXED)
    delta = cv2.resize(product.astype(np.int16), (mark.width, mark.height), interpolation=cv2.INTER_LINEAR)
    cv2.add(delta, mark.dither, dst=delta)  # _FIXED * (128 + delta + dither)
    return cv2.convertScaleAbs(delta, alpha=1.0 / _FIXED)  # 128 + round(...): positive, so abs is a no-op


def mark_offset(frame: np.ndarray, mark: Mark, face: np.ndarray | None = None) -> np.ndarray:
    """The mark for an RGB uint8 (H, W, 3) frame as a uint8 (H, W, 3) offset around 128, scaled by the
    frame's own perceptual mask; `face`: the face's landmarks (N, 2) in this frame, if any: the mark is
    attenuated there.

    The same value goes to R, G and B, so only the luma changes. Full-resolution work is a handful of
    SIMD passes in 16-bit fixed point: the product is resized as int16 (1/64 grey level), the ordered
    dither added, and one scaling to uint8 rounds it (amplitudes below a grey level survive on average)."""
    return cv2.cvtColor(_mark_plane(frame, mark, face), cv2.COLOR_GRAY2RGB)


def _signed_parts(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raise, lower): an offset plane around 128 as two RGB uint8 planes, max(0, p - 128) and
    max(0, 128 - p). Each pixel has only one of them, so a saturating add of the first and a
    saturating subtract of the second is exactly frame + offset clipped, in two plain uint8 SIMD
    passes (a weighted add with a -128 bias goes through float and costs several times more)."""
    up = cv2.subtract(plane, 128)
    down = cv2.subtract(cv2.bitwise_not(plane), 127)  # (255 - p) - 127 = 128 - p, saturating at 0
    return cv2.cvtColor(up, cv2.COLOR_GRAY2RGB), cv2.cvtColor(down, cv2.COLOR_GRAY2RGB)


def _add_parts(frame: np.ndarray, parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    cv2.add(frame, parts[0], dst=frame)
    cv2.subtract(frame, parts[1], dst=frame)
    return frame


def apply_mark(frame: np.ndarray, mark: Mark, face: np.ndarray | None = None) -> np.ndarray:
    """Add the mark to an RGB uint8 (H, W, 3) frame, in place (see `mark_offset`)."""
    return _add_parts(frame, _signed_parts(_mark_plane(frame, mark, face)))


class MarkStream:
    """Marks the frames of one clip in order, working out the perceptual mask every `refresh` frames.

    Consecutive frames of a clip hide the mark almost equally well, so the offset of one frame
    serves the next as well: it halves the mark's cost. The pattern itself never changes, so what
    the detector averages over the clip is the same."""

    def __init__(self, mark: Mark, refresh: int = AMPLITUDE_REFRESH) -> None:
        self._mark = mark
        self._refresh = max(1, refresh)
        self._count = 0
        self._parts: tuple[np.ndarray, np.ndarray] | None = None

    def apply(self, frame: np.ndarray, face: np.ndarray | None = None) -> np.ndarray:
        """Add the mark to the next frame of the clip, in place."""
        if self._parts is None or self._count % self._refresh == 0:
            self._parts = _signed_parts(_mark_plane(frame, self._mark, face))
        self._count += 1
        return _add_parts(frame, self._parts)


# ---------------------------------------------------------------- detection


@dataclass(frozen=True)
class Detection:
    found: bool
    watermark_id: str | None
    pilot_z: float
    confidence: float  # soft amplitude per payload bit, in noise units (decoding needs about 1.7)
    crop: tuple[float, float, float] | None = None  # (scale, x offset, y offset) in grid cells


def frame_weight(gray: np.ndarray) -> np.ndarray:
    """How much one frame's luma, uint8 (H, W), says about the mark at each pixel: 1 / (local energy
    of its detail at the grid's scale + MEAN_FLOOR^2), float32 (H, W).

    Where a moving picture is busy, a frame tells little about the faint static mark under it; where
    it is flat, a lot. Computed at MASK_PER_CELL samples per cell and resized, so it costs little."""
    h, w = gray.shape
    small = _downscaled(gray, _mask_shape(w, h)).astype(np.float32)
    detail = small - cv2.GaussianBlur(small, (0, 0), 0.5 * MASK_PER_CELL)
    energy = cv2.GaussianBlur(detail * detail, (0, 0), 1.0 * MASK_PER_CELL)
    weight = 1.0 / (np.maximum(energy, 0.0) + MEAN_FLOOR * MEAN_FLOOR)
    return cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)


def mean_luma(frames: Iterable[np.ndarray], limit: int = 250) -> np.ndarray:
    """The clip's luma averaged over its frames (RGB uint8), float32 (H, W): what the detector reads.

    Each pixel's average is weighted by `frame_weight`, so the frames in which the picture there is
    flat count most. The static mark comes through any average unchanged, while a moving picture's
    texture is what hides it: on a camera move this reads the mark about 1.5x better than a plain mean.
    On a static shot the weights barely change over time and it is the plain mean."""
    total: np.ndarray | None = None
    weights: np.ndarray | None = None
    count = 0
    for frame in frames:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        weight = frame_weight(gray)
        if total is None or weights is None:
            total, weights = np.zeros(gray.shape, np.float32), np.zeros(gray.shape, np.float32)
        cv2.accumulateProduct(gray.astype(np.float32), weight, total)
        cv2.accumulate(weight, weights)
        count += 1
        if count >= limit:
            break
    if total is None or weights is None:
        raise ValueError("no frames")
    return total / weights


HP_FLOOR = 0.3  # grey levels: below this a cell's picture counts as flat
PREDICTORS = ("smooth", "edge")
SCALES = np.arange(0.85, 1.0001, 0.005)  # crops searched: 0-15% off the width


def _predict(cells: np.ndarray, kind: str) -> np.ndarray:
    """Each cell as its neighbours predict it, float32 (h, w).

    "smooth": a small Gaussian (best where the picture is soft or static). "edge": the mean of the
    pair of opposite neighbours that differ least, so an edge or a line through the cell is continued
    rather than blurred into it (best on moving pictures, whose average over frames is streaky)."""
    if kind == "smooth":
        return cv2.GaussianBlur(cells, (0, 0), 0.7)
    h, w = cells.shape
    pad = cv2.copyMakeBorder(cells, 1, 1, 1, 1, cv2.BORDER_REPLICATE)

    def at(dy: int, dx: int) -> np.ndarray:
        return pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    pairs = ((at(0, -1), at(0, 1)), (at(-1, 0), at(1, 0)), (at(-1, -1), at(1, 1)), (at(-1, 1), at(1, -1)))
    spread = np.stack([np.abs(a - b) for a, b in pairs])
    means = np.stack([(a + b) * 0.5 for a, b in pairs])
    return np.take_along_axis(means, spread.argmin(axis=0)[None], axis=0)[0]


def _highpass(cells: np.ndarray, kind: str = "smooth") -> np.ndarray:
    """Each cell's departure from what its neighbours predict, weighted by 1 / (local energy).

    The mark is white from cell to cell while the picture is not, so the residual keeps the mark and
    drops most of the picture. Dividing by the residual's local energy (not its std) is the
    matched-filter weight for a mark of similar strength everywhere under picture "noise" of varying
    strength: a flat wall, where the picture hides nothing, counts for far more than a bookshelf, whose
    static texture survives the averaging over frames. HP_FLOOR keeps a few flat cells from taking over."""
    residual = cells - _predict(cells, kind)
    return residual / (cv2.GaussianBlur(residual * residual, (0, 0), 1.0) + HP_FLOOR * HP_FLOOR)


def _smoothed(luma: np.ndarray, gw: int, scale: float) -> np.ndarray:
    """The luma box-filtered to one canonical cell, as area-averaging into the grid would."""
    box = max(1, int(round(luma.shape[1] / (gw * scale))))
    return cv2.blur(luma, (box, box))


def _sample(smooth: np.ndarray, gh: int, gw: int, scale: float, ox: float, oy: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells read from a clip that shows the canonical region starting at cell (ox, oy),
    `scale` of the canonical width wide. Returns (cells, inside-mask)."""
    h, w = smooth.shape
    cell = w / (gw * scale)  # received pixels per canonical cell
    jj, ii = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
    map_x = ((jj + 0.5 - ox) * cell - 0.5).astype(np.float32)
    map_y = ((ii + 0.5 - oy) * cell - 0.5).astype(np.float32)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    cells = cv2.remap(smooth, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cells, inside


def _cells_at(smooth: np.ndarray, gh: int, gw: int, scale: float, ox: float, oy: float, kind: str) -> np.ndarray:
    """The weighted residual of the canonical cells under one alignment hypothesis (0 outside the clip)."""
    cells, inside = _sample(smooth, gh, gw, scale, ox, oy)
    return _highpass(cells, kind) * inside


def _score(hp: np.ndarray, pilot: np.ndarray) -> float:
    """Pilot correlation in noise units: about N(0, 1) on an unmarked clip, whatever the weights
    (the pilot is independent of the picture, so the sum's variance is the sum of squares)."""
    return float((hp * pilot).sum() / (np.sqrt(float((hp * hp).sum())) + 1e-12))


def _decode(hp: np.ndarray, chips: np.ndarray, whitening: np.ndarray) -> tuple[str | None, float]:
    """(watermark id or None, confidence): the first of the LIST_SIZE most likely payloads whose CRC checks."""
    flat = hp.reshape(-1)
    soft = (chips @ flat) / (np.sqrt(float(flat @ flat)) + 1e-12)
    paths = _list_viterbi(soft, LIST_SIZE)
    # Confidence: the soft chips' agreement with the best codeword, per payload bit.
    confidence = float((soft * _conv_encode(paths[0])).mean() * np.sqrt(CODED / INFO_BITS))
    for bits in paths:
        bits = bits ^ whitening
        payload, crc = bits[:PAYLOAD_BITS], bits[PAYLOAD_BITS:]
        if np.array_equal(_crc16(payload), crc):
            return np.packbits(payload).tobytes().hex(), confidence
    return None, confidence


def _search(luma: np.ndarray, pilot: np.ndarray) -> tuple[float, float, float, float, str]:
    """The best (z, scale, ox, oy, predictor) over crops of 0-15% with any offset.

    For each scale the received clip is read every half cell; each of the four half-cell phases is a
    grid of received cells whose residual is correlated with the pilot at every whole-cell offset at
    once (OpenCV's template matching, by DFT), and normalised by its energy over the overlap."""
    h, w = luma.shape
    gh, gw = pilot.shape
    pad = 4  # the pilot and its window, zero-padded so a received grid a little larger still fits
    canvas = np.zeros((gh + pad, gw + pad), np.float32)
    canvas[:gh, :gw] = pilot
    window = np.zeros_like(canvas)
    window[:gh, :gw] = 1.0
    best = (-np.inf, 1.0, 0.0, 0.0, PREDICTORS[0])
    for scale in SCALES:
        scale = float(scale)
        cell = w / (gw * scale)
        nx = min(int(np.floor(2 * ((w - 0.5) / cell - 0.5))) + 1, 2 * (gw + pad))
        ny = min(int(np.floor(2 * ((h - 0.5) / cell - 0.5))) + 1, 2 * (gh + pad))
        map_x = np.tile(((np.arange(nx) / 2 + 0.5) * cell - 0.5).astype(np.float32), (ny, 1))
        map_y = np.tile(((np.arange(ny) / 2 + 0.5) * cell - 0.5).astype(np.float32)[:, None], (1, nx))
        half = cv2.remap(_smoothed(luma, gw, scale), map_x, map_y, cv2.INTER_LINEAR)
        max_dx = int(np.floor(gw * (1 - scale))) + 1
        max_dy = int(np.floor(gh * (1 - scale))) + 1
        for py in (0, 1):
            for px in (0, 1):
                received = np.ascontiguousarray(half[py::2, px::2])
                for kind in PREDICTORS:
                    hp = _highpass(received, kind)
                    # corr[dy, dx] = sum over received cells (m, n) of hp[m, n] * pilot[m + dy, n + dx]
                    corr = cv2.matchTemplate(canvas, hp, cv2.TM_CCORR)[:max_dy + 1, :max_dx + 1]
                    energy = cv2.matchTemplate(window, hp * hp, cv2.TM_CCORR)[:max_dy + 1, :max_dx + 1]
                    z = corr / np.sqrt(np.maximum(energy, 1e-12))
                    dy, dx = np.unravel_index(int(np.argmax(z)), z.shape)
                    if z[dy, dx] > best[0]:
                        best = (float(z[dy, dx]), scale, float(dx - px / 2), float(dy - py / 2), kind)
    return best


def detect_luma(luma: np.ndarray, secret: str, *, search: bool = True) -> Detection:
    """Find the mark in a clip's mean luma, float32 (H, W).

    The uncropped alignment is tried first; if it doesn't decode, crops (scale 0.85-1, any offset) are
    searched. The canonical grid is read with a couple of spare rows, so a crop that rounds the grid's
    height differently still lines up."""
    h, w = luma.shape
    gh, gw = _grid_shape(w, h)
    gh += 2
    pilot, chips, whitening = _patterns(watermark_key(secret), gh, gw)
    identity = _smoothed(luma, gw, 1.0)
    hps = {kind: _cells_at(identity, gh, gw, 1.0, 0.0, 0.0, kind) for kind in PREDICTORS}
    zs = {kind: _score(hp, pilot) for kind, hp in hps.items()}
    kind = max(zs, key=zs.__getitem__)
    z = zs[kind]
    if z >= MIN_PILOT_Z:
        for k in sorted(PREDICTORS, key=lambda k: -zs[k]):
            watermark_id, confidence = _decode(hps[k], chips, whitening)
            if watermark_id is not None:
                return Detection(True, watermark_id, zs[k], confidence, (1.0, 0.0, 0.0))
    if not search:
        return Detection(False, None, z, 0.0)
    _, scale, ox, oy, kind = _search(luma, pilot)
    # Refine off the half-cell lattice, twice, and keep every hypothesis tried: the pilot's peak is
    # broad and noisy, so the payload is decoded at the few best, not only at the very best.
    tried = {(scale, ox, oy): _score(_cells_at(_smoothed(luma, gw, scale), gh, gw, scale, ox, oy, kind), pilot)}
    for step_scale, step in ((0.0025, 0.25), (0.00125, 0.125)):
        centre = max(tried, key=tried.__getitem__)
        for ds in (-step_scale, 0.0, step_scale):
            smooth = _smoothed(luma, gw, centre[0] + ds)
            for dx in (-step, 0.0, step):
                for dy in (-step, 0.0, step):
                    hypothesis = (centre[0] + ds, centre[1] + dx, centre[2] + dy)
                    if hypothesis not in tried:
                        tried[hypothesis] = _score(_cells_at(smooth, gh, gw, *hypothesis, kind), pilot)
    ranked = sorted(tried, key=tried.__getitem__, reverse=True)
    z = tried[ranked[0]]
    if z < MIN_PILOT_Z:
        return Detection(False, None, z, 0.0)
    confidence = 0.0
    for hypothesis in ranked[:DECODE_TRIES]:
        smooth = _smoothed(luma, gw, hypothesis[0])
        for k in (kind,) + tuple(p for p in PREDICTORS if p != kind):
            watermark_id, conf = _decode(_cells_at(smooth, gh, gw, *hypothesis, k), chips, whitening)
            confidence = max(confidence, conf)
            if watermark_id is not None:
                return Detection(True, watermark_id, z, conf, hypothesis)
    return Detection(False, None, z, confidence, ranked[0])


def detect_clip(path: Path, secret: str) -> Detection:
    """Read the mark from a video file (its first 250 frames)."""
    from zaobot.media.video import read_frames

    return detect_luma(mean_luma(read_frames(path)), secret)
