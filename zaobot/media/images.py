"""Safe decoding of untrusted uploads into RGB arrays.

Every check that can be made from the header is made before any pixel is
decoded, so a small file that claims to be 50000x50000 (a decompression bomb)
costs nothing.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zaobot.errors import AnimatedImage, CorruptImage, ImageTooLarge, NotAnImage

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO", "TIFF"})
# Working resolution: larger selfies are downscaled after decoding; the face
# never needs more than this for a 720p scene.
WORK_LONG_SIDE = 1600


def size_over_limit(size: int, limit: int) -> str:
    """"20.03 MB > 20 MB": sizes in MiB (what phones call MB), with as many decimals as it takes for
    the two to differ, so the message never reads "21.0 MB > 21 MB"."""
    mib = 1024 * 1024
    for digits in (0, 1, 2, 3):
        shown_size, shown_limit = f"{size / mib:.{digits}f}", f"{limit / mib:.{max(0, digits - 1)}f}"
        if float(shown_size) > float(shown_limit) or digits == 3:
            return f"{shown_size} MB > {shown_limit} MB"
    raise AssertionError("unreachable")


def _to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit greyscale (a 16-bit PNG opens as mode I or I;16) scaled to 8 bits: PIL's own
    conversion clips every value above 255 to white."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode != "F" and values.max(initial=0) > 255 else 255.0
    if image.mode == "F":
        top = max(1.0, float(values.max(initial=1.0)))
    return Image.fromarray(np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")


def without_metadata(rgb: np.ndarray, quality: int = 95) -> bytes:
    """The decoded selfie as a fresh JPEG with no metadata at all: no EXIF (GPS position, camera
    serial, time), no XMP, no ICC profile. What is stored is only the pixels we need."""
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, work_long_side: int = WORK_LONG_SIDE
) -> np.ndarray:
    """Decode an uploaded image to an RGB uint8 array (H, W, 3), or raise a SelfieError."""
    if len(data) > max_bytes:
        raise ImageTooLarge(detail=size_over_limit(len(data), max_bytes))
    if not data:
        raise NotAnImage()
    try:
        with warnings.catch_warnings():
            # We enforce our own pixel limit below; PIL's bomb warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge(detail="decompression bomb") from None
    except UnidentifiedImageError:
        raise NotAnImage() from None
    except Exception:  # noqa: BLE001 - any parser failure on untrusted input
        raise NotAnImage() from None
    with image:
        if image.format not in ACCEPTED_FORMATS:
            raise NotAnImage()
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(detail=f"{width}x{height} px")
        if getattr(image, "n_frames", 1) > 1:
            raise AnimatedImage()
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = _to_8bit(upright).convert("RGB")
        except Exception:  # noqa: BLE001 - truncated or malformed pixel data
            raise CorruptImage() from None
    long_side = max(rgb.size)
    if long_side > work_long_side:
        scale = work_long_side / long_side
        rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
