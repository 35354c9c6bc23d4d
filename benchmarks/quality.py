"""Swap quality on real footage: every selfie of the set rendered into every real scene.

Usage: python benchmarks/quality.py [--selfies DIR] [--scenes DIR] [--out out/quality]
       (`make quality`)

Per pair, and as medians over the set, it prints:
* id->selfie / id->actor: dlib ResNet descriptor distance of the output face to the
  selfie and to the scene's actor in the same frame (same person below about 0.6);
* flicker: mean frame-to-frame luma change of the face with head motion removed (each
  frame aligned on the scene's landmarks), relative to the scene's own;
* mouth: share of frames whose mouth opening (mesh on the output) is within 3% of the face
  height of the scene's; eyes: mean |eye openness difference|;
* seam dE: LAB colour difference across the edge of the engine's blend mask, where the
  scene is skin on both sides (and the scene's own difference there, for reference);
* light r: correlation of low-frequency luma of output and scene over the face core;
* PSNR outside the face (the forehead up to the hairline included) and label, vs a plain
  transcode at the same settings;
* time: render / plain decode+encode of the same clip.
It writes one contact sheet per pair (selfie | scene frame | output at three times).
The render is the production one: label and invisible watermark included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_metrics import (  # noqa: E402
    Box,
    IdentityMeter,
    distance,
    lighting_correlation,
    mouth_opening,
    oval_box,
    psnr,
    psnr_total,
    seam_delta_e,
    temporal_change,
)

from zaobot.config import Settings  # noqa: E402
from zaobot.errors import SelfieError  # noqa: E402
from zaobot.media.images import decode_image  # noqa: E402
from zaobot.media.scenes import Scene, SceneLibrary  # noqa: E402
from zaobot.media.video import ClipWriter, read_frames  # noqa: E402
from zaobot.models import StageTimer  # noqa: E402
from zaobot.models.landmarks import FaceAnalyzer, MeshTracker  # noqa: E402
from zaobot.models.masks import FOREHEAD_REACH  # noqa: E402
from zaobot.models.mesh import MeshEngine, face_roi, grid_roi, region_masks  # noqa: E402
from zaobot.models.topology import eye_openness  # noqa: E402
from zaobot.pipeline import render_scene  # noqa: E402

SET_DIR = ROOT / "benchmarks" / "quality"
SECRET = "quality-benchmark-secret-" + "x" * 24
WATERMARK_ID = "00c0ffee00c0ffee"
MOUTH_TOLERANCE = 0.03


@dataclass
class PairResult:
    selfie: str
    scene: str
    refused: str | None = None
    id_selfie: float = float("nan")
    id_actor: float = float("nan")
    flicker: float = float("nan")
    mouth_ok: float = float("nan")
    eyes_diff: float = float("nan")
    seam: float = float("nan")
    seam_scene: float = float("nan")
    light: float = float("nan")
    psnr_out: float = float("nan")
    psnr_plain: float = float("nan")
    render_s: float = float("nan")
    plain_s: float = float("nan")
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def time_ratio(self) -> float:
        return self.render_s / self.plain_s


@dataclass
class SceneRef:
    """What is measured once per scene: its frames, the actor, a plain transcode."""

    scene: Scene
    frames: list[np.ndarray]
    plain: list[np.ndarray]
    plain_s: float
    samples: list[int]
    actor: dict[int, np.ndarray]


def encode(frames_path: Path, scene: Scene, out: Path, settings: Settings) -> float:
    start = time.perf_counter()
    with ClipWriter(out, width=scene.width, height=scene.height, fps=scene.fps, crf=settings.video_crf,
                    preset=settings.video_preset, audio_from=scene.clip) as writer:
        for frame in read_frames(frames_path):
            writer.write(frame)
    return time.perf_counter() - start


def scene_ref(scene: Scene, meter: IdentityMeter, work: Path, settings: Settings, n_samples: int) -> SceneRef:
    frames = list(read_frames(scene.clip))
    plain_path = work / f"plain-{scene.keyword}.mp4"
    plain_s = min(encode(scene.clip, scene, plain_path, settings) for _ in range(2))
    present = [i for i in range(len(frames)) if scene.analysis.at(i) is not None]
    picks = np.linspace(0, len(present) - 1, n_samples + 2)[1:-1].round().astype(int)
    samples = [present[i] for i in picks]
    actor = {i: meter.descriptor(frames[i], scene.analysis.at(i)) for i in samples}
    return SceneRef(scene, frames, list(read_frames(plain_path)), plain_s, samples, actor)


def outside_face_and_label(points: np.ndarray | None, size: tuple[int, int],
                           label: tuple[int, int, int, int]) -> np.ndarray:
    w, h = size
    keep = np.ones((h, w), bool)
    if points is not None:
        # The forehead up to FOREHEAD_REACH above the oval is face: the engine puts it in the user's tone.
        b = oval_box(points, size, pad=0.08, up=FOREHEAD_REACH)
        keep[b.y0:b.y1, b.x0:b.x1] = False
    x0, y0, x1, y1 = label
    keep[y0:y1, x0:x1] = False
    return keep


def measure(ref: SceneRef, out_frames: list[np.ndarray], source: object, selfie_desc: np.ndarray,
            meter: IdentityMeter, label_box: tuple[int, int, int, int], result: PairResult) -> None:
    scene, frames, analysis = ref.scene, ref.frames, ref.scene.analysis
    size = (scene.width, scene.height)
    n = min(len(out_frames), len(frames))

    ids_selfie, ids_actor = [], []
    for i in ref.samples:
        desc = meter.descriptor(out_frames[i], analysis.at(i))
        ids_selfie.append(distance(desc, selfie_desc))
        ids_actor.append(distance(desc, ref.actor[i]))
    result.id_selfie, result.id_actor = float(np.mean(ids_selfie)), float(np.mean(ids_actor))

    tracks = [analysis.at(i) for i in range(n)]
    result.flicker = temporal_change(out_frames[:n], tracks) / temporal_change(frames[:n], tracks)

    mouth_ok, eyes = [], []
    with MeshTracker(max_faces=2) as tracker:
        for i, faces in enumerate(tracker.track(out_frames[:n])):
            lm = analysis.at(i)
            if lm is None:
                continue
            if not faces:
                mouth_ok.append(False)
                continue
            centre = lm.mean(axis=0)
            found = min(faces, key=lambda f: float(np.linalg.norm(f.mean(axis=0) - centre)))
            mouth_ok.append(abs(mouth_opening(found) - mouth_opening(lm)) <= MOUTH_TOLERANCE)
            eyes.append(abs(eye_openness(found) - eye_openness(lm)))
    result.mouth_ok = float(np.mean(mouth_ok))
    result.eyes_diff = float(np.mean(eyes)) if eyes else float("nan")

    seams, seams_scene, lights = [], [], []
    if isinstance(source, object) and hasattr(source, "rgba"):
        for i in ref.samples:
            lm = analysis.at(i)
            roi = face_roi(lm, size, up=FOREHEAD_REACH)  # the engine's own region, so its masks' own grid
            if roi is None:
                continue
            x0, y0, x1, y1 = grid_roi(roi, size)
            region = (x1 - x0, y1 - y0)
            masks, _ = region_masks(lm - np.array([x0, y0], np.float32), region, source)  # type: ignore[arg-type]
            outer = cv2.resize(masks.outer, region, interpolation=cv2.INTER_LINEAR)
            core = cv2.resize(masks.core * (masks.sharp > 0.5), region, interpolation=cv2.INTER_LINEAR) > 0.8
            box = Box(x0, y0, x1, y1)
            seam, seam_scene, used = seam_delta_e(out_frames[i], frames[i], outer, box)
            if used:
                seams.append(seam)
                seams_scene.append(seam_scene)
            lights.append(lighting_correlation(out_frames[i], frames[i], core, box))
        result.seam = float(np.nanmedian(seams))
        result.seam_scene = float(np.nanmedian(seams_scene))
        result.light = float(np.nanmedian(lights))

    parts_out, parts_plain = [], []
    for i in range(0, n, 2):
        keep = outside_face_and_label(analysis.at(i), size, label_box)
        parts_out.append(psnr(out_frames[i], frames[i], keep))
        parts_plain.append(psnr(ref.plain[i], frames[i], keep))
    result.psnr_out, result.psnr_plain = psnr_total(parts_out), psnr_total(parts_plain)


def face_crop(frame: np.ndarray, points: np.ndarray | None, side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if points is None:
        crop = frame
    else:
        b = oval_box(points, (w, h), pad=0.35)
        cx, cy, half = (b.x0 + b.x1) // 2, (b.y0 + b.y1) // 2, max(b.x1 - b.x0, b.y1 - b.y0) // 2
        crop = frame[max(0, cy - half):cy + half, max(0, cx - half):cx + half]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_CUBIC)


def contact_sheet(path: Path, selfie: np.ndarray, selfie_pts: np.ndarray | None, ref: SceneRef,
                  out_frames: list[np.ndarray], result: PairResult, side: int = 256) -> None:
    """selfie | scene frame | output at 25%, 50%, 75% of the clip, each cropped around the face."""
    analysis, n = ref.scene.analysis, len(out_frames)
    times = [int(n * q) for q in (0.25, 0.5, 0.75)]
    tiles = [face_crop(selfie, selfie_pts, side), face_crop(ref.frames[times[1]], analysis.at(times[1]), side)]
    tiles += [face_crop(out_frames[t], analysis.at(t), side) for t in times]
    sheet = np.hstack(tiles)
    caption = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    text = (f"{result.selfie} -> {result.scene}   id->selfie {result.id_selfie:.3f}  id->actor {result.id_actor:.3f}"
            f"  seam dE {result.seam:.1f}  light r {result.light:.2f}  mouth ok {result.mouth_ok:.0%}")
    cv2.putText(caption, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack([caption, sheet]), cv2.COLOR_RGB2BGR))


def fmt(v: float, spec: str) -> str:
    return "  -  " if v != v else format(v, spec)


ROW = "{:<28} {:<10} {:>7} {:>7} {:>7} {:>6} {:>6} {:>11} {:>6} {:>15} {:>6}"


def print_row(r: PairResult) -> None:
    if r.refused:
        print(f"{r.selfie:<28} {r.scene:<10} refused: {r.refused}")
        return
    print(ROW.format(r.selfie[:28], r.scene[:10], fmt(r.id_selfie, ".3f"), fmt(r.id_actor, ".3f"),
                     fmt(r.flicker, ".2f"), fmt(r.mouth_ok, ".0%"), fmt(r.eyes_diff, ".3f"),
                     f"{fmt(r.seam, '.1f')} ({fmt(r.seam_scene, '.1f')})", fmt(r.light, ".2f"),
                     f"{fmt(r.psnr_out, '.1f')}/{fmt(r.psnr_plain, '.1f')}", fmt(r.time_ratio, ".2f")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--selfies", type=Path, default=SET_DIR / "selfies")
    parser.add_argument("--scenes", type=Path, default=SET_DIR / "scenes")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "quality")
    parser.add_argument("--samples", type=int, default=8, help="frames per clip for identity, seam and light")
    parser.add_argument("--only", default="", help="substring of selfie names to run")
    parser.add_argument("--scene", default="", help="comma-separated scene keywords to run (default: all)")
    args = parser.parse_args()

    settings = Settings(engine="mesh")
    wanted = {k.strip() for k in args.scene.split(",") if k.strip()}
    scenes = [s for s in SceneLibrary([args.scenes]).scenes() if not wanted or s.keyword in wanted]
    selfies = sorted(p for p in args.selfies.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
                     and args.only in p.name)
    args.out.mkdir(parents=True, exist_ok=True)
    meter = IdentityMeter()
    engine = MeshEngine(min_face_px=settings.min_face_px)
    analyzer = FaceAnalyzer()
    refs = [scene_ref(s, meter, args.out, settings, args.samples) for s in scenes]
    print(f"set: {len(selfies)} selfies x {len(refs)} scenes; engine {engine.name}; "
          f"preset={settings.video_preset} crf={settings.video_crf}; watermark and label on")
    print(ROW.format("selfie", "scene", "id-slf", "id-act", "flick", "mouth", "eyes", "seam(scene)", "lightr",
                     "PSNR out/plain", "time"))
    results: list[PairResult] = []
    started = time.perf_counter()
    for path in selfies:
        rgb = decode_image(path.read_bytes(), max_bytes=settings.max_upload_bytes,
                           max_pixels=settings.max_image_pixels)
        boxes = analyzer.detect(rgb)
        pts = analyzer.landmarks(rgb, boxes[0]) if boxes else None
        try:
            source = engine.prepare_source(rgb)
        except SelfieError as err:
            for ref in refs:
                r = PairResult(path.stem, ref.scene.keyword, refused=type(err).__name__)
                results.append(r)
                print_row(r)
            continue
        selfie_desc = meter.descriptor(rgb, pts)
        for ref in refs:
            r = PairResult(path.stem, ref.scene.keyword, plain_s=ref.plain_s)
            r.notes = {"eyes_open": source.eyes_open, "mouth_open": source.mouth_open,
                       "covered": round(source.covered, 3)}
            out_path = args.out / f"{path.stem}__{ref.scene.keyword}.mp4"
            timer = StageTimer()
            start = time.perf_counter()
            rendered = render_scene(source, ref.scene, engine, out_path, crf=settings.video_crf,
                                    preset=settings.video_preset, timer=timer, watermark_id=WATERMARK_ID,
                                    secret=SECRET)
            r.render_s = time.perf_counter() - start
            out_frames = list(read_frames(out_path))
            measure(ref, out_frames, source, selfie_desc, meter, rendered.label_box, r)
            contact_sheet(args.out / f"{path.stem}__{ref.scene.keyword}.png", rgb, pts, ref, out_frames, r)
            results.append(r)
            print_row(r)
            sys.stdout.flush()

    done = [r for r in results if not r.refused]
    if done:
        def med(key: str) -> float:
            return float(statistics.median(getattr(r, key) for r in done))

        print("-" * 118)
        print(f"medians over {len(done)} pairs ({len(results) - len(done)} refused):")
        print(f"  identity distance to the selfie  {med('id_selfie'):.3f}  (target <= 0.50; worst pair "
              f"{max(r.id_selfie for r in done):.3f}, target <= 0.58)")
        print(f"  identity distance to the actor   {med('id_actor'):.3f}  (target >= 0.62)")
        print(f"  flicker vs the scene's own       {med('flicker'):.2f}x (target <= 1.2x)")
        print(f"  mouth within 3% of face height   {med('mouth_ok'):.1%} of frames (target 95%; worst pair "
              f"{min(r.mouth_ok for r in done):.1%})")
        print(f"  eye openness difference          {med('eyes_diff'):.3f}")
        print(f"  seam dE across the mask edge     {med('seam'):.2f}  (target <= 6; the scene's own there: "
              f"{med('seam_scene'):.2f})")
        print(f"  lighting correlation             {med('light'):.3f}  (target >= 0.8)")
        print(f"  PSNR outside face+label          {med('psnr_out'):.2f} dB vs plain transcode "
              f"{med('psnr_plain'):.2f} dB (gap {med('psnr_plain') - med('psnr_out'):.2f} dB, target <= 1.5)")
        print(f"  render / plain decode+encode     {statistics.median(r.time_ratio for r in done):.2f}x")
    print(f"benchmark wall time: {time.perf_counter() - started:.0f} s")
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1, default=float))


if __name__ == "__main__":
    main()
