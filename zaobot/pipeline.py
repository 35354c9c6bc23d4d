"""render(job): selfie -> source face -> per-frame swap over the pre-analysed scene -> label -> encode."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from zaobot.config import Settings
from zaobot.media.images import decode_image
from zaobot.media.label import Label, burn_label, make_label
from zaobot.media.provenance import sign_in_place
from zaobot.media.scenes import Scene
from zaobot.media.video import ClipWriter, read_frames
from zaobot.media.watermark import MarkStream, make_mark
from zaobot.models.engine import Engine, StageTimer
from zaobot.models.tracking import SceneAnalysis
from zaobot.threads import render_threads

Progress = Callable[[int, int], None]  # (frames done, frames total)


@dataclass
class RenderResult:
    path: Path
    job_id: str
    scene: str
    frames: int
    label_box: tuple[int, int, int, int]
    seconds: dict[str, float] = field(default_factory=dict)
    watermark_id: str | None = None


def aigc_metadata(job_id: str, provider: str, scene: Scene) -> dict[str, object]:
    """The MP4 tags that mark the clip as AI-generated (in the spirit of GB 45438-2025)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    label = {"AIGC": {"Label": 1, "ContentProducer": provider, "ProduceID": job_id, "PropagateID": job_id,
                      "Time": now}}
    return {
        "comment": label,
        "description": f"AI-generated face swap by {provider}; job {job_id}; scene {scene.keyword}",
        "creation_time": now,
        "encoder": provider,
    }


def _decoded(path: Path, timer: StageTimer, depth: int = 8) -> Iterator[np.ndarray]:
    """Decode on a helper thread (PyAV releases the GIL) so decoding overlaps swapping.

    If the consumer stops early (a cancelled job, an error), the helper notices and exits
    instead of waiting forever on a full queue."""
    frames: queue.Queue[object] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            it = read_frames(path)
            try:
                while True:
                    with timer.stage("decode"):
                        frame = next(it, done)
                    if not offer(frame) or frame is done:
                        return
            finally:
                it.close()  # type: ignore[attr-defined]  # read_frames is a generator
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            offer(exc)

    thread = threading.Thread(target=work, name="zaobot-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = frames.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]  # not the sentinel, not an exception: a frame
    finally:
        stop.set()
        thread.join(timeout=5)


class _Encoder:
    """Feed frames, already converted for the encoder (ClipWriter.to_frame), to the writer on a helper
    thread, so x264 overlaps the swap of the next frame."""

    _STOP = object()

    def __init__(self, writer: ClipWriter, timer: StageTimer, depth: int = 8) -> None:
        self._writer = writer
        self._timer = timer
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="zaobot-encode", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is self._STOP:
                return
            if self._error is not None:
                continue
            try:
                with self._timer.stage("encode"):
                    self._writer.write(frame)  # type: ignore[arg-type]  # not the stop sentinel: a frame
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                self._error = exc

    def put(self, frame: av.VideoFrame) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def finish(self) -> None:
        self._queue.put(self._STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error


def swapped(engine: Engine, pairs: Iterator[tuple[np.ndarray, np.ndarray | None]], source: object,
            timer: StageTimer, analysis: SceneAnalysis | None = None) -> Iterator[np.ndarray]:
    """Frames with the face swapped: batched when the engine batches (inswapper), else frame by frame.

    `analysis`: the scene's, for engines that use the whole clip (the actor's resting shape, hands)."""
    stream = getattr(engine, "swap_stream", None)
    if stream is not None:
        yield from stream(pairs, source, timer, analysis=analysis)
        return
    for frame, landmarks in pairs:
        yield engine.swap_frame(frame, landmarks, source, timer)


def render_scene(
    source: object,
    scene: Scene,
    engine: Engine,
    out_path: Path,
    *,
    job_id: str | None = None,
    provider: str = "zaobot",
    crf: int = 23,
    preset: str = "veryfast",
    progress: Progress | None = None,
    timer: StageTimer | None = None,
    watermark_id: str | None = None,
    secret: str | None = None,
) -> RenderResult:
    """Render a prepared source face into `scene` and write the labelled MP4 to `out_path`.

    With `watermark_id` and `secret`, every frame also carries the invisible mark."""
    job_id = job_id or uuid.uuid4().hex
    timer = timer or StageTimer()
    analysis = scene.analysis
    label: Label = make_label((scene.width, scene.height), analysis.face_boxes())
    mark = MarkStream(make_mark(watermark_id, secret, scene.width, scene.height)) if watermark_id and secret else None
    count = 0
    with render_threads(), ClipWriter(out_path, width=scene.width, height=scene.height, fps=scene.fps, crf=crf,
                                      preset=preset, audio_from=scene.clip,
                                      metadata=aigc_metadata(job_id, provider, scene)) as writer:
        encoder = _Encoder(writer, timer)
        try:
            # Engines that align on 5 points (inswapper) get the keypoints, others the full mesh.
            face_at = analysis.keypoints_at if getattr(engine, "uses_keypoints", False) else analysis.at
            pairs = ((frame, face_at(i)) for i, frame in enumerate(_decoded(scene.clip, timer)))
            for out in swapped(engine, pairs, source, timer, analysis):
                with timer.stage("label"):
                    burn_label(out, label)
                if mark is not None:
                    with timer.stage("watermark"):
                        mark.apply(out, analysis.at(count))  # attenuated on the face
                with timer.stage("convert"):  # here, not on the encoder's thread: that one is the bottleneck
                    converted = writer.to_frame(out)
                encoder.put(converted)
                count += 1
                if progress:
                    progress(count, scene.frames)
        finally:
            encoder.finish()
        with timer.stage("encode"):
            writer.close()
    return RenderResult(path=out_path, job_id=job_id, scene=scene.keyword, frames=count,
                        label_box=label.box, seconds=dict(timer.seconds), watermark_id=watermark_id if mark else None)


def swap_selfie(
    selfie: bytes,
    scene: Scene,
    engine: Engine,
    out_path: Path,
    *,
    max_bytes: int,
    max_pixels: int,
    **kwargs: object,
) -> RenderResult:
    """Validate a selfie (raising SelfieError on bad input) and render it into `scene`."""
    rgb = decode_image(selfie, max_bytes=max_bytes, max_pixels=max_pixels)
    source = engine.prepare_source(rgb)
    del rgb, selfie  # only the prepared face is needed from here on
    return render_scene(source, scene, engine, out_path, **kwargs)  # type: ignore[arg-type]  # render_scene's keywords, passed through


@dataclass(frozen=True)
class RenderOptions:
    """Everything a render takes from the operator's settings, built once per process."""

    max_bytes: int
    max_pixels: int
    provider: str
    crf: int
    preset: str
    secret: str | None  # keys the invisible watermark; None renders without it
    settings: Settings  # for C2PA signing (certificate and key paths)

    @classmethod
    def from_settings(cls, settings: Settings, secret: str | None) -> RenderOptions:
        return cls(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                   provider=settings.provider, crf=settings.video_crf, preset=settings.video_preset,
                   secret=secret, settings=settings)


@dataclass(frozen=True)
class RenderOutcome:
    """A finished, labelled, marked (and, when configured, C2PA-signed) clip on disk."""

    path: Path
    job_id: str
    scene: str
    frames: int
    width: int
    height: int
    duration: float
    seconds: float  # wall time of the whole render, signing included
    watermark_id: str | None
    signed: bool
    label_box: tuple[int, int, int, int]
    engine: str = ""  # which engine swapped the face (the job row and its audit row keep it)


def render_selfie(selfie: bytes, scene: Scene, engine: Engine, out_path: Path, options: RenderOptions, *,
                  job_id: str | None = None, watermark_id: str | None = None,
                  progress: Progress | None = None) -> RenderOutcome:
    """The one way a selfie becomes a clip, for the CLI and the render workers alike: validate the
    selfie (SelfieError on bad input), render it into `scene` with the label and, given a
    `watermark_id` and a secret, the invisible mark, then sign it with C2PA when configured."""
    start = time.perf_counter()
    result = swap_selfie(selfie, scene, engine, out_path, max_bytes=options.max_bytes, max_pixels=options.max_pixels,
                         job_id=job_id, provider=options.provider, crf=options.crf, preset=options.preset,
                         progress=progress, watermark_id=watermark_id if options.secret else None,
                         secret=options.secret)
    signed = sign_in_place(result.path, result.job_id, options.settings)
    return RenderOutcome(path=result.path, job_id=result.job_id, scene=scene.keyword, frames=result.frames,
                         width=scene.width, height=scene.height, duration=scene.duration,
                         seconds=time.perf_counter() - start, watermark_id=result.watermark_id, signed=signed,
                         label_box=result.label_box, engine=engine.name)
