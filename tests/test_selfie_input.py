"""Every bad-selfie case gets its own typed error and a message in English and Chinese."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from zaobot import errors
from zaobot.media.images import decode_image

from tests.conftest import jpeg_bytes

LIMITS = dict(max_bytes=20 * 1024 * 1024, max_pixels=40_000_000)


def png_with_header(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_valid_jpeg_decodes(astronaut):
    rgb = decode_image(jpeg_bytes(astronaut), **LIMITS)
    assert rgb.shape == astronaut.shape and rgb.dtype == np.uint8


def test_truncated_jpeg_is_corrupt(astronaut):
    data = jpeg_bytes(astronaut)
    with pytest.raises(errors.CorruptImage):
        decode_image(data[: len(data) // 2], **LIMITS)


def test_png_bomb_header_rejected_before_decoding():
    data = png_with_header(50000, 50000)
    assert len(data) < 200
    with pytest.raises(errors.ImageTooLarge) as info:
        decode_image(data, **LIMITS)
    assert "50000x50000" in info.value.message("en") or "bomb" in info.value.message("en")


def test_oversized_upload_rejected():
    with pytest.raises(errors.ImageTooLarge):
        decode_image(b"\xff" * 2048, max_bytes=1024, max_pixels=10**9)


def test_animated_gif_rejected(astronaut):
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[::-1].copy())]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(errors.AnimatedImage):
        decode_image(buf.getvalue(), **LIMITS)


def test_pdf_renamed_jpg_is_not_an_image(tmp_path):
    pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
           b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    path = tmp_path / "selfie.jpg"
    path.write_bytes(pdf)
    with pytest.raises(errors.NotAnImage):
        decode_image(path.read_bytes(), **LIMITS)


def test_empty_and_random_bytes_are_not_images():
    with pytest.raises(errors.NotAnImage):
        decode_image(b"", **LIMITS)
    with pytest.raises(errors.NotAnImage):
        decode_image(np.random.default_rng(0).bytes(5000), **LIMITS)


def test_large_photo_is_downscaled_not_rejected(astronaut):
    big = np.kron(astronaut, np.ones((5, 5, 1), np.uint8))  # 2560x2560
    rgb = decode_image(jpeg_bytes(big, 80), **LIMITS)
    assert max(rgb.shape[:2]) == 1600


def test_no_face(engine):
    from skimage import data

    with pytest.raises(errors.NoFace):
        engine.prepare_source(np.ascontiguousarray(data.chelsea()))  # a cat
    noise = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    with pytest.raises(errors.NoFace):
        engine.prepare_source(noise)


def test_two_faces(engine, astronaut):
    two = np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))
    rgb = decode_image(jpeg_bytes(two), **LIMITS)
    with pytest.raises(errors.MultipleFaces) as info:
        engine.prepare_source(rgb)
    assert info.value.params["count"] == 2
    assert "2" in info.value.message("zh")


def test_face_too_small(engine, astronaut):
    import cv2

    small = cv2.resize(astronaut, (320, 320), interpolation=cv2.INTER_AREA)  # face ~58 px wide
    with pytest.raises(errors.FaceTooSmall):
        engine.prepare_source(small)


def test_turned_away_face_rejected(engine, astronaut):
    from zaobot.models import selfie_face
    from zaobot.models.landmarks import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        points = analyzer.landmarks(astronaut, analyzer.detect(astronaut)[0])
    selfie_face.validate_face(points, 80)  # the real, frontal face passes
    turned = points.copy()
    for cheek, _, nose in selfie_face._YAW_PAIRS:  # nose at the cheek at every height: a profile
        turned[nose, 0] = turned[cheek, 0] + 3
    with pytest.raises(errors.FaceTurnedAway):
        selfie_face.validate_face(turned, 80)


def test_yaw_is_robust_to_one_landmark(astronaut):
    """One wobbling landmark (a 1-2 px shift, a JPEG re-encode) can't flip the verdict."""
    from zaobot.models import selfie_face
    from zaobot.models.landmarks import FaceAnalyzer
    from zaobot.models.topology import NOSE_TIP

    with FaceAnalyzer() as analyzer:
        points = analyzer.landmarks(astronaut, analyzer.detect(astronaut)[0])
    moved = points.copy()
    moved[NOSE_TIP, 0] += 0.1 * (points[454, 0] - points[234, 0])
    assert abs(selfie_face.yaw(moved) - selfie_face.yaw(points)) < 0.04


def test_good_selfie_prepares_source(engine, demo_selfie_bytes):
    source = engine.prepare_source(decode_image(demo_selfie_bytes, **LIMITS))
    assert source.points.shape == (478, 2)
    assert source.keypoints.shape == (5, 2)
    # insightface order: image-left eye, image-right eye, nose, image-left mouth corner, image-right one.
    kp = source.keypoints
    assert kp[0, 0] < kp[1, 0] and kp[3, 0] < kp[4, 0]
    assert kp[0, 1] < kp[2, 1] < kp[3, 1]
    assert source.eyes_open


@pytest.mark.parametrize("exc", [errors.NotAnImage, errors.CorruptImage, errors.AnimatedImage, errors.NoFace,
                                 errors.FaceTurnedAway])
def test_messages_in_both_languages(exc):
    err = exc()
    en, zh = err.message("en"), err.message("zh")
    assert en and zh and en != zh
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)


def test_a_16_bit_greyscale_png_is_scaled_not_clipped_to_white(astronaut):
    import io

    from PIL import Image

    from zaobot.media.images import decode_image

    grey = (np.asarray(Image.fromarray(astronaut).convert("L"), dtype=np.uint16) * 257)  # full 16-bit range
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG")
    rgb = decode_image(buf.getvalue(), max_bytes=1 << 26, max_pixels=1 << 26)
    assert rgb.mean() < 200 and rgb.std() > 30  # the photo, not a white sheet
    assert np.abs(rgb[..., 0].astype(int) - (grey >> 8)).max() <= 1


def test_the_size_limit_reads_the_same_on_both_sides():
    from zaobot.errors import ImageTooLarge
    from zaobot.media.images import decode_image

    with pytest.raises(ImageTooLarge) as err:
        decode_image(b"x" * 21_000_000, max_bytes=20 * 1024 * 1024, max_pixels=1 << 26)
    assert "(20.03 MB > 20.0 MB)" in err.value.message("en")  # was "21.0 MB > 21 MB"
    from zaobot.media.images import size_over_limit

    assert size_over_limit(30 * 1024 * 1024, 20 * 1024 * 1024) == "30 MB > 20 MB"
