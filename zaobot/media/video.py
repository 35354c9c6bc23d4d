"""Video decode and encode with PyAV (its wheel brings FFmpeg with libx264 and AAC).

Outputs are H.264 (yuv420p, so phones play them inline) + AAC in MP4 with
`+faststart` (the moov atom first, so Telegram streams them), written to a
temporary name and renamed into place.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    video_codec: str
    audio_codec: str | None
    pix_fmt: str
    metadata: dict[str, str]


def probe(path: Path) -> VideoInfo:
    """Stream facts of a clip; `frames` is counted by demuxing, not trusted from the header."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = sum(1 for p in container.demux(video) if p.size > 0)
        fps = video.average_rate or video.guessed_rate or Fraction(25)
        duration = float(container.duration / av.time_base) if container.duration else frames / float(fps)
        return VideoInfo(
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=Fraction(fps),
            frames=frames,
            duration=duration,
            video_codec=video.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            pix_fmt=video.codec_context.pix_fmt or "",
            metadata=dict(container.metadata),
        )


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of the first video stream as RGB uint8 (H, W, 3), in presentation order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


def _dts(packet: av.Packet) -> int:
    """A packet's decode timestamp; ClipWriter keeps only audio packets that have one."""
    assert packet.dts is not None
    return packet.dts


class ClipWriter:
    """Encode RGB frames to H.264 and copy (or encode) the audio, interleaved by time."""

    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        fps: Fraction,
        crf: int = 23,
        preset: str = "veryfast",
        audio_from: Path | None = None,
        metadata: Mapping[str, object] | None = None,
        max_bitrate: int | None = None,
        bitrate: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the start: the clip being written is plaintext media.
        os.close(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        self._out = av.open(str(self._tmp), "w", format="mp4", options={"movflags": "+faststart"})
        for key, value in (metadata or {}).items():
            self._out.metadata[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        self._video = self._out.add_stream("libx264", rate=fps)
        self._video.width = width
        self._video.height = height
        self._video.pix_fmt = "yuv420p"
        options: dict[str, object] = {"preset": preset, "profile": "high"}
        if bitrate:  # average bitrate, capped: used to fit a size limit
            self._video.bit_rate = bitrate
            options.update({"maxrate": str(bitrate), "bufsize": str(bitrate)})
        else:
            options["crf"] = str(crf)
            if max_bitrate:
                options.update({"maxrate": str(max_bitrate), "bufsize": str(max_bitrate * 2)})
        self._video.options = options
        self._reformatter = av.video.reformatter.VideoReformatter()  # for to_frame, on the caller's thread
        self._video.time_base = Fraction(1, int(round(float(fps) * 1000)))
        self._fps = fps
        self._index = 0
        self._closed = False
        self._audio_in: av.container.InputContainer | None = None
        self._audio_packets: list[av.Packet] = []
        self._audio_out: av.audio.stream.AudioStream | None = None
        if audio_from is not None:
            self._open_audio(audio_from)

    def _open_audio(self, source: Path) -> None:
        container = av.open(str(source))
        if not container.streams.audio:
            container.close()
            return
        in_stream = container.streams.audio[0]
        if in_stream.codec_context.name != "aac":
            container.close()
            raise ValueError("scene audio must be AAC; scenes are normalised when added")
        self._audio_in = container
        self._audio_out = self._out.add_stream_from_template(in_stream)
        self._audio_packets = [p for p in container.demux(in_stream) if p.dts is not None and p.size > 0]
        self._audio_packets.sort(key=_dts)
        self._audio_pos = 0

    def _mux_audio_until(self, seconds: float | None) -> None:
        assert self._audio_out is not None
        while self._audio_pos < len(self._audio_packets):
            packet = self._audio_packets[self._audio_pos]
            if seconds is not None and float(_dts(packet) * packet.time_base) > seconds:
                break
            packet.stream = self._audio_out
            self._out.mux(packet)
            self._audio_pos += 1

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if self._audio_out is not None and packet.dts is not None:
                self._mux_audio_until(float(packet.dts * packet.time_base) + 0.1)
            self._out.mux(packet)

    def to_frame(self, rgb: np.ndarray) -> av.VideoFrame:
        """An RGB uint8 (H, W, 3) frame converted to what the encoder takes (YUV 4:2:0). `write`
        does this itself; a caller with a thread to spare converts here, off the encoder's thread."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        return self._reformatter.reformat(frame, format=self._video.pix_fmt)  # one context, kept: not one a frame

    def write(self, rgb: np.ndarray | av.VideoFrame) -> None:
        """Append one frame: RGB uint8 (H, W, 3), or one from `to_frame`."""
        frame = rgb if isinstance(rgb, av.VideoFrame) else av.VideoFrame.from_ndarray(rgb, format="rgb24")
        time_base = self._video.time_base
        assert time_base is not None  # set in __init__
        frame.pts = int(round(self._index / float(self._fps) / time_base))
        frame.time_base = time_base
        self._index += 1
        self._mux_video(self._video.encode(frame))

    def close(self) -> Path:
        """Flush, finish the file and move it into place (idempotent)."""
        if self._closed:
            return self.path
        self._closed = True
        self._mux_video(self._video.encode(None))
        if self._audio_out is not None:
            self._trim_and_flush_audio()
        self._out.close()
        if self._audio_in is not None:
            self._audio_in.close()
        os.replace(self._tmp, self.path)
        return self.path

    def _trim_and_flush_audio(self) -> None:
        # Keep the audio no longer than the video, so the clip lasts as long as the scene.
        video_end = self._index / float(self._fps)
        self._audio_packets = [
            p for p in self._audio_packets[self._audio_pos:] if float(_dts(p) * p.time_base) < video_end
        ]
        self._audio_pos = 0
        self._mux_audio_until(None)

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._out.close()
        except Exception:  # noqa: BLE001 - best effort on an already failing path
            pass
        if self._audio_in is not None:
            self._audio_in.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class UnreadableVideo(Exception):
    """An upload that is not a video PyAV can decode (or has no video stream)."""


def sample_frames(data: bytes, *, fps: float, max_seconds: float, max_side: int,
                  max_pixels: int = 4096 * 4096) -> list[tuple[float, np.ndarray]]:
    """Decode an uploaded recording in memory: (time in s, RGB frame) at most `fps` per second,
    over its first `max_seconds`, each downscaled to `max_side`. Nothing touches the disk.

    A frame larger than `max_pixels` (a crafted header) is refused before it is converted; an
    unreadable file raises UnreadableVideo."""
    out: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise UnreadableVideo("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            base = float(stream.time_base) if stream.time_base else 1 / 25
            next_at = 0.0
            for frame in container.decode(stream):
                t = float(frame.pts * base) if frame.pts is not None else len(out) / fps
                if out and t > out[0][0] + max_seconds:
                    break
                if frame.width * frame.height > max_pixels:
                    raise UnreadableVideo(f"frame of {frame.width}x{frame.height}")
                if out and t + 1e-6 < next_at:
                    continue
                scale = min(1.0, max_side / max(frame.width, frame.height))
                if scale < 1.0:
                    frame = frame.reformat(width=max(2, round(frame.width * scale) // 2 * 2),
                                           height=max(2, round(frame.height * scale) // 2 * 2))
                out.append((t, frame.to_ndarray(format="rgb24")))
                # On a grid from the first frame, so 25 fps sampled at 15 gives 15, not 12.5.
                next_at = t + 1.0 / fps if len(out) == 1 else max(next_at + 1.0 / fps, t)
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise UnreadableVideo(type(err).__name__) from None
    if not out:
        raise UnreadableVideo("no frames")
    start = out[0][0]
    return [(t - start, rgb) for t, rgb in out]
