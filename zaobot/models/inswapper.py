"""The `inswapper` engine: insightface-format ONNX models (ArcFace w600k_r50 + inswapper_128), batched.

The operator supplies the models in ZAOBOT_MODELS_DIR (`inswapper_128.onnx`, `buffalo_l/w600k_r50.onnx`);
they are licensed for non-commercial research only and are never downloaded or shipped by us.
Scene faces are aligned from the 5 keypoints of the cached scene analysis, so no detector runs per
frame; batches of aligned crops go through the swapper while the previous batch is pasted back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zaobot.config import Settings
from zaobot.models.align import align_matrix, crop, paste_back, paste_mask
from zaobot.models.engine import StageTimer
from zaobot.models.landmarks import FaceAnalyzer
from zaobot.models.onnx_session import ModelError, OnnxModel, Port, choose_providers
from zaobot.models.selfie_face import locate_face
from zaobot.models.topology import five_keypoints

SWAP_SIZE = 128
ARC_SIZE = 112
SWAPPER_FILE = "inswapper_128.onnx"
ARCFACE_FILES = ("buffalo_l/w600k_r50.onnx", "w600k_r50.onnx")


def model_paths(models_dir: Path) -> tuple[Path, Path | None]:
    root = Path(models_dir).expanduser()
    arcface = next((root / f for f in ARCFACE_FILES if (root / f).is_file()), None)
    return root / SWAPPER_FILE, arcface


def load_emap(path: Path) -> np.ndarray:
    """inswapper's embedding map: the graph's last initializer, (512, 512)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    if not model.graph.initializer:
        raise ModelError(f"{path.name} has no initializers: not an inswapper model")
    emap = numpy_helper.to_array(model.graph.initializer[-1]).astype(np.float32)
    if emap.shape != (512, 512):
        raise ModelError(f"{path.name}: last initializer has shape {emap.shape}, expected the (512, 512) emap")
    return emap


def source_latent(embedding: np.ndarray, emap: np.ndarray) -> np.ndarray:
    """inswapper's source input: the L2-normalised ArcFace embedding through emap, L2-normalised again."""
    normed = embedding / np.linalg.norm(embedding)
    latent = normed.reshape(1, -1) @ emap
    return (latent / np.linalg.norm(latent)).astype(np.float32)


@dataclass(frozen=True)
class InswapperSource:
    latent: np.ndarray  # float32 (1, 512); in memory only, never written to disk


class InswapperEngine:
    name = "inswapper"
    uses_keypoints = True  # the pipeline passes 5 keypoints per frame (SCRFD's when the scene has them)

    def __init__(self, settings: Settings, batch_size: int | None = None) -> None:
        swapper_path, arcface_path = model_paths(settings.models_dir)
        if arcface_path is None:
            raise ModelError(f"ArcFace model not found: put buffalo_l/w600k_r50.onnx in {settings.models_dir}")
        providers = choose_providers(prefer_gpu=True, tensorrt=settings.onnx_tensorrt)
        cache = settings.data_dir / "model-cache"
        self.swapper = OnnxModel(swapper_path, [Port((3, SWAP_SIZE, SWAP_SIZE)), Port((512,))],
                                 [Port((3, SWAP_SIZE, SWAP_SIZE))], providers=providers, cache_dir=cache,
                                 name="inswapper", fp16=settings.onnx_fp16)
        self.arcface = OnnxModel(arcface_path, [Port((3, ARC_SIZE, ARC_SIZE))], [Port((512,))],
                                 providers=providers, cache_dir=cache, name="arcface")
        self.emap = load_emap(swapper_path)
        self.provider = self.swapper.provider
        self.batch_size = max(1, batch_size or settings.onnx_batch_size)
        self.min_face_px = settings.min_face_px
        self._analyzer = FaceAnalyzer()
        self._mask = paste_mask(SWAP_SIZE)
        self._infer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zaobot-onnx")

    # ---------------------------------------------------------------- source

    def embedding(self, rgb: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        aligned = crop(rgb, align_matrix(keypoints, ARC_SIZE), ARC_SIZE).astype(np.float32)
        blob = ((aligned - 127.5) / 127.5).transpose(2, 0, 1)[None]
        return self.arcface.run(blob)[0]

    def prepare_source(self, selfie: np.ndarray) -> InswapperSource:
        points = locate_face(self._analyzer, selfie, self.min_face_px)
        return InswapperSource(latent=source_latent(self.embedding(selfie, five_keypoints(points)), self.emap))

    # ---------------------------------------------------------------- frames

    def _prepare(self, frames: list[np.ndarray], landmarks: list[np.ndarray | None]):
        jobs = [(i, align_matrix(lm if lm.shape == (5, 2) else five_keypoints(lm), SWAP_SIZE))
                for i, lm in enumerate(landmarks) if lm is not None]
        if not jobs:
            return jobs, None
        crops = np.stack([crop(frames[i], m, SWAP_SIZE) for i, m in jobs]).astype(np.float32) / 255.0
        return jobs, crops.transpose(0, 3, 1, 2)

    def _swap(self, crops: np.ndarray, source: InswapperSource) -> np.ndarray:
        latent = np.repeat(source.latent, len(crops), axis=0)
        pred = self.swapper.run(crops, latent)
        return np.clip(pred.transpose(0, 2, 3, 1) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def _paste(self, frames: list[np.ndarray], jobs, faces: np.ndarray | None) -> list[np.ndarray]:
        out = list(frames)
        for (i, matrix), face in zip(jobs, faces if faces is not None else []):
            out[i] = paste_back(frames[i], face, matrix, self._mask)
        return out

    def swap_batch(self, frames: list[np.ndarray], landmarks: list[np.ndarray | None], source: InswapperSource,
                   timer: StageTimer) -> list[np.ndarray]:
        with timer.stage("blend"):
            jobs, crops = self._prepare(frames, landmarks)
        if crops is None:
            return list(frames)
        with timer.stage("swap"):
            faces = self._swap(crops, source)
        with timer.stage("blend"):
            return self._paste(frames, jobs, faces)

    def swap_frame(self, frame: np.ndarray, landmarks: np.ndarray | None, source: InswapperSource,
                   timer: StageTimer) -> np.ndarray:
        return self.swap_batch([frame], [landmarks], source, timer)[0]

    def swap_stream(self, pairs: Iterable[tuple[np.ndarray, np.ndarray | None]], source: InswapperSource,
                    timer: StageTimer, analysis: object | None = None) -> Iterator[np.ndarray]:
        """Batched, with inference of one batch overlapping the paste-back of the previous one.

        `analysis` (the scene's) is unused: the model carries the identity itself."""
        pending: tuple[list[np.ndarray], list, Future | None] | None = None

        def finish(batch: tuple[list[np.ndarray], list, Future | None]) -> list[np.ndarray]:
            frames, jobs, future = batch
            faces = None
            if future is not None:
                with timer.stage("swap"):
                    faces = future.result()
            with timer.stage("blend"):
                return self._paste(frames, jobs, faces)

        def batches() -> Iterator[tuple[list[np.ndarray], list[np.ndarray | None]]]:
            frames: list[np.ndarray] = []
            marks: list[np.ndarray | None] = []
            for frame, lm in pairs:
                frames.append(frame)
                marks.append(lm)
                if len(frames) == self.batch_size:
                    yield frames, marks
                    frames, marks = [], []
            if frames:
                yield frames, marks

        for frames, marks in batches():
            with timer.stage("blend"):
                jobs, crops = self._prepare(frames, marks)
            future = self._infer.submit(self._swap, crops, source) if crops is not None else None
            if pending is not None:
                yield from finish(pending)
            pending = (frames, jobs, future)
        if pending is not None:
            yield from finish(pending)

    def close(self) -> None:
        self._analyzer.close()
        self._infer.shutdown(wait=False)
