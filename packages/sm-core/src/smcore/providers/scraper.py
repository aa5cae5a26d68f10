"""A RapidAPI Instagram scraper: ``GET {host}/<path>``, ``x-rapidapi-key`` / ``x-rapidapi-host``.

Bodies are Instagram's payloads without an envelope. Each RapidAPI host has its own paths and
cursor names; this adapter speaks the one in docs/wire-formats.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from smcore.providers import instagram as ig
from smcore.providers import payload
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.models import Page
from smcore.providers.payload import answered
from smcore.providers.transport import Transport, decode_json, retry_after_seconds


@dataclass(frozen=True)
class _Endpoint:
    path: str
    query: Callable[[Mapping[str, Any]], dict[str, Any]]
    cursor_param: str | None
    parse: Callable[[dict[str, Any], Mapping[str, Any]], payload.PageParts]


def _profile(body: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
    return [ig.parse_web_user(body)], None, False


def _reel(body: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
    """Stories: ``{"reel": {"items": […]}}``, a null reel when nothing is live."""
    reel = body.get("reel")
    if reel is None:
        return [], None, False
    items = payload.items_of(payload.obj(reel, "reel"), "items", "reel")
    return payload.each(items, ig.parse_media), None, False


ENDPOINTS: dict[str, _Endpoint] = {
    "user_info": _Endpoint(
        "/profile",
        lambda p: {"username": p["username"]} if "username" in p else {"id": p["user_id"]},
        None,
        _profile,
    ),
    "followers": _Endpoint(
        "/followers",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 50)},
        "max_id",
        ig.users_page,
    ),
    "followings": _Endpoint(
        "/followings",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 50)},
        "max_id",
        ig.users_page,
    ),
    "user_posts": _Endpoint(
        "/user-feeds",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 12)},
        "max_id",
        ig.feed_page,
    ),
    "user_reels": _Endpoint("/reels", lambda p: {"id": p["user_id"]}, "max_id", ig.clips_page),
    "user_highlights": _Endpoint(
        "/highlights", lambda p: {"id": p["user_id"]}, None, ig.highlights_page
    ),
    "post_comments": _Endpoint(
        "/comments", lambda p: {"id": p["post_id"]}, "min_id", ig.comments_page
    ),
    "user_stories": _Endpoint("/stories", lambda p: {"id": p["user_id"]}, None, _reel),
    "highlight_stories": _Endpoint(
        "/highlight-stories", lambda p: {"id": p["highlight_id"]}, None, _reel
    ),
    "post_likers": _Endpoint("/post-likers", lambda p: {"id": p["post_id"]}, None, ig.likers_page),
    "comment_replies": _Endpoint(
        "/comment-replies",
        lambda p: {"comment_id": p["comment_id"], "media_id": p["post_id"]},
        "min_id",
        ig.replies_page,
    ),
}


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:200]
    return str(body)[:200]


def classify(response: httpx.Response) -> Any:
    status = response.status_code
    if status == 429:
        message = _message(response)
        kind = ErrorKind.QUOTA_EXHAUSTED if "quota" in message.lower() else ErrorKind.RATE_LIMITED
        raise ProviderError(
            kind,
            message or "rate limited",
            status=status,
            retry_after_s=retry_after_seconds(response),
        )
    if status == 401 or (status == 403 and "subscribed" in _message(response).lower()):
        raise ProviderError(ErrorKind.AUTH, _message(response), status=status)
    if status == 403:
        raise ProviderError(ErrorKind.PRIVATE, _message(response) or "private", status=status)
    if status == 404:
        raise ProviderError(ErrorKind.NOT_FOUND, _message(response) or "not found", status=status)
    if status == 400 and "cursor" in _message(response).lower():
        raise ProviderError(ErrorKind.CURSOR_EXPIRED, _message(response), status=status)
    if status >= 500 or status == 408:
        raise ProviderError(ErrorKind.TRANSIENT, f"HTTP {status}", status=status)
    if status >= 400:
        raise ProviderError(
            ErrorKind.BAD_PAYLOAD, f"HTTP {status}: {_message(response)}", status=status
        )
    return payload.obj(decode_json(response), "body")


class ScraperApi:
    """The ``scraper`` provider."""

    def __init__(
        self, transport: Transport, *, base_url: str, api_key: str, name: str = "scraper"
    ) -> None:
        self.name = name
        self.methods = frozenset(ENDPOINTS)
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "x-rapidapi-key": api_key,
            "x-rapidapi-host": urlsplit(self.base_url).netloc,
        }

    async def fetch(
        self, method: ig.InstagramMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        endpoint = ENDPOINTS[method]
        query = endpoint.query(params)
        if cursor is not None and endpoint.cursor_param is not None:
            query[endpoint.cursor_param] = cursor
        request = self.transport.client.build_request(
            "GET", f"{self.base_url}{endpoint.path}", params=query, headers=self._headers
        )
        answer = await self.transport.request(method, request, classify)
        payload = answer.payload
        return answered(
            self.name,
            method,
            payload,
            lambda: endpoint.parse(payload, params),
            {"provider": self.name, "endpoint": endpoint.path, "params": query},
            served_at=answer.served_at,
        )
