"""socialsim's CDN: the media bytes behind every media URL the APIs serve, and their truth.

Each URL points at socialsim itself (the base URL of the API request that got the payload)
and, but for YouTube's thumbnails, expires on the simulated clock: a URL minted at simulated
time ``t`` works until ``t`` + the CDN's TTL (``--cdn-ttl-hours``, 72 by default). The
signature covers the path and the expiry, so neither can be changed:

- Instagram (``image_versions2`` candidates, ``video_versions``, carousel children, stories
  and highlight stories): ``{base}/cdn/ig/v/t51.2885-15/{pk}_{variant}.{jpg|mp4}?_nc_sid=8ae9d6
  &oe={expiry: 8 hex digits, unix}&oh=00_{signature}``; variants ``n`` (the full picture)
  and ``s`` (smaller), ``v`` and ``l`` for a video's MP4s. A photo is 384x480 (``s``
  240x300); a video, a video's cover and a story are 272x480 (``s``/``l`` 180x320).
- TikTok (tikapi23's and tikwm's play, download and cover URLs): play
  ``{base}/cdn/tt/video/tos/useast5/{video_id}/?mime_type=video_mp4&x-expires={unix}
  &x-signature={signature}`` (tikwm's ``wmplay`` adds ``&watermark=1``, the same bytes),
  cover ``{base}/cdn/tt/obj/tos-useast5-p-0068-tx/{video_id}~cover.jpeg?x-expires={unix}
  &x-signature={signature}``; both 272x480.
- YouTube (the Data API's video thumbnails): ``{base}/cdn/yt/vi/{video_id}/{name}.jpg``,
  ``default`` 120x90, ``mqdefault`` 320x180, ``hqdefault`` 480x360, ``sddefault`` 640x480,
  ``maxresdefault`` 1280x720; they never expire, as on ``i.ytimg.com``.

Profile pictures, highlight covers, TikTok music and subtitles keep their outside URLs.

``GET`` of a media URL: 200 with ``image/jpeg`` or ``video/mp4`` (:mod:`socialsim.media`
renders them, the same bytes for the same seed); 404 ``Not Found`` for media the world does
not hold (yet); 403 ``Bad URL hash`` for a missing or wrong signature; 403 ``URL signature
expired`` once the simulated clock reaches the expiry. The CDN takes no key, is never rate
limited, delayed or faulted, and counts its requests apart from the APIs' (``cdn`` in
``/_sim/stats``, by platform and status).

``GET /_sim/truth/media?url=<a media URL>`` tells what the URL shows: ``{"platform",
"media_id", "kind": "image"|"video", "content": "face"|"text"|"object"|"plain", "face",
"text" (the words drawn, or null), "object": "person"|"bicycle"|null, "audio",
"duration_s" (null for an image), "brightness" (the factor every pixel value was multiplied
by), "width", "height", "expires_at" (RFC 3339, null for YouTube)}``; 404 for a URL that
names no media, whatever its signature.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Literal
from urllib.parse import urlsplit

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim import gateway, media
from socialsim.sim import Sim
from socialsim.world.clock import iso

IG_PATH = "/cdn/ig/v/t51.2885-15/"
TT_PLAY_PATH = "/cdn/tt/video/tos/useast5/"
TT_COVER_PATH = "/cdn/tt/obj/tos-useast5-p-0068-tx/"
YT_PATH = "/cdn/yt/vi/"

IgVariant = Literal["n", "s", "v", "l"]
IG_PHOTO: dict[str, tuple[int, int]] = {"n": (384, 480), "s": (240, 300)}
"""A photo's (and a carousel's) picture sizes."""
IG_TALL: dict[str, tuple[int, int]] = {
    "n": (272, 480),
    "s": (180, 320),
    "v": (272, 480),
    "l": (180, 320),
}
"""A video's and a story's sizes: its cover (``n``, ``s``) and its MP4s (``v``, ``l``)."""
TT_SIZE = (272, 480)
"""A TikTok video's and its cover's width and height."""
YT_THUMBNAILS: dict[str, tuple[str, int, int]] = {
    "default": ("default", 120, 90),
    "medium": ("mqdefault", 320, 180),
    "high": ("hqdefault", 480, 360),
    "standard": ("sddefault", 640, 480),
    "maxres": ("maxresdefault", 1280, 720),
}
"""A video thumbnail's name in the Data API → its file name, width and height."""

EXPIRED = b"URL signature expired"
BAD_HASH = b"Bad URL hash"

_IG = re.compile(r"/cdn/ig/v/t51\.2885-15/([1-9][0-9]{0,20})_([nsvl])\.(jpg|mp4)")
_TT_PLAY = re.compile(r"/cdn/tt/video/tos/useast5/([0-9]{1,20})/")
_TT_COVER = re.compile(r"/cdn/tt/obj/tos-useast5-p-0068-tx/([0-9]{1,20})~cover\.jpeg")
_YT = re.compile(r"/cdn/yt/vi/([A-Za-z0-9_-]{11})/([a-z]+)\.jpg")
_YT_FILES = {name: (w, h) for name, w, h in YT_THUMBNAILS.values()}


# ---------------------------------------------------------------------- minting


def _secret(sim: Sim) -> bytes:
    return hashlib.blake2b(f"socialsim-cdn/{sim.config.world.seed}".encode()).digest()


def _signature(sim: Sim, path: str, expires: int) -> bytes:
    return hmac.new(_secret(sim), f"{path}\n{expires}".encode(), "sha256").digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _ig_hash(sim: Sim, path: str, expires: int) -> str:
    return "00_" + _b64(_signature(sim, path, expires))


def _tt_hash(sim: Sim, path: str, expires: int) -> str:
    return _b64(_signature(sim, path, expires)[:20])


def expiry(sim: Sim) -> int:
    """When a URL minted now expires (unix seconds, simulated clock)."""
    return sim.world.now + round(sim.config.cdn_ttl_hours * 3600)


def instagram_url(sim: Sim, pk: int, variant: IgVariant) -> str:
    """An Instagram media URL: picture (``n``, ``s``) or MP4 (``v``, ``l``) of a pk."""
    path = f"{IG_PATH}{pk}_{variant}.{'mp4' if variant in ('v', 'l') else 'jpg'}"
    expires = expiry(sim)
    query = f"_nc_sid=8ae9d6&oe={expires:08X}&oh={_ig_hash(sim, path, expires)}"
    return f"{gateway.base_url()}{path}?{query}"


def tiktok_play_url(sim: Sim, video_id: str) -> str:
    """A TikTok video's playable MP4."""
    path = f"{TT_PLAY_PATH}{video_id}/"
    expires = expiry(sim)
    signature = _tt_hash(sim, path, expires)
    query = f"mime_type=video_mp4&x-expires={expires}&x-signature={signature}"
    return f"{gateway.base_url()}{path}?{query}"


def tiktok_cover_url(sim: Sim, video_id: str) -> str:
    """A TikTok video's cover JPEG."""
    path = f"{TT_COVER_PATH}{video_id}~cover.jpeg"
    expires = expiry(sim)
    query = f"x-expires={expires}&x-signature={_tt_hash(sim, path, expires)}"
    return f"{gateway.base_url()}{path}?{query}"


def youtube_thumbnails(video_id: str) -> dict[str, Any]:
    """A video's ``snippet.thumbnails``: every size, never expiring."""
    base = f"{gateway.base_url()}{YT_PATH}{video_id}"
    return {
        name: {"url": f"{base}/{file}.jpg", "width": w, "height": h}
        for name, (file, w, h) in YT_THUMBNAILS.items()
    }


# ---------------------------------------------------------------------- resolving


@dataclass(frozen=True, slots=True)
class Located:
    """What a CDN path names.

    Attributes:
        media_id: the media's id (an Instagram pk, a TikTok or YouTube video id).
        item: the bytes to serve.
        signed: how its query carries expiry and signature (None: it never expires).
    """

    media_id: str
    item: media.Item
    signed: Literal["instagram", "tiktok"] | None


def locate(sim: Sim, path: str) -> Located | None:
    """The media a CDN path names, if the world holds it now (None otherwise)."""
    if match := _IG.fullmatch(path):
        return _instagram(sim, int(match[1]), match[2])
    if (match := _TT_PLAY.fullmatch(path)) or (match := _TT_COVER.fullmatch(path)):
        if sim.world.tiktok.find_video(match[1]) is None:
            return None
        kind: media.Kind = "video" if path.startswith(TT_PLAY_PATH) else "image"
        item = media.Item("tiktok", match[1], kind, *TT_SIZE)
        return Located(match[1], item, "tiktok")
    if match := _YT.fullmatch(path):
        size = _YT_FILES.get(match[2])
        if size is None or sim.world.youtube.find_video(match[1]) is None:
            return None
        return Located(match[1], media.Item("youtube", match[1], "image", *size), None)
    return None


def _instagram(sim: Sim, pk: int, variant: str) -> Located | None:
    found = sim.world.instagram.find_item(pk)
    if found is None:
        return None
    if variant in ("v", "l") and not found.video:
        return None
    sizes = IG_TALL if found.video or found.story else IG_PHOTO
    width, height = sizes[variant]
    kind: media.Kind = "video" if variant in ("v", "l") else "image"
    item = media.Item("instagram", str(found.shown_pk), kind, width, height)
    return Located(str(pk), item, "instagram")


def _expires(located: Located, query: QueryParams) -> tuple[int | None, str]:
    """The expiry and signature a URL's query claims (None when absent or not a number)."""
    if located.signed == "instagram":
        raw, signature = query.get("oe", ""), query.get("oh", "")
        valid = len(raw) == 8 and all(c in "0123456789abcdefABCDEF" for c in raw)
        return (int(raw, 16) if valid else None), signature
    raw, signature = query.get("x-expires", ""), query.get("x-signature", "")
    return (int(raw) if raw.isdigit() and len(raw) <= 12 else None), signature


def check(sim: Sim, located: Located, path: str, query: QueryParams) -> bytes | None:
    """Why a located URL is refused (:data:`BAD_HASH`, :data:`EXPIRED`), None if it is not."""
    if located.signed is None:
        return None
    expires, claimed = _expires(located, query)
    if expires is None:
        return BAD_HASH
    expected = (_ig_hash if located.signed == "instagram" else _tt_hash)(sim, path, expires)
    if not hmac.compare_digest(claimed.encode(), expected.encode()):
        return BAD_HASH
    if sim.world.now >= expires:
        return EXPIRED
    return None


def truth(sim: Sim, url: str) -> dict[str, Any] | None:
    """What a media URL shows (None when it names no media)."""
    parts = urlsplit(url)
    located = locate(sim, parts.path)
    if located is None:
        return None
    item = located.item
    planned = sim.media.plan(item.platform, item.plan_id)
    expires = None
    if located.signed is not None:
        expires, _ = _expires(located, QueryParams(parts.query))
    video = item.kind == "video"
    return {
        "platform": item.platform,
        "media_id": located.media_id,
        "kind": item.kind,
        "content": planned.content,
        "face": planned.face,
        "text": planned.text,
        "object": planned.object,
        "audio": video and planned.audio,
        "duration_s": planned.duration_s if video else None,
        "brightness": planned.brightness,
        "width": item.width,
        "height": item.height,
        "expires_at": None if expires is None else iso(expires),
    }


# ---------------------------------------------------------------------- serving


class Renderer:
    """Renders media off the event loop, each item once however many ask at the same time.

    Args:
        library: the world's media.
        threads: rendering threads (each render is CPU-bound).
    """

    def __init__(self, library: media.Library, threads: int = 2) -> None:
        self.library = library
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="socialsim-media")
        self._pending: dict[media.Item, asyncio.Future[bytes]] = {}

    async def bytes(self, item: media.Item) -> bytes:
        """The item's bytes (rendered in a thread unless kept)."""
        kept = self.library.kept(item)
        if kept is not None:
            return kept
        pending = self._pending.get(item)
        if pending is None:
            pending = asyncio.get_running_loop().run_in_executor(
                self._pool, self.library.render, item
            )
            self._pending[item] = pending
            pending.add_done_callback(lambda _: self._pending.pop(item, None))
        # Shielded: a client that hangs up must not cancel the render the others wait for.
        return await asyncio.shield(pending)


_TYPES = {"image": "image/jpeg", "video": "video/mp4"}


def routes(sim: Sim) -> list[BaseRoute]:
    """The CDN route (``/cdn/…``) and ``/_sim/truth/media``."""
    renderer = Renderer(sim.media)

    def refuse(platform: str, status: int, body: bytes) -> Response:
        sim.stats.cdn(platform, str(status))
        headers = {"Date": formatdate(sim.world.now, usegmt=True)}
        return Response(body, status, headers, "text/plain")

    async def serve(request: Request) -> Response:
        path = request.url.path
        platform = {"ig": "instagram", "tt": "tiktok", "yt": "youtube"}.get(path[5:7], "other")
        located = locate(sim, path)
        if located is None:
            return refuse(platform, 404, b"Not Found")
        refused = check(sim, located, path, request.query_params)
        if refused is not None:
            return refuse(platform, 403, refused)
        body = await renderer.bytes(located.item)
        sim.stats.cdn(platform, "200")
        headers = {"Date": formatdate(sim.world.now, usegmt=True)}
        if located.signed is not None:
            expires, _ = _expires(located, request.query_params)
            headers["Cache-Control"] = f"max-age={max(0, (expires or 0) - sim.world.now)}"
        else:
            headers["Cache-Control"] = "max-age=31536000"
        return Response(body, 200, headers, _TYPES[located.item.kind])

    async def media_truth(request: Request) -> Response:
        url = request.query_params.get("url", "")
        found = truth(sim, url)
        if found is None:
            return gateway.json_response(404, {"error": "not a media URL", "url": url})
        return gateway.json_response(200, found)

    return [
        Route("/cdn/{path:path}", serve, methods=["GET"]),
        Route("/_sim/truth/media", media_truth, methods=["GET"]),
    ]
