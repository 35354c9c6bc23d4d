"""Build the bundled demo assets reproducibly from a public-domain photo.

`skimage.data.astronaut()` (Eileen Collins, NASA, public domain) is the only
real face we know of in a PyPI package that is clean to redistribute. From it:

* zaobot/scenes/demo/: 5 s of 1280x720 at 25 fps with camera motion (zoom,
  pan, +-5 degree roll) and a synthetic AAC soundtrack, analysed like any
  scene added with `zaobot scenes add`.
* zaobot/assets/demo_selfie.jpg: the same photo, mirrored, re-lit and with
  blue/yellow face paint on the cheeks, so the swap is visible in the demo
  (we have no second clean face; see README).

Run: python scripts/make_demo_assets.py  (needs the `test` extra for skimage)
"""

from __future__ import annotations

import math
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zaobot.media.scenes import add_scene  # noqa: E402
from zaobot.models.landmarks import FaceAnalyzer  # noqa: E402

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 25, 5.0
SAMPLE_RATE = 44100


def scene_frame(photo: np.ndarray, t: float) -> np.ndarray:
    """One frame of the camera move over the photo at time t (seconds)."""
    phase = t / SECONDS
    zoom = 2.9 + 0.6 * (0.5 - 0.5 * math.cos(math.pi * phase))
    angle = 5.0 * math.sin(2 * math.pi * phase)
    cx = 240 + 22 * math.sin(2 * math.pi * phase)
    cy = 165 + 12 * math.cos(2 * math.pi * phase)
    m = cv2.getRotationMatrix2D((cx, cy), angle, zoom)
    m[0, 2] += WIDTH / 2 - cx
    m[1, 2] += HEIGHT / 2 - cy
    return cv2.warpAffine(photo, m, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def soundtrack(seconds: float) -> np.ndarray:
    """A short arpeggio, stereo float32 (2, N), so audio passthrough can be checked."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    notes = [261.63, 329.63, 392.0, 523.25, 392.0, 329.63, 261.63, 196.0, 261.63, 329.63]
    out = np.zeros(n, np.float64)
    step = seconds / len(notes)
    for i, freq in enumerate(notes):
        start, stop = int(i * step * SAMPLE_RATE), int((i + 1) * step * SAMPLE_RATE)
        local = t[start:stop] - t[start]
        env = np.exp(-3.0 * local) * np.minimum(1.0, local * 200)
        out[start:stop] = 0.3 * env * np.sin(2 * np.pi * freq * local)
    return np.stack([out, out * 0.8]).astype(np.float32)


def write_source_clip(path: Path, seconds: float = SECONDS, photo: np.ndarray | None = None) -> None:
    """Encode the animated photo with its soundtrack (tests use shorter clips and other photos)."""
    photo = np.ascontiguousarray(data.astronaut() if photo is None else photo)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "18", "preset": "medium"}
        audio = out.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "stereo"
        samples = soundtrack(seconds)
        for i in range(int(round(seconds * FPS))):
            frame = av.VideoFrame.from_ndarray(scene_frame(photo, i / FPS), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        chunk = 1024
        for i in range(0, samples.shape[1], chunk):
            block = np.ascontiguousarray(samples[:, i:i + chunk])
            aframe = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            aframe.sample_rate = SAMPLE_RATE
            aframe.pts = i
            for packet in audio.encode(aframe):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)


def make_selfie(path: Path) -> None:
    photo = data.astronaut()[20:300, 85:365][:, ::-1]  # mirrored crop around the face
    photo = cv2.resize(np.ascontiguousarray(photo), (700, 700), interpolation=cv2.INTER_CUBIC)
    lab = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] = np.clip(lab[..., 0] * 0.92 + 18, 0, 255)  # softer, brighter light
    photo = cv2.cvtColor(lab.astype(np.uint8), cv2.COLOR_LAB2RGB)
    with FaceAnalyzer() as analyzer:
        boxes = analyzer.detect(photo)
        points = analyzer.landmarks(photo, boxes[0])
    assert points is not None
    width = float(np.ptp(points[:, 0]))
    paint = photo.copy()
    for idx, colour in ((50, (20, 90, 220)), (280, (250, 215, 0))):
        centre = tuple(int(v) for v in points[idx])
        cv2.circle(paint, centre, int(width * 0.09), colour, -1, cv2.LINE_AA)
    photo = cv2.addWeighted(paint, 0.85, photo, 0.15, 0)
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])


def main() -> None:
    assets = ROOT / "zaobot" / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    make_selfie(assets / "demo_selfie.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "astronaut.mp4"
        write_source_clip(source)
        scene = add_scene(
            source,
            ROOT / "zaobot" / "scenes",
            keywords=["demo", "演示"],
            title="Astronaut portrait, slow camera move",
            license=("Public domain (NASA photo via scikit-image); "
                     "animation and audio generated by scripts/make_demo_assets.py"),
            attribution="Eileen Collins, NASA; skimage.data.astronaut()",
        )
    print(f"demo scene: {scene.directory} ({scene.frames} frames, {scene.width}x{scene.height})")
    print(f"face present in {scene.analysis.present.mean():.0%} of frames")


if __name__ == "__main__":
    main()
