"""Index loops of the mediapipe 478-point face mesh (ordered, so they can be filled)."""

from __future__ import annotations

import numpy as np

N_LANDMARKS = 478
N_MESH = 468  # without the 10 iris points

FACE_OVAL = np.array(
    [10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152,
     377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338],
    dtype=np.int32,
)
INNER_LIPS = np.array(
    [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95],
    dtype=np.int32,
)
OUTER_LIPS = np.array(
    [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146],
    dtype=np.int32,
)
# "Right"/"left" are the subject's: the right eye is on the image's left.
RIGHT_EYE = np.array(
    [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7], dtype=np.int32
)
LEFT_EYE = np.array(
    [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249], dtype=np.int32
)
RIGHT_BROW = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46], dtype=np.int32)
LEFT_BROW = np.array([300, 293, 334, 296, 336, 285, 295, 282, 283, 276], dtype=np.int32)
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473
NOSE_TIP = 1
FOREHEAD_TOP = 10  # the top of the forehead on the midline ...
CHIN = 152  # ... and the chin: together, the face's own up axis
MOUTH_RIGHT_CORNER = 61  # image left
MOUTH_LEFT_CORNER = 291  # image right
CHEEK_IMAGE_LEFT = 234
CHEEK_IMAGE_RIGHT = 454

# Eyelid pairs and eye corners for the eye-openness ratio.
RIGHT_EYE_LIDS = (159, 145, 33, 133)
LEFT_EYE_LIDS = (386, 374, 263, 362)


def five_keypoints(landmarks: np.ndarray) -> np.ndarray:
    """The 5 points insightface aligns on: eyes (image-left first), nose tip, mouth corners.

    landmarks: float (478, 2) in pixels -> float32 (5, 2).
    """
    idx = [RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER, NOSE_TIP, MOUTH_RIGHT_CORNER, MOUTH_LEFT_CORNER]
    return landmarks[idx].astype(np.float32)


def eye_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """Each eye's lid gap / eye width (image-left eye first); about 0.25-0.35 open, < 0.12 closed."""
    ratios = []
    for top, bottom, c1, c2 in (RIGHT_EYE_LIDS, LEFT_EYE_LIDS):
        gap = float(np.linalg.norm(landmarks[top] - landmarks[bottom]))
        width = float(np.linalg.norm(landmarks[c1] - landmarks[c2])) or 1.0
        ratios.append(gap / width)
    return ratios[0], ratios[1]


def eye_openness(landmarks: np.ndarray) -> float:
    """The less open eye's ratio (see eye_ratios): a squint in either eye counts."""
    return min(eye_ratios(landmarks))


UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14


def _mesh_triangles() -> np.ndarray:
    """The triangles of mediapipe's own tessellation, (852, 3) int32.

    The wheel has only the edge list, so triangles are its 3-cliques. That yields 854: two
    spurious ones at the nostrils are made of three real triangles' edges (every edge of
    theirs is shared by three triangles) and would fold over, so they are dropped. Unlike a
    Delaunay triangulation of one selfie's layout, this mesh never folds on a turned face.
    """
    from collections import Counter, defaultdict
    from itertools import combinations

    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in FACEMESH_TESSELATION:
        neighbours[a].add(b)
        neighbours[b].add(a)
    triangles = {tuple(sorted((a, b, c))) for a, b in FACEMESH_TESSELATION for c in neighbours[a] & neighbours[b]}
    shared = Counter(edge for tri in triangles for edge in combinations(tri, 2))
    real = [tri for tri in sorted(triangles) if not all(shared[edge] > 2 for edge in combinations(tri, 2))]
    return np.array(real, dtype=np.int32)


MESH_TRIANGLES = _mesh_triangles()

# mediapipe's tessellation leaves the eye openings as holes. A pixel there used to follow the
# whole face's affine fit, not its own eye: the iris slid against the lids (a smudge at the
# lid line), and an eye moved to the user's proportions left its iris behind. Each opening
# is closed with a fan around a virtual point, the mean of its outline: inside the opening
# even in a blink, so the fan never folds (the iris landmark can sit on a closed lid).
RIGHT_EYE_CENTRE, LEFT_EYE_CENTRE = N_LANDMARKS, N_LANDMARKS + 1


def _fan(centre: int, loop: np.ndarray) -> np.ndarray:
    return np.array([(centre, int(a), int(b)) for a, b in zip(loop, np.roll(loop, -1))], dtype=np.int32)


WARP_TRIANGLES = np.vstack([MESH_TRIANGLES, _fan(RIGHT_EYE_CENTRE, RIGHT_EYE), _fan(LEFT_EYE_CENTRE, LEFT_EYE)])


def warp_points(landmarks: np.ndarray) -> np.ndarray:
    """(480, 2): the 478 landmarks and the two eye centres that WARP_TRIANGLES' fans use."""
    centres = np.stack([landmarks[RIGHT_EYE].mean(axis=0), landmarks[LEFT_EYE].mean(axis=0)])
    return np.vstack([landmarks[:N_LANDMARKS], centres.astype(landmarks.dtype)])


def mouth_gap(landmarks: np.ndarray) -> float:
    """Inner-lip gap / mouth width: about 0 closed, above 0.1 when teeth or tongue show."""
    width = float(np.linalg.norm(landmarks[MOUTH_RIGHT_CORNER] - landmarks[MOUTH_LEFT_CORNER])) or 1.0
    return float(np.linalg.norm(landmarks[UPPER_LIP_INNER] - landmarks[LOWER_LIP_INNER])) / width


# For every landmark, its mirror image across the face's midline (subject's left <-> right).
# Found once by reflecting a frontal face's mesh across its midline and matching points
# one-to-one (the match is an involution; the 28 midline points map to themselves).
MIRROR = np.array("""
    0 1 2 248 4 5 6 249 8 9 10 11 12 13 14 15 16 17 18 19 250 251 252 253 254 255 256 257 258 259
    260 261 262 263 264 265 266 267 268 269 270 271 272 273 274 275 276 277 278 279 280 281 282 283
    284 285 286 287 288 289 290 291 292 293 294 295 296 297 298 299 300 301 302 303 304 305 306 307
    308 309 310 311 312 313 314 315 316 317 318 319 320 321 322 323 94 324 325 326 327 328 329 330
    331 332 333 334 335 336 337 338 339 340 341 342 343 344 345 346 347 348 349 350 351 352 353 354
    355 356 357 358 359 360 361 362 363 364 365 366 367 368 369 370 371 372 373 374 375 376 377 378
    379 151 152 380 381 382 383 384 385 386 387 388 389 390 164 391 392 393 168 394 395 396 397 398
    399 175 400 401 402 403 404 405 406 407 408 409 410 411 412 413 414 415 416 417 418 195 419 197
    420 199 200 421 422 423 424 425 426 427 428 429 430 431 432 433 434 435 436 437 438 439 440 441
    442 443 444 445 446 447 448 449 450 451 452 453 454 455 456 457 458 459 460 461 462 463 464 465
    466 467 3 7 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
    48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79
    80 81 82 83 84 85 86 87 88 89 90 91 92 93 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109
    110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132 133
    134 135 136 137 138 139 140 141 142 143 144 145 146 147 148 149 150 153 154 155 156 157 158 159
    160 161 162 163 165 166 167 169 170 171 172 173 174 176 177 178 179 180 181 182 183 184 185 186
    187 188 189 190 191 192 193 194 196 198 201 202 203 204 205 206 207 208 209 210 211 212 213 214
    215 216 217 218 219 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238
    239 240 241 242 243 244 245 246 247 473 476 475 474 477 468 471 470 469 472
""".split(), dtype=np.int32)
MIDLINE = np.flatnonzero(MIRROR == np.arange(len(MIRROR))).astype(np.int32)
