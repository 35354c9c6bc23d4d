"""Scenes: a clip plus a manifest, analysed once when added.

`add_scene` normalises the clip (H.264 yuv420p + AAC, at most 1280x720), runs
the face mesh over every frame once, follows the chosen face, fills short gaps,
smooths the landmarks with a zero-lag Savitzky-Golay filter and caches the
result beside the clip. Rendering only reads that cache: it never runs
detection on scene frames.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Literal

import cv2
import numpy as np
from scipy.signal import savgol_filter

from zaobot.errors import SceneError, UnknownScene
from zaobot.media.video import ClipWriter, probe, read_frames

ANALYSIS_VERSION = 1
MANIFEST = "scene.json"
CLIP = "clip.mp4"
ANALYSIS = "analysis.npz"
MAX_SIZE = (1280, 720)
MAX_SECONDS = 20.0
MAX_GAP_FRAMES = 12  # longer gaps are left unswapped rather than invented
SMOOTH_WINDOW = 9
SMOOTH_ORDER = 2

FacePick = Literal["largest", "left", "right"]
Progress = Callable[[int], None]


def normalise_keyword(keyword: str) -> str:
    """Keywords match ignoring case and surrounding spaces."""
    return " ".join(keyword.split()).casefold()


def _slug(keyword: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", keyword).strip("-")
    return slug or "scene-" + hashlib.sha256(keyword.encode()).hexdigest()[:8]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


ECHO_MAX = 40  # characters of an unknown keyword quoted back to the user


@dataclass(frozen=True)
class SceneAnalysis:
    """Per-frame landmarks of the face to replace (smoothed), and where it is absent.

    When the operator has SCRFD, its 5 keypoints are kept too (better on profiles and small
    faces); engines that align on 5 points (inswapper) prefer them.
    """

    landmarks: np.ndarray  # float32 (T, 478, 2)
    present: np.ndarray  # bool (T,)
    keypoints: np.ndarray | None = None  # float32 (T, 5, 2) from SCRFD
    keypoints_present: np.ndarray | None = None  # bool (T,)

    def at(self, index: int) -> np.ndarray | None:
        if index >= len(self.present) or not self.present[index]:
            return None
        return self.landmarks[index]

    def keypoints_at(self, index: int) -> np.ndarray | None:
        """The 5 alignment keypoints of frame `index`: SCRFD's when available, else from the mesh."""
        if self.keypoints is not None and self.keypoints_present is not None and index < len(self.keypoints_present) \
                and self.keypoints_present[index]:
            return self.keypoints[index]
        landmarks = self.at(index)
        if landmarks is None:
            return None
        from zaobot.models.topology import five_keypoints

        return five_keypoints(landmarks)

    def face_boxes(self) -> list[tuple[int, int, int, int]]:
        """Bounding box of the face in every frame where it is present."""
        pts = self.landmarks[self.present]
        if len(pts) == 0:
            return []
        lo = np.floor(pts.min(axis=1)).astype(int)
        hi = np.ceil(pts.max(axis=1)).astype(int)
        return [(int(a[0]), int(a[1]), int(b[0]), int(b[1])) for a, b in zip(lo, hi)]


@dataclass(frozen=True)
class Scene:
    """A scene on disk: `scene.json`, `clip.mp4`, `analysis.npz` in one folder."""

    directory: Path
    keywords: tuple[str, ...]
    title: str
    license: str
    attribution: str
    face: str
    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    clip_sha256: str
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def keyword(self) -> str:
        return self.keywords[0]

    @property
    def clip(self) -> Path:
        return self.directory / CLIP

    @cached_property
    def analysis(self) -> SceneAnalysis:
        """The cached analysis; refuses a cache that doesn't belong to this clip."""
        path = self.directory / ANALYSIS
        with np.load(path) as data:
            if int(data["version"]) != ANALYSIS_VERSION or str(data["clip_sha256"]) != self.clip_sha256:
                raise SceneError(f"analysis of scene {self.keyword!r} is stale: run `zaobot scenes add` again")
            keypoints = data["keypoints"].astype(np.float32) if "keypoints" in data else None
            kp_present = data["keypoints_present"].astype(bool) if "keypoints_present" in data else None
            return SceneAnalysis(landmarks=data["landmarks"].astype(np.float32), present=data["present"].astype(bool),
                                 keypoints=keypoints, keypoints_present=kp_present)

    @classmethod
    def load(cls, directory: Path) -> "Scene":
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return cls(
            directory=directory,
            keywords=tuple(normalise_keyword(k) for k in manifest["keywords"]),
            title=manifest.get("title", ""),
            license=manifest.get("license", ""),
            attribution=manifest.get("attribution", ""),
            face=manifest.get("face", "largest"),
            width=int(manifest["width"]),
            height=int(manifest["height"]),
            fps=Fraction(manifest["fps"]),
            frames=int(manifest["frames"]),
            duration=float(manifest["duration"]),
            clip_sha256=manifest["clip_sha256"],
            extra=manifest.get("extra", {}),
        )


class SceneLibrary:
    """All scenes under the configured roots; earlier roots win on keyword clashes."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = [Path(r) for r in roots]

    def scenes(self) -> list[Scene]:
        found: dict[str, Scene] = {}
        for root in self.roots:
            if not root.is_dir():
                continue
            for manifest in sorted(root.glob(f"*/{MANIFEST}")):
                scene = Scene.load(manifest.parent)
                if not any(k in found for k in scene.keywords):
                    for k in scene.keywords:
                        found[k] = scene
        unique = {id(s): s for s in found.values()}
        return sorted(unique.values(), key=lambda s: s.keyword)

    def keywords(self) -> list[str]:
        return [s.keyword for s in self.scenes()]

    def find(self, keyword: str) -> Scene:
        """The scene for `keyword`; raises UnknownScene listing the valid keywords."""
        wanted = normalise_keyword(keyword)
        scenes = self.scenes()
        for scene in scenes:
            if wanted in scene.keywords:
                return scene
        shown = keyword.strip()
        if len(shown) > ECHO_MAX:  # a pasted essay is not echoed back (4096+ chars can't even be sent)
            shown = shown[:ECHO_MAX] + "…"
        raise UnknownScene(keyword=shown, choices=", ".join(s.keyword for s in scenes) or "-")


# ---------------------------------------------------------------- analysis


def _pick_first(faces: list[np.ndarray], how: FacePick) -> np.ndarray:
    if how == "left":
        return min(faces, key=lambda f: float(f[:, 0].mean()))
    if how == "right":
        return max(faces, key=lambda f: float(f[:, 0].mean()))
    return max(faces, key=lambda f: float(np.ptp(f[:, 0]) * np.ptp(f[:, 1])))


def follow_face(per_frame: list[list[np.ndarray]], how: FacePick = "largest") -> tuple[np.ndarray, np.ndarray]:
    """One face track through the clip: (landmarks (T, 478, 2), found (T,)).

    The first face is chosen by `how`; after that, the face nearest to where the
    track was last seen, so a second actor never takes over the track.
    """
    count = len(per_frame)
    shape = next((faces[0].shape for faces in per_frame if faces), (478, 2))
    track = np.zeros((count, *shape), np.float32)
    found = np.zeros(count, bool)
    last: np.ndarray | None = None
    for i, faces in enumerate(per_frame):
        if not faces:
            continue
        if last is None:
            chosen = _pick_first(faces, how)
        else:
            centre = last.mean(axis=0)
            chosen = min(faces, key=lambda f: float(np.linalg.norm(f.mean(axis=0) - centre)))
            if np.linalg.norm(chosen.mean(axis=0) - centre) > 0.6 * float(np.ptp(last[:, 0])):
                continue
        track[i] = chosen
        found[i] = True
        last = chosen
    return track, found


def fill_gaps(track: np.ndarray, found: np.ndarray, max_gap: int = MAX_GAP_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate short gaps (and hold at the ends); longer gaps stay absent."""
    track = track.copy()
    present = found.copy()
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return track, present
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            for k in range(1, gap + 1):
                t = k / (gap + 1)
                track[a + k] = (1 - t) * track[a] + t * track[b]
                present[a + k] = True
    first, last = idx[0], idx[-1]
    if first <= max_gap:
        track[:first] = track[first]
        present[:first] = True
    if len(found) - 1 - last <= max_gap:
        track[last + 1:] = track[last]
        present[last + 1:] = True
    return track, present


def smooth_track(track: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Zero-lag Savitzky-Golay smoothing over time, per contiguous run of frames."""
    out = track.copy()
    padded = np.concatenate([[False], present, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= SMOOTH_WINDOW:
            out[start:stop] = savgol_filter(track[start:stop], SMOOTH_WINDOW, SMOOTH_ORDER, axis=0, mode="interp")
    return out


def _match_keypoints(per_frame: list[list[np.ndarray]], landmarks: np.ndarray, present: np.ndarray,
                     how: FacePick) -> tuple[np.ndarray, np.ndarray]:
    """Pick, in each frame, the SCRFD face that is the mesh track's face (or follow it where the mesh lost it)."""
    from zaobot.models.topology import five_keypoints

    if not present.any():
        return follow_face(per_frame, how)
    count = len(per_frame)
    track = np.zeros((count, 5, 2), np.float32)
    found = np.zeros(count, bool)
    last: np.ndarray | None = None
    for i, faces in enumerate(per_frame):
        reference = five_keypoints(landmarks[i]) if present[i] else last
        if not faces or reference is None:
            continue
        chosen = min(faces, key=lambda f: float(np.linalg.norm(f.mean(axis=0) - reference.mean(axis=0))))
        size = float(np.linalg.norm(reference[0] - reference[1])) or 1.0  # eye distance
        if np.linalg.norm(chosen.mean(axis=0) - reference.mean(axis=0)) > size:
            continue
        track[i], found[i], last = chosen, True, chosen
    return track, found


def analyse_frames(frames: Iterable[np.ndarray], how: FacePick = "largest", progress: Progress | None = None,
                   detector: object | None = None) -> SceneAnalysis:
    """Track and smooth the chosen face over frames (RGB). The only place scene detection runs.

    `detector` (SCRFD, optional) adds a 5-keypoint track beside the mesh landmarks."""
    from zaobot.models.landmarks import MeshTracker  # mediapipe loads only when analysing

    per_frame: list[list[np.ndarray]] = []
    per_frame_kps: list[list[np.ndarray]] = []

    def watched(source: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
        for frame in source:
            if detector is not None:
                per_frame_kps.append([d.keypoints for d in detector.detect(frame)])  # type: ignore[attr-defined]
            yield frame

    with MeshTracker() as tracker:
        for faces in tracker.track(watched(frames)):
            per_frame.append(faces)
            if progress:
                progress(1)
    track, found = follow_face(per_frame, how)
    track, present = fill_gaps(track, found)
    landmarks = smooth_track(track, present).astype(np.float32)
    if detector is None:
        return SceneAnalysis(landmarks=landmarks, present=present)
    kps, kps_found = _match_keypoints(per_frame_kps, landmarks, present, how)
    kps, kps_present = fill_gaps(kps, kps_found)
    return SceneAnalysis(landmarks=landmarks, present=present, keypoints=smooth_track(kps, kps_present),
                         keypoints_present=kps_present)


# ---------------------------------------------------------------- adding


def _needs_reencode(path: Path) -> bool:
    info = probe(path)
    too_big = info.width > MAX_SIZE[0] or info.height > MAX_SIZE[1]
    return too_big or info.video_codec != "h264" or info.pix_fmt != "yuv420p" or info.audio_codec not in (None, "aac")


def normalise_clip(src: Path, dst: Path) -> None:
    """Copy or re-encode `src` into a clip every renderer can read fast: H.264 + AAC, <= 720p."""
    info = probe(src)
    if info.duration > MAX_SECONDS + 0.5:
        raise SceneError(f"scene clips must be at most {MAX_SECONDS:.0f} s (this one is {info.duration:.1f} s)")
    if info.audio_codec not in (None, "aac"):
        raise SceneError(f"scene audio must be AAC (found {info.audio_codec}); convert it first")
    if not _needs_reencode(src):
        shutil.copyfile(src, dst)
        return
    scale = min(1.0, MAX_SIZE[0] / info.width, MAX_SIZE[1] / info.height)
    width, height = (int(round(info.width * scale / 2)) * 2, int(round(info.height * scale / 2)) * 2)
    with ClipWriter(dst, width=width, height=height, fps=info.fps, crf=18,
                    audio_from=src if info.audio_codec else None) as writer:
        for frame in read_frames(src):
            if frame.shape[1] != width or frame.shape[0] != height:
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            writer.write(frame)


def save_analysis(directory: Path, analysis: SceneAnalysis, clip_sha256: str) -> None:
    tmp = directory / (ANALYSIS + ".part.npz")
    extra = {}
    if analysis.keypoints is not None and analysis.keypoints_present is not None:
        extra = {"keypoints": analysis.keypoints.astype(np.float32), "keypoints_present": analysis.keypoints_present}
    np.savez_compressed(tmp, version=ANALYSIS_VERSION, clip_sha256=clip_sha256,
                        landmarks=analysis.landmarks.astype(np.float32), present=analysis.present, **extra)
    tmp.replace(directory / ANALYSIS)


def add_scene(
    clip: Path,
    root: Path,
    *,
    keywords: list[str],
    title: str = "",
    license: str = "",
    attribution: str = "",
    face: FacePick = "largest",
    progress: Progress | None = None,
    extra: dict[str, object] | None = None,
    detector: object | None = None,
) -> Scene:
    """Add (or replace) a scene under `root` and analyse it once."""
    names = [normalise_keyword(k) for k in keywords if normalise_keyword(k)]
    if not names:
        raise SceneError("a scene needs at least one keyword")
    if not Path(clip).is_file():
        raise SceneError(f"no such clip: {clip}")
    directory = Path(root) / _slug(names[0])
    staging = directory.with_name(directory.name + ".adding")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        normalise_clip(Path(clip), staging / CLIP)
        info = probe(staging / CLIP)
        analysis = analyse_frames(read_frames(staging / CLIP), face, progress, detector)
        if len(analysis.present) != info.frames:
            raise SceneError("frame count changed between probe and analysis")
        if not analysis.present.any():
            raise SceneError("no face was found in the clip")
        sha = file_sha256(staging / CLIP)
        save_analysis(staging, analysis, sha)
        manifest = {
            "keywords": names,
            "title": title,
            "license": license,
            "attribution": attribution,
            "face": face,
            "width": info.width,
            "height": info.height,
            "fps": str(info.fps),
            "frames": info.frames,
            "duration": round(info.frames / float(info.fps), 4),
            "clip_sha256": sha,
            "face_coverage": round(float(analysis.present.mean()), 4),
            "detector": "scrfd+mediapipe" if analysis.keypoints is not None else "mediapipe",
            "extra": extra or {},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    return Scene.load(directory)
