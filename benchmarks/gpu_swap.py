"""inswapper throughput: face-frames per second at batch 1/8/32/64, swap stage and whole render.

Usage: python benchmarks/gpu_swap.py [--models DIR] [--batches 1 8 32 64] [--full]

Uses the operator's models when --models holds them; otherwise a synthetic stand-in with the same
signature (random weights). On a GPU the stand-in defaults to about inswapper's size
(~175 GFLOP per face); on CPU to a smaller one (say so with --full to force the big one).
Batch 1 is the per-face loop that insightface's INSwapper.get and FaceFusion use.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zaobot.config import BUNDLED_ASSETS_DIR, Settings  # noqa: E402
from zaobot.media.images import decode_image  # noqa: E402
from zaobot.media.scenes import SceneLibrary  # noqa: E402
from zaobot.models import StageTimer  # noqa: E402
from zaobot.models.inswapper import InswapperEngine, model_paths  # noqa: E402
from zaobot.models.onnx_session import choose_providers  # noqa: E402
from zaobot.pipeline import render_scene  # noqa: E402


def standin_gflops(channels: int, layers: int) -> float:
    hw = 128 * 128
    return 2 * hw * (3 * channels * 9 + layers * channels * channels * 9 + channels * 3 * 9) / 1e9


def device_name() -> str:
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return f"CPU ({platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--faces", type=int, default=64, help="aligned faces per swap-stage measurement")
    parser.add_argument("--full", action="store_true", help="full-size stand-in even on CPU")
    parser.add_argument("--no-render", action="store_true", help="skip the whole-render measurement")
    args = parser.parse_args()

    gpu = choose_providers()[0] != "CPUExecutionProvider"
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models
        if models is None or model_paths(models)[1] is None:
            from tests.standin import build_models_dir

            channels, layers = (256, 9) if (gpu or args.full) else (64, 4)
            models = build_models_dir(Path(tmp) / "models", "full", channels=channels, layers=layers)
            what = (f"synthetic stand-in ({channels} ch x {layers} conv layers, "
                    f"~{standin_gflops(channels, layers):.0f} GFLOP/face)")
        else:
            what = f"operator models in {models}"
        settings = Settings(engine="inswapper", models_dir=models, data_dir=Path(tmp) / "data")
        engine = InswapperEngine(settings, batch_size=1)
        print(f"device: {device_name()}; provider: {engine.provider}; models: {what}")
        scene = SceneLibrary(settings.scene_dirs).find("demo")
        rgb = decode_image((BUNDLED_ASSETS_DIR / "demo_selfie.jpg").read_bytes(), max_bytes=10**8, max_pixels=10**8)
        source = engine.prepare_source(rgb)

        rng = np.random.default_rng(0)
        crops = rng.random((args.faces, 3, 128, 128), dtype=np.float32)
        engine._swap(crops[:1], source)  # warm-up (kernels, allocations)
        print("swap stage (model only), face-frames/s:")
        for batch in args.batches:
            engine.swapper.batch_ok = True
            start = time.perf_counter()
            for i in range(0, args.faces, batch):
                engine._swap(crops[i:i + batch], source)
            elapsed = time.perf_counter() - start
            label = "per-face loop" if batch == 1 else "batched"
            print(f"  batch {batch:>3} ({label}): {args.faces / elapsed:8.1f}")
        engine.close()

        if not args.no_render:
            print(f"whole render of '{scene.keyword}' ({scene.frames} frames, decode+swap+paste+label+mark+encode):")
            for batch in args.batches:
                engine = InswapperEngine(settings, batch_size=batch)
                start = time.perf_counter()
                timer = StageTimer()
                render_scene(source, scene, engine, Path(tmp) / f"b{batch}.mp4", timer=timer,
                             watermark_id="0123456789abcdef", secret="benchmark-secret-" + "x" * 32)
                elapsed = time.perf_counter() - start
                stages = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(timer.seconds.items()))
                print(f"  batch {batch:>3}: {scene.frames / elapsed:7.1f} frames/s ({elapsed:.2f} s; {stages})")
                engine.close()


if __name__ == "__main__":
    main()
