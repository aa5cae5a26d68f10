"""Photo handling: decode safely, strip every bit of metadata, tell whether a plant is in it.

EXIF (GPS position, camera serial, time) never reaches storage: the pixels are copied into a
new image, which carries no metadata at all, after the EXIF orientation has been applied.

"No leaf" is a real measurement: the share of vegetation pixels by the excess-green index
ExG = 2g - r - b on chromatic coordinates (Woebbecke et al. 1995), which separates green and
yellow-green plant tissue from soil, sky, skin and paper under daylight.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from agronom.errors import BadRequest

FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 40_000_000
EXG_THRESHOLD = 0.05
# Near-black pixels have meaningless chromaticity.
MIN_BRIGHTNESS = 60
_ANALYSIS_SIDE = 256


@dataclass(frozen=True)
class CleanPhoto:
    jpeg: bytes
    width: int
    height: int
    vegetation: float  # share of plant pixels, 0..1


def decode(data: bytes, *, max_bytes: int) -> Image.Image:
    """Open an uploaded image, or raise :class:`BadRequest` saying what is wrong with it."""
    if not data:
        raise BadRequest("the image is empty")
    if len(data) > max_bytes:
        raise BadRequest(f"the image is {len(data)} bytes; at most {max_bytes} are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise BadRequest(f"the image must be JPEG, PNG or WebP, not {image.format}")
            if image.width * image.height > MAX_PIXELS:
                raise BadRequest(f"the image has more than {MAX_PIXELS} pixels")
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadRequest("the file is not a readable JPEG, PNG or WebP image") from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise BadRequest("the image is too large to decode") from exc
    return image


def strip_metadata(image: Image.Image) -> Image.Image:
    """The image upright, as plain RGB pixels with no EXIF, XMP, ICC or comments."""
    upright = ImageOps.exif_transpose(image).convert("RGB")
    return Image.frombytes("RGB", upright.size, upright.tobytes())


def vegetation_share(image: Image.Image) -> float:
    """Share of pixels whose excess-green index says "plant" (0..1)."""
    small = image.convert("RGB")
    small.thumbnail((_ANALYSIS_SIDE, _ANALYSIS_SIDE))
    pixels = np.asarray(small, dtype=np.float32)
    total = pixels.sum(axis=2)
    safe = np.maximum(total, 1.0)
    r, g, b = (pixels[..., i] / safe for i in range(3))
    exg = 2 * g - r - b
    plant = (exg > EXG_THRESHOLD) & (total > MIN_BRIGHTNESS)
    return float(plant.mean())


def clean(data: bytes, *, max_bytes: int) -> CleanPhoto:
    """Decode, strip and measure an uploaded photo."""
    image = strip_metadata(decode(data, max_bytes=max_bytes))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, optimize=True)
    return CleanPhoto(out.getvalue(), image.width, image.height, vegetation_share(image))
