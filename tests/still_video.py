"""Recordings made from one still image: what someone holding up a photo (or a phone showing
one) sends instead of a live recording. Built at test time with OpenCV and PyAV, in memory."""

from __future__ import annotations

import io
import math

import av
import cv2
import numpy as np


def _encode(frames: list[np.ndarray], fps: int = 25) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def panned_and_zoomed(image: np.ndarray, seconds: float = 4.0, side: int = 480, fps: int = 25) -> bytes:
    """The image slowly zoomed in and panned across, as a square video note (what a photo app's
    "Ken Burns" effect, or a hand holding a printed photo, gives)."""
    h, w = image.shape[:2]
    frames = []
    for i in range(int(seconds * fps)):
        k = i / max(1, seconds * fps - 1)
        zoom = 1.0 + 0.25 * k
        crop = min(h, w) / zoom
        cx = w / 2 + 0.08 * w * math.sin(2 * math.pi * k)
        cy = h / 2 + 0.05 * h * math.cos(2 * math.pi * k)
        half = crop / 2
        src = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
        dst = np.float32([[0, 0], [side, 0], [0, side]])
        warp = cv2.getAffineTransform(src, dst)
        frames.append(cv2.warpAffine(image, warp, (side, side), borderMode=cv2.BORDER_REFLECT))
    return _encode(frames, fps)


def tilted(image: np.ndarray, seconds: float = 4.0, side: int = 480, fps: int = 25, degrees: float = 40.0) -> bytes:
    """The image as a flat card turned about its vertical axis, one way and then the other (a printed
    photo swung in front of the camera to fake a head turn)."""
    h, w = image.shape[:2]
    s = min(h, w)
    square = image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    card = cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)
    frames = []
    focal = 1.2 * side
    for i in range(int(seconds * fps)):
        angle = math.radians(degrees) * math.sin(2 * math.pi * i / (seconds * fps))
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * side / 2
        projected = []
        for x, y in corners:
            xr, zr = x * math.cos(angle), x * math.sin(angle) + focal
            projected.append([side / 2 + focal * xr / zr, side / 2 + focal * y / zr])
        m = cv2.getPerspectiveTransform(np.float32(corners + side / 2), np.float32(projected))
        frames.append(cv2.warpPerspective(card, m, (side, side), borderMode=cv2.BORDER_CONSTANT))
    return _encode(frames, fps)
