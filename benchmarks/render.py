"""Render benchmark: per-stage time for the demo scene vs a plain decode+encode of the same clip.

Usage: python benchmarks/render.py [--scene demo] [--selfie PATH] [--repeat 5]
Both figures are measured in the same run with the same codec settings, alternately (a plain
transcode, then a render, `--repeat` times). The ratio is that of the two medians; each render's
ratio to the plain transcode just before it is printed beside it, to show how much the machine
drifted during the run (20% within minutes on the 2-core box of the project's notes). The CPU time
of both, all threads counted, is printed too: the work the render adds. It moves with a busy
machine as well (caches and cores are shared), only less than wall time.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zaobot.config import BUNDLED_ASSETS_DIR, Settings  # noqa: E402
from zaobot.media.images import decode_image  # noqa: E402
from zaobot.media.scenes import SceneLibrary, analyse_frames  # noqa: E402
from zaobot.media.video import ClipWriter, read_frames  # noqa: E402
from zaobot.models import StageTimer, create_engine  # noqa: E402
from zaobot.pipeline import render_scene  # noqa: E402


def plain_transcode(scene, out: Path, settings: Settings) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process, every thread counted)."""
    start, cpu = time.perf_counter(), time.process_time()
    with ClipWriter(out, width=scene.width, height=scene.height, fps=scene.fps, crf=settings.video_crf,
                    preset=settings.video_preset, audio_from=scene.clip) as writer:
        for frame in read_frames(scene.clip):
            writer.write(frame)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scene", default="demo")
    parser.add_argument("--selfie", type=Path, default=BUNDLED_ASSETS_DIR / "demo_selfie.jpg")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    settings = Settings(engine="mesh")
    scene = SceneLibrary(settings.scene_dirs).find(args.scene)
    engine = create_engine(settings)
    t0 = time.perf_counter()
    rgb = decode_image(args.selfie.read_bytes(), max_bytes=settings.max_upload_bytes,
                       max_pixels=settings.max_image_pixels)
    source = engine.prepare_source(rgb)
    prepare = time.perf_counter() - t0
    _ = scene.analysis  # load the cache outside the timed region, as a warm worker has it

    plain, totals, stages = [], [], []
    plain_cpu, render_cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            wall, cpu = plain_transcode(scene, Path(tmp) / f"plain{i}.mp4", settings)
            plain.append(wall)
            plain_cpu.append(cpu)
            timer = StageTimer()
            start, cpu = time.perf_counter(), time.process_time()
            render_scene(source, scene, engine, Path(tmp) / f"swap{i}.mp4", crf=settings.video_crf,
                         preset=settings.video_preset, timer=timer, watermark_id="0123456789abcdef",
                         secret="benchmark-secret-" + "x" * 32)
            totals.append(time.perf_counter() - start)
            render_cpu.append(time.process_time() - cpu)
            stages.append(dict(timer.seconds))

    best = sorted(range(args.repeat), key=lambda i: totals[i])[args.repeat // 2]
    plain_s, total_s = statistics.median(plain), statistics.median(totals)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"cores={__import__('os').cpu_count()}")
    print(f"scene: {scene.keyword} {scene.width}x{scene.height} {scene.frames} frames @ {float(scene.fps):g} fps "
          f"= {scene.duration:.2f} s; preset={settings.video_preset} crf={settings.video_crf}")
    print(f"prepare selfie (decode + detect + mesh): {prepare * 1000:.0f} ms")
    start = time.perf_counter()
    analyse_frames(read_frames(scene.clip))
    print(f"scene pre-analysis (once, at `scenes add`; never per request): {time.perf_counter() - start:.3f} s")
    print("stage timings (the run with the median total; decode runs on its own thread, overlapping):")
    for name in ("decode", "swap", "blend", "label", "watermark", "convert", "encode"):
        sec = stages[best].get(name, 0.0)
        print(f"  {name:<9} {sec:6.3f} s  {sec / scene.frames * 1000:6.2f} ms/frame")
    print(f"plain decode+encode: median {plain_s:.3f} s  (runs: {', '.join(f'{p:.3f}' for p in plain)})")
    print(f"swap render:         median {total_s:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in totals)})")
    marks = (stages[best].get("label", 0.0) + stages[best].get("watermark", 0.0)) / scene.frames * 1000
    print(f"visible label + invisible mark: {marks:.2f} ms per {scene.width}x{scene.height} frame (budget 15 ms)")
    paired = [t / p for t, p in zip(totals, plain, strict=True)]
    print(f"ratio render/plain:  {total_s / plain_s:.2f}x  (run by run: {', '.join(f'{r:.2f}' for r in paired)})")
    print(f"CPU time render/plain: {statistics.median(render_cpu) / statistics.median(plain_cpu):.2f}x  "
          f"(all threads; {statistics.median(render_cpu):.2f} s against {statistics.median(plain_cpu):.2f} s: "
          "the work added, whatever else the machine is running)")
    print(f"realtime factor:     {total_s / scene.duration:.2f}x the clip's duration")


if __name__ == "__main__":
    main()
