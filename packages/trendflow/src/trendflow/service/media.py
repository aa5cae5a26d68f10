"""Getting a job's media: download an http(s) link, or read an object-store key.

A download streams to a file with a size cap. What the server answers decides the job's error:

- 403 whose body says "expired" (Instagram's CDN: "URL signature expired"), or whose link
  carries an expiry (``oe=<hex unix time>``, ``x-expires=<unix time>``, ``Expires=``) in the
  past; and 410 Gone: ``media_expired``, never retried (a new link is needed);
- 408, 425, 429, 5xx, a failed connection or a timeout: ``media_unreachable``, retried;
- any other 4xx, a link httpx cannot use, a file over the cap: ``media_unavailable``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from devstack.objectstore import ObjectNotFound, ObjectStore, ObjectStoreError
from trendflow.service.errors import JobFailure

_RETRYABLE_4XX = {408, 425, 429}
_EXPIRY_PARAMS = {"oe": 16, "x-expires": 10, "expires": 10}


def link_expired(url: str, now: float | None = None) -> bool:
    """Whether the link's own expiry parameter lies in the past."""
    moment = time.time() if now is None else now
    try:
        query = parse_qsl(urlsplit(url).query)
    except ValueError:
        return False
    for name, value in query:
        base = _EXPIRY_PARAMS.get(name.lower())
        if base is None:
            continue
        try:
            if int(value, base) < moment:
                return True
        except ValueError:
            continue
    return False


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:
        return url[:80]


def _refusal(url: str, status: int, body: str) -> JobFailure:
    where = _host(url)
    if status == 410 or (status == 403 and ("expired" in body.lower() or link_expired(url))):
        return JobFailure(
            "media_expired", f"{where} answered {status}: the link expired ({body[:120]!r})"
        )
    if status in _RETRYABLE_4XX or status >= 500:
        return JobFailure("media_unreachable", f"{where} answered {status}")
    return JobFailure("media_unavailable", f"{where} answered {status} ({body[:120]!r})")


async def download(http: httpx.AsyncClient, url: str, dest: Path, *, max_bytes: int) -> Path:
    """Stream ``url`` into ``dest`` (at most ``max_bytes``); raise :class:`JobFailure`."""
    if not url.lower().startswith(("http://", "https://")):
        raise JobFailure("media_unavailable", "only http and https links are downloaded")
    partial = dest.with_name(dest.name + ".part")
    try:
        async with http.stream("GET", url) as response:
            if response.status_code >= 400:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= 4096:
                        break
                raise _refusal(url, response.status_code, body.decode("utf-8", "replace"))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise JobFailure(
                    "media_unavailable", f"the media is {declared} bytes, over {max_bytes}"
                )
            size = 0
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise JobFailure(
                            "media_unavailable", f"the media is over {max_bytes} bytes"
                        )
                    out.write(chunk)
    except JobFailure:
        partial.unlink(missing_ok=True)
        raise
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.TooManyRedirects) as error:
        partial.unlink(missing_ok=True)
        raise JobFailure("media_unavailable", f"cannot download {url!r}: {error}") from error
    except httpx.HTTPError as error:  # connect/read errors and timeouts
        partial.unlink(missing_ok=True)
        message = f"{type(error).__name__} downloading from {_host(url)}: {error}"
        raise JobFailure("media_unreachable", message) from error
    if size == 0:
        partial.unlink(missing_ok=True)
        raise JobFailure("bad_media", "the media is empty (0 bytes)")
    partial.replace(dest)
    return dest


async def from_store(store: ObjectStore, key: str, dest: Path, *, max_bytes: int) -> Path:
    """The object's file: in place for a local store, else fetched into ``dest``."""
    try:
        local = await asyncio.to_thread(store.path_or_none, key)
        if local is not None:
            if local.stat().st_size > max_bytes:
                raise JobFailure("media_unavailable", f"{key} is over {max_bytes} bytes")
            return local
        if not await asyncio.to_thread(store.exists, key):
            raise JobFailure("media_unavailable", f"the object store has no {key!r}")
        data = await asyncio.to_thread(store.get, key)
    except ObjectNotFound as error:
        raise JobFailure("media_unavailable", f"the object store has no {key!r}") from error
    except ObjectStoreError as error:
        raise JobFailure("media_unavailable", str(error)) from error
    except JobFailure:
        raise
    except Exception as error:  # S3/network failures of any client library
        message = f"object store {store.url} failed: {type(error).__name__}: {error}"
        raise JobFailure("media_unreachable", message) from error
    if len(data) > max_bytes:
        raise JobFailure("media_unavailable", f"{key} is over {max_bytes} bytes")
    tmp = dest.with_name(dest.name + ".part")
    await asyncio.to_thread(tmp.write_bytes, data)
    tmp.replace(dest)
    return dest
