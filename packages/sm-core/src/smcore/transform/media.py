"""Media downloads: a synced profile's new media files into the object store, before their CDN
links expire.

One round takes the profile's ``pending`` media (the newest posts first: their links are the
freshest, and ``MEDIA_MAX_PER_SYNC`` keeps what matters most) and downloads each into the
store under its content's key (``media/ab/<sha256>``: the same file twice is stored once).
What the CDN answers decides the row's state:

- the file → ``stored`` with its key, type and size;
- 403/410 saying the link expired → ``expired``: retrying the same link cannot help; a later
  sync that stores a fresh link for the media makes it ``pending`` again (``rows.store_posts``);
- another 4xx, or a file over ``MEDIA_MAX_BYTES`` → ``failed`` with the reason;
- a connection error or 5xx → stays ``pending`` with the attempt counted, ``failed`` after
  :data:`MAX_ATTEMPTS`.
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.objectstore import ObjectStore, content_key
from smcore import metrics
from smcore.providers.cdn import says_expired
from smcore.store.models import Fetch
from smcore.transform.models import Downloads

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
CONCURRENCY = 4
ROUND = 32  # media per round (a round is one activity; the workflow loops)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4"}

_PENDING = text(
    """
    SELECT m.id, m.media_type, m.url, m.video_url, m.fetch_attempts, p.platform
    FROM media m JOIN posts p ON p.id = m.post_id
    WHERE p.social_profile_id = :profile AND m.fetch_status = 'pending'
    ORDER BY p.taken_at DESC, m.position, m.id
    LIMIT :limit
    """
)
_STORED = text(
    """
    UPDATE media SET fetch_status = 'stored', object_key = :key, content_type = :type,
        bytes = :bytes, fetched_at = now(), fetch_error = NULL,
        fetch_attempts = fetch_attempts + 1, updated_at = now()
    WHERE id = :id
    """
)
_REFUSED = text(
    """
    UPDATE media SET fetch_status = :status, fetch_error = :error,
        fetch_attempts = fetch_attempts + 1, updated_at = now()
    WHERE id = :id
    """
)
_LEFT = text(
    """
    SELECT count(*) FROM media m JOIN posts p ON p.id = m.post_id
    WHERE p.social_profile_id = :profile AND m.fetch_status = 'pending'
    """
)


@dataclass(frozen=True)
class Outcome:
    """What one download did to its row."""

    status: Fetch
    error: str | None = None
    key: str | None = None
    content_type: str = ""
    size: int = 0


def _extension(content_type: str, url: str) -> str:
    base = content_type.split(";", maxsplit=1)[0].strip().lower()
    if base in _EXTENSIONS:
        return _EXTENSIONS[base]
    suffix = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").lower()
    if suffix and suffix.isalnum() and len(suffix) <= 5:
        return suffix
    guessed = mimetypes.guess_extension(base) if base else None
    return guessed.lstrip(".") if guessed else "bin"


async def download(  # noqa: PLR0911 - one return per way a CDN can answer
    http: httpx.AsyncClient, store: ObjectStore, url: str, *, attempts: int, max_bytes: int
) -> Outcome:
    """One media file: fetched, stored under its content's key (once), classified."""
    if not url:
        return Outcome(Fetch.FAILED, "the provider gave no link for this media")
    try:
        async with http.stream("GET", url) as response:
            if response.status_code >= 400:
                body = (await response.aread())[:500].decode("utf-8", "replace")
                if says_expired(response.status_code, body):
                    return Outcome(Fetch.EXPIRED, f"HTTP {response.status_code}: {body.strip()}")
                if response.status_code < 500 and response.status_code != 429:
                    return Outcome(Fetch.FAILED, f"HTTP {response.status_code}: {body.strip()}")
                raise httpx.HTTPStatusError("", request=response.request, response=response)
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                return Outcome(Fetch.FAILED, f"{declared} bytes is over MEDIA_MAX_BYTES")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    return Outcome(Fetch.FAILED, f"over MEDIA_MAX_BYTES ({max_bytes} bytes)")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "")
    except (httpx.TransportError, httpx.HTTPStatusError) as error:
        reason = (
            f"HTTP {error.response.status_code}"
            if isinstance(error, httpx.HTTPStatusError)
            else f"{type(error).__name__}: {error}"
        )
        if attempts + 1 >= MAX_ATTEMPTS:
            return Outcome(Fetch.FAILED, f"gave up after {MAX_ATTEMPTS} attempts: {reason}")
        return Outcome(Fetch.PENDING, reason)
    data = b"".join(chunks)
    key = content_key(data, _extension(content_type, url))
    if not await asyncio.to_thread(store.exists, key):
        await asyncio.to_thread(
            store.put, key, data, content_type=content_type or "application/octet-stream"
        )
    return Outcome(Fetch.STORED, key=key, content_type=content_type, size=len(data))


async def fetch_round(
    engine: AsyncEngine,
    http: httpx.AsyncClient,
    store: ObjectStore,
    *,
    profile_id: int,
    limit: int,
    max_bytes: int,
) -> Downloads:
    """Download up to ``limit`` of the profile's pending media (``ROUND`` at most)."""
    async with engine.connect() as conn:
        rows = await conn.execute(_PENDING, {"profile": profile_id, "limit": min(limit, ROUND)})
        pending = rows.all()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: Any) -> tuple[Any, Outcome]:
        url = row.video_url if row.media_type == "video" and row.video_url else row.url
        async with gate:
            return row, await download(
                http, store, url, attempts=row.fetch_attempts, max_bytes=max_bytes
            )

    results = await asyncio.gather(*(one(r) for r in pending))
    counts = dict.fromkeys(Fetch, 0)
    async with engine.begin() as conn:
        for row, outcome in results:
            counts[outcome.status] += 1
            metrics.MEDIA_DOWNLOADS.labels(row.platform, outcome.status.value).inc()
            if outcome.status is Fetch.STORED:
                await conn.execute(
                    _STORED,
                    {
                        "id": row.id,
                        "key": outcome.key,
                        "type": outcome.content_type,
                        "bytes": outcome.size,
                    },
                )
            else:
                await conn.execute(
                    _REFUSED,
                    {"id": row.id, "status": outcome.status.value, "error": outcome.error},
                )
                log.info(
                    "media.not_stored",
                    media_id=row.id,
                    status=outcome.status.value,
                    error=outcome.error,
                )
        left = int(await conn.scalar(_LEFT, {"profile": profile_id}) or 0)
    return Downloads(
        stored=counts[Fetch.STORED],
        expired=counts[Fetch.EXPIRED],
        failed=counts[Fetch.FAILED],
        retrying=counts[Fetch.PENDING],
        left=left,
    )
