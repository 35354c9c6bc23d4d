"""Fit a clip under a platform's size limit (WeChat: 10 MB) by re-encoding at a lower bitrate."""

from __future__ import annotations

import shutil
from pathlib import Path

import av

from zaobot.media.video import ClipWriter, probe, read_frames

AUDIO_ALLOWANCE_BPS = 160_000  # the copied AAC track plus container overhead


def fit_under(src: Path, max_bytes: int, dst: Path, attempts: int = 3) -> Path:
    """Write `src` to `dst` unchanged if it fits, else re-encode the video (audio copied) until it does."""
    if src.stat().st_size <= max_bytes:
        shutil.copyfile(src, dst)
        return dst
    info = probe(src)
    with av.open(str(src)) as container:
        metadata = dict(container.metadata)
    budget = 0.92 * max_bytes * 8 / max(info.duration, 0.1)
    for _ in range(attempts):
        video_bps = max(50_000, int(budget - AUDIO_ALLOWANCE_BPS))
        with ClipWriter(dst, width=info.width, height=info.height, fps=info.fps, bitrate=video_bps,
                        audio_from=src if info.audio_codec == "aac" else None, metadata=metadata) as writer:
            for frame in read_frames(src):
                writer.write(frame)
        if dst.stat().st_size <= max_bytes:
            return dst
        budget *= 0.7
    raise ValueError(f"could not fit the clip under {max_bytes} bytes")
