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


def decode_image(
    data: bytes, *, max_bytes: int, max_pixels: int, work_long_side: int = WORK_LONG_SIDE
) -> np.ndarray:
    """Decode an uploaded image to an RGB uint8 array (H, W, 3), or raise a SelfieError."""
    if len(data) > max_bytes:
        raise ImageTooLarge(detail=f"{len(data) / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB")
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
            image = ImageOps.exif_transpose(image)
            rgb = image.convert("RGB")
        except Exception:  # noqa: BLE001 - truncated or malformed pixel data
            raise CorruptImage() from None
    long_side = max(rgb.size)
    if long_side > work_long_side:
        scale = work_long_side / long_side
        rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.LANCZOS)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
