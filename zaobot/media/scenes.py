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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from zaobot.errors import SceneError, UnknownScene
from zaobot.media.video import ClipWriter, probe, read_frames
from zaobot.models.tracking import ANALYSIS_VERSION, FacePick, SceneAnalysis, analyse_frames

__all__ = ["ANALYSIS", "ANALYSIS_VERSION", "FacePick", "Scene", "SceneAnalysis", "SceneLibrary", "add_scene",
           "analyse_frames", "file_sha256", "normalise_keyword"]

MANIFEST = "scene.json"
CLIP = "clip.mp4"
ANALYSIS = "analysis.npz"
MAX_SIZE = (1280, 720)
MAX_SECONDS = 20.0
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
                raise SceneError(f"analysis of scene {self.keyword!r} is stale: run `zaobot scenes refresh`")
            keypoints = data["keypoints"].astype(np.float32) if "keypoints" in data else None
            kp_present = data["keypoints_present"].astype(bool) if "keypoints_present" in data else None
            hands = data["hands"].astype(np.float32) if "hands" in data else None
            return SceneAnalysis(landmarks=data["landmarks"].astype(np.float32), present=data["present"].astype(bool),
                                 keypoints=keypoints, keypoints_present=kp_present, hands=hands)

    @classmethod
    def load(cls, directory: Path) -> Scene:
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
    extra: dict[str, np.ndarray] = {}
    if analysis.keypoints is not None and analysis.keypoints_present is not None:
        extra = {"keypoints": analysis.keypoints.astype(np.float32), "keypoints_present": analysis.keypoints_present}
    if analysis.hands is not None:
        extra["hands"] = analysis.hands.astype(np.float32)
    np.savez_compressed(tmp, version=ANALYSIS_VERSION, clip_sha256=clip_sha256,
                        landmarks=analysis.landmarks.astype(np.float32), present=analysis.present, **extra)
    tmp.replace(directory / ANALYSIS)


def reanalyse(scene: Scene, progress: Progress | None = None, detector: object | None = None) -> Scene:
    """Analyse a scene's clip again (after an upgrade adds to the analysis) and replace its cache.

    The clip and manifest stay as they are; the old cache is replaced atomically."""
    analysis = analyse_frames(read_frames(scene.clip), scene.face, progress, detector)  # type: ignore[arg-type]  # manifest's face: a FacePick
    save_analysis(scene.directory, analysis, scene.clip_sha256)
    return Scene.load(scene.directory)


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
