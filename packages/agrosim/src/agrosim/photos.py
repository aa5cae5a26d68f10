"""Synthetic plant photos made from numpy arrays (the demo and the tests): a leaf, healthy or
sick, with or without a phone's EXIF and GPS, and pictures with no plant in them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

GPS_IFD = 0x8825
EXIF_IFD = 0x8769


def _leaf(size: tuple[int, int] = (480, 360), seed: int = 1) -> np.ndarray:
    """Soil-brown background with a green elliptic leaf in the middle."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[...] = (110, 85, 60)
    img += rng.normal(0, 6, img.shape)
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((xx - w / 2) / (w * 0.38)) ** 2 + ((yy - h / 2) / (h * 0.36)) ** 2 <= 1
    img[inside] = (60, 140, 50)
    img[inside] += rng.normal(0, 8, (int(inside.sum()), 3))
    return img


def _jpeg(pixels: np.ndarray, exif: Image.Exif | None = None) -> bytes:
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


BROWN = (120, 70, 35)
WHITE = (235, 235, 228)


def leaf(
    *,
    spots: str | None = None,
    gps: bool = False,
    seed: int = 1,
    size: tuple[int, int] = (480, 360),
) -> bytes:
    """A leaf photo; ``spots`` = "brown" (blight), "white" (powdery mildew) or "mixed" (both:
    an ambiguous picture); ``size`` = (width, height), spots scaled with it."""
    img = _leaf(size, seed=seed)
    h, w = img.shape[:2]
    if spots:
        rng = np.random.default_rng(seed + 100)
        yy, xx = np.mgrid[0:h, 0:w]
        radius = 18 * w / 480
        for i in range(14):
            colour = BROWN if spots == "brown" or (spots == "mixed" and i % 2) else WHITE
            cx = rng.uniform(w * 0.3, w * 0.7)
            cy = rng.uniform(h * 0.3, h * 0.7)
            img[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = colour
    return _jpeg(img, gps_exif() if gps else None)


def gps_exif() -> Image.Exif:
    """EXIF as a phone writes it: camera, time and a GPS position (Moscow)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 15"  # Model
    exif[0x0132] = "2026:06:01 12:00:00"  # DateTime
    exif[GPS_IFD] = {
        1: "N",
        2: (55.0, 45.0, 21.0),
        3: "E",
        4: (37.0, 37.0, 4.0),
    }
    return exif


def wall(seed: int = 2) -> bytes:
    """A grey wall: no plant at all."""
    rng = np.random.default_rng(seed)
    img = np.full((360, 480, 3), (150, 148, 145), dtype=np.float32)
    img += rng.normal(0, 10, img.shape)
    return _jpeg(img)


def sky() -> bytes:
    img = np.zeros((300, 400, 3), dtype=np.float32)
    img[...] = (90, 150, 230)
    return _jpeg(img)


def png_leaf() -> bytes:
    image = Image.fromarray(np.clip(_leaf(), 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
