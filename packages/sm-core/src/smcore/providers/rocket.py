"""RocketAPI (Instagram): ``POST {host}/instagram/<method>``, ``Authorization: Token <key>``.

Answers come wrapped: ``{"status": "done", "response": {"status_code", "body"}}``; the status
inside is Instagram's. Cursor names differ per method; this module owns that mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
    body: Callable[[Mapping[str, Any]], dict[str, Any]]
    cursor_param: str | None  # request field the cursor goes into
    parse: Callable[[dict[str, Any], Mapping[str, Any]], payload.PageParts]


def _web_user(body: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
    data = payload.obj(body.get("data"), "user_info.data")
    return [ig.parse_web_user(payload.obj(data.get("user"), "user_info.data.user"))], None, False


def _api_user(body: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
    return [ig.parse_api_user(payload.obj(body.get("user"), "user_info.user"))], None, False


ENDPOINTS: dict[str, _Endpoint] = {
    "user_info:username": _Endpoint(
        "user/get_info", lambda p: {"username": p["username"]}, None, _web_user
    ),
    "user_info:user_id": _Endpoint(
        "user/get_info_by_id", lambda p: {"id": p["user_id"]}, None, _api_user
    ),
    "followers": _Endpoint(
        "user/get_followers",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 50)},
        "max_id",
        ig.users_page,
    ),
    "followings": _Endpoint(
        "user/get_following",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 200)},
        "max_id",
        ig.users_page,
    ),
    "user_posts": _Endpoint(
        "user/get_media",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 12)},
        "max_id",
        ig.feed_page,
    ),
    "user_reels": _Endpoint(
        "user/get_clips",
        lambda p: {"id": p["user_id"], "count": min(int(p["count"]), 12)},
        "max_id",
        ig.clips_page,
    ),
    "user_highlights": _Endpoint(
        "user/get_highlights", lambda p: {"id": p["user_id"]}, None, ig.highlights_page
    ),
    "user_stories": _Endpoint(
        "user/get_stories", lambda p: {"ids": [p["user_id"]]}, None, ig.reels_media_page
    ),
    "highlight_stories": _Endpoint(
        "highlight/get_stories", lambda p: {"ids": [p["highlight_id"]]}, None, ig.reels_media_page
    ),
    "post_likers": _Endpoint(
        "media/get_likes_by_id", lambda p: {"id": p["post_id"]}, None, ig.likers_page
    ),
    "comment_replies": _Endpoint(
        "comment/get_replies",
        lambda p: {"id": p["comment_id"], "media_id": p["post_id"]},
        "max_id",
        ig.replies_page,
    ),
    "post_comments": _Endpoint(
        "media/get_comments",
        lambda p: {"id": p["post_id"], "can_support_threading": True},
        "min_id",
        ig.comments_page,
    ),
}


def classify(response: httpx.Response) -> Any:
    """Envelope and HTTP status → the Instagram body, or a ProviderError of the right kind."""
    status = response.status_code
    if status == 429:
        raise ProviderError(
            ErrorKind.RATE_LIMITED,
            "rate limited",
            status=status,
            retry_after_s=retry_after_seconds(response),
        )
    if status in (401, 403):
        raise ProviderError(
            ErrorKind.AUTH, f"rejected our key: {response.text[:200]}", status=status
        )
    if status >= 500 or status == 408:
        raise ProviderError(ErrorKind.TRANSIENT, f"HTTP {status}", status=status)
    if status >= 400:
        raise ProviderError(
            ErrorKind.BAD_PAYLOAD, f"HTTP {status}: {response.text[:200]}", status=status
        )
    envelope = payload.obj(decode_json(response), "envelope")
    if envelope.get("status") != "done":
        raise ProviderError(
            ErrorKind.TRANSIENT, f"provider status {envelope.get('status')!r}", status=status
        )
    inner = payload.obj(envelope.get("response"), "envelope.response")
    code = inner.get("status_code")
    body = inner.get("body")
    if code == 200:
        return payload.obj(body, "envelope.response.body")
    message = body.get("message", "") if isinstance(body, dict) else str(body)[:200]
    if code == 404:
        raise ProviderError(ErrorKind.NOT_FOUND, message or "not found", status=404)
    if code == 403 or (isinstance(message, str) and "not authorized" in message.lower()):
        raise ProviderError(ErrorKind.PRIVATE, message or "private", status=code)
    if code == 400 and isinstance(message, str) and "cursor" in message.lower():
        raise ProviderError(ErrorKind.CURSOR_EXPIRED, message, status=400)
    if code == 429:
        raise ProviderError(ErrorKind.RATE_LIMITED, message or "Instagram rate limit", status=429)
    if isinstance(code, int) and code >= 500:
        raise ProviderError(ErrorKind.TRANSIENT, f"Instagram answered {code}", status=code)
    raise ProviderError(ErrorKind.BAD_PAYLOAD, f"Instagram answered {code}: {message}", status=code)


class RocketApi:
    """The ``rocket`` provider."""

    def __init__(
        self, transport: Transport, *, base_url: str, api_key: str, name: str = "rocket"
    ) -> None:
        self.name = name
        self.methods = frozenset(k.split(":")[0] for k in ENDPOINTS)
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Token {api_key}"}

    async def fetch(
        self, method: ig.InstagramMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        key = (
            f"user_info:{'username' if 'username' in params else 'user_id'}"
            if method == "user_info"
            else method
        )
        endpoint = ENDPOINTS[key]
        body = endpoint.body(params)
        if cursor is not None and endpoint.cursor_param is not None:
            body[endpoint.cursor_param] = cursor
        request = self.transport.client.build_request(
            "POST",
            f"{self.base_url}/instagram/{endpoint.path}",
            content=json.dumps(body).encode(),
            headers={**self._headers, "Content-Type": "application/json"},
        )
        answer = await self.transport.request(method, request, classify)
        payload = answer.payload
        return answered(
            self.name,
            method,
            payload,
            lambda: endpoint.parse(payload, params),
            {"provider": self.name, "endpoint": endpoint.path, "body": body},
            served_at=answer.served_at,
        )
