"""Watermark benchmark: what the invisible mark costs in quality, bits and time, and whether it survives.

Usage: python benchmarks/watermark.py [--scene-dir DIR ...] [--label] [--no-robustness] [--keep DIR]

For the bundled demo scene and every real scene under benchmarks/quality/scenes/*/ (if any),
with the same codec settings the renderer uses (crf 23, preset veryfast, `ClipWriter`):
  (a) a plain transcode of the scene,
  (b) the scene frames + the mark (no face swap: this measures the mark alone; --label burns the
      visible label into both first, as a render has it),
and prints PSNR of each against the decoded original scene frames *outside* the face (the
convex hull of the scene's landmarks, a little grown) and the label box, the difference in dB,
encoded sizes, and the time per frame of mark application. Then the mark is read back as
delivered, after a re-encode at crf 28, 480p at crf 28, a 5% crop, and a 5% crop + 360p at crf 28
(pilot z-score, id), and must not be read under another secret or from the plain transcode.
Detection needs a pilot z of 6 and, to decode the id, about 7.5.

It also runs against an older zaobot/media/watermark.py (without the `face` argument), which is how
the "before" figures were taken.
"""

from __future__ import annotations

import argparse
import inspect
import math
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zaobot.media import watermark as wm  # noqa: E402
from zaobot.media.label import burn_label, make_label  # noqa: E402
from zaobot.media.scenes import Scene  # noqa: E402
from zaobot.media.video import ClipWriter, probe, read_frames  # noqa: E402

WATERMARK_ID = "5a0b07c0ffee1234"
SECRET = "benchmark-secret-" + "b" * 40
OTHER_SECRET = "another-operators-secret-" + "z" * 30


def face_mask(landmarks: np.ndarray | None, shape: tuple[int, int], grow: float = 0.1) -> np.ndarray:
    """bool (H, W): the face's convex hull, grown by `grow` of the face width on every side."""
    mask = np.zeros(shape, np.uint8)
    if landmarks is None:
        return mask.astype(bool)
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    pad = max(1, int(round(grow * float(np.ptp(landmarks[:, 0])))))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1)))
    return mask.astype(bool)


def _apply(frame: np.ndarray, mark: object, landmarks: np.ndarray | None) -> np.ndarray:
    """Call apply_mark with the face when this version of the watermark takes it (older ones did not)."""
    if "face" in inspect.signature(wm.apply_mark).parameters:
        return wm.apply_mark(frame, mark, face=landmarks)
    return wm.apply_mark(frame, mark)


def _landmarks(scene: Scene) -> tuple[object | None, str]:
    try:
        return scene.analysis, ""
    except Exception as exc:  # noqa: BLE001 - a scene without analysis is measured without the face
        return None, f" (no face analysis: {exc}; the face is not excluded)"


def encode_pair(scene: Scene, plain: Path, marked: Path, *, crf: int, preset: str,
                with_label: bool) -> dict[str, object]:
    """One decode of the scene feeding two encoders: (a) plain, (b) + mark; with `with_label`, both get
    the visible label first, as a render has it."""
    analysis, _ = _landmarks(scene)
    boxes = analysis.face_boxes() if analysis is not None else []
    label = make_label((scene.width, scene.height), boxes)
    t0 = time.perf_counter()
    mark = wm.make_mark(WATERMARK_ID, SECRET, scene.width, scene.height)
    make_s = time.perf_counter() - t0
    apply_s, enc_a, enc_b, n = 0.0, 0.0, 0.0, 0
    opts = dict(width=scene.width, height=scene.height, fps=scene.fps, crf=crf, preset=preset)
    with ClipWriter(plain, **opts) as wa, ClipWriter(marked, **opts) as wb:
        for i, frame in enumerate(read_frames(scene.clip)):
            if with_label:  # in both, so that the difference between them is the mark's
                burn_label(frame, label)
            t = time.perf_counter()
            wa.write(frame)
            enc_a += time.perf_counter() - t
            out = frame.copy()
            lm = analysis.at(i) if analysis is not None else None
            t = time.perf_counter()
            _apply(out, mark, lm)
            apply_s += time.perf_counter() - t
            t = time.perf_counter()
            wb.write(out)
            enc_b += time.perf_counter() - t
            n += 1
        t = time.perf_counter()
        wa.close()
        enc_a += time.perf_counter() - t
        t = time.perf_counter()
        wb.close()
        enc_b += time.perf_counter() - t
    return dict(frames=n, make_ms=make_s * 1e3, apply_ms=apply_s / n * 1e3, enc_a_ms=enc_a / n * 1e3,
                enc_b_ms=enc_b / n * 1e3, label_box=label.box)  # type: ignore[dict-item]


def psnr_outside(scene: Scene, clips: list[Path], label_box: tuple[int, int, int, int]) -> list[float]:
    """PSNR (RGB, over the whole clip) of each clip vs the decoded scene, outside face and label."""
    analysis, _ = _landmarks(scene)
    sse = [0.0 for _ in clips]
    count = 0
    readers = [read_frames(c) for c in clips]
    x0, y0, x1, y1 = label_box
    for i, ref in enumerate(read_frames(scene.clip)):
        keep = ~face_mask(analysis.at(i) if analysis is not None else None, ref.shape[:2])
        keep[y0:y1, x0:x1] = False
        ref32 = ref.astype(np.float32)
        for k, reader in enumerate(readers):
            diff = next(reader).astype(np.float32) - ref32
            sse[k] += float((diff[keep] ** 2).sum())
        count += int(keep.sum()) * 3
    for reader in readers:
        reader.close()  # type: ignore[attr-defined]
    return [10 * math.log10(255.0 ** 2 / max(s / count, 1e-12)) for s in sse]


def frames_of(src: Path, *, crop: float = 0.0, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The clip's RGB frames, `crop` of each side cut off (in total), resized to `size`, even-sized."""
    for f in read_frames(src):
        h, w = f.shape[:2]
        if crop:
            cx, cy = int(round(w * crop / 2)), int(round(h * crop / 2))
            f = f[cy:h - cy, cx:w - cx]
        if size:
            f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
        hh, ww = (f.shape[0] // 2) * 2, (f.shape[1] // 2) * 2
        yield np.ascontiguousarray(f[:hh, :ww])


def reencode(src: Path, dst: Path, *, crf: int, size: tuple[int, int] | None = None, crop: float = 0.0) -> Path:
    """What a chat platform does (as tests/test_watermark.py): crop, downscale, re-encode."""
    first = next(frames_of(src, crop=crop, size=size))
    info = probe(src)
    with ClipWriter(dst, width=first.shape[1], height=first.shape[0], fps=info.fps, crf=crf) as writer:
        for f in frames_of(src, crop=crop, size=size):
            writer.write(f)
    return dst


def robustness(marked: Path, plain: Path, tmp: Path, width: int, height: int) -> None:
    """Print what the detector reads from the marked clip after what platforms do to it, and that it
    reads nothing under another secret or from the unmarked transcode."""
    small = (round(480 * width / height / 2) * 2, 480)  # 480p, aspect kept (an upscale for smaller scenes)
    cw, ch = width - 2 * round(width * 0.025), height - 2 * round(height * 0.025)
    cropped_small = (round(360 * cw / ch / 2) * 2, 360)
    cases: list[tuple[str, dict[str, object] | None]] = [
        ("as delivered (crf 23)", None),
        ("crf 28", dict(crf=28)),
        ("480p crf 28", dict(crf=28, size=small)),
        ("5% crop (crf 23)", dict(crf=23, crop=0.05)),
        ("5% crop + 360p crf 28", dict(crf=28, crop=0.05, size=cropped_small)),
    ]
    for name, kwargs in cases:
        clip = marked if kwargs is None else reencode(marked, tmp / "re.mp4", **kwargs)  # type: ignore[arg-type]
        t = time.perf_counter()
        d = wm.detect_clip(clip, SECRET)
        secs = time.perf_counter() - t
        ok = d.found and d.watermark_id == WATERMARK_ID
        print(f"  {name:24s} z={d.pilot_z:6.1f}  conf={d.confidence:5.2f}  "
              f"{'FOUND ' + str(d.watermark_id) if d.found else 'not found'}  {'ok' if ok else 'FAIL'}  "
              f"({secs:.1f} s)")
    d = wm.detect_clip(marked, OTHER_SECRET)
    print(f"  {'other secret':24s} z={d.pilot_z:6.1f}  {'FOUND (FAIL)' if d.found else 'not found  ok'}")
    d = wm.detect_clip(plain, SECRET)
    print(f"  {'plain transcode':24s} z={d.pilot_z:6.1f}  {'FOUND (FAIL)' if d.found else 'not found  ok'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene-dir", type=Path, action="append", default=[],
                        help="scene folders (default: the demo + benchmarks/quality/scenes/*)")
    parser.add_argument("--crf", type=int, default=23)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--label", action="store_true",
                        help="burn the visible label into both clips first (the mark goes over it, as in a render)")
    parser.add_argument("--no-robustness", action="store_true")
    parser.add_argument("--keep", type=Path, help="copy the encoded clips into this folder")
    args = parser.parse_args()

    dirs = args.scene_dir
    if not dirs:
        dirs = [ROOT / "zaobot/scenes/demo"] + sorted(p.parent for p in (ROOT / "benchmarks/quality/scenes")
                                                       .glob("*/scene.json"))
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}, OpenCV {cv2.__version__}")
    print(f"codec: preset={args.preset} crf={args.crf}; watermark module: {Path(wm.__file__).resolve()}")
    for directory in dirs:
        scene = Scene.load(directory)
        _, note = _landmarks(scene)
        print(f"\nscene {scene.keyword!r} ({directory.name}): {scene.width}x{scene.height} "
              f"{scene.frames} frames @ {float(scene.fps):g} fps{note}")
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            plain, marked = tmp / "plain.mp4", tmp / "marked.mp4"
            r = encode_pair(scene, plain, marked, crf=args.crf, preset=args.preset, with_label=args.label)
            pa, pb = psnr_outside(scene, [plain, marked], r["label_box"])  # type: ignore[arg-type]
            sa, sb = plain.stat().st_size, marked.stat().st_size
            print(f"  PSNR outside face+label: plain {pa:.2f} dB, marked {pb:.2f} dB, "
                  f"difference {pa - pb:.2f} dB (limit 1.5)")
            print(f"  size: plain {sa / 1024:.0f} KiB, marked {sb / 1024:.0f} KiB ({sb / sa:.2f}x)")
            print(f"  x264 time per frame (in write calls): plain {r['enc_a_ms']:.1f} ms, "
                  f"marked {r['enc_b_ms']:.1f} ms")
            print(f"  mark: make {r['make_ms']:.0f} ms once, apply {r['apply_ms']:.2f} ms/frame")
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for p in (plain, marked):
                    (args.keep / f"{directory.name}-{p.name}").write_bytes(p.read_bytes())
            if not args.no_robustness:
                robustness(marked, plain, tmp, scene.width, scene.height)


if __name__ == "__main__":
    main()
