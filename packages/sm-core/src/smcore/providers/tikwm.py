"""tikwm (RapidAPI "tiktok-scraper7", TikWM's API): ``GET {host}/...``, RapidAPI headers.

Every answer comes in TikWM's envelope ``{"code": 0, "msg", "processed_time", "data"}``; a
failure is ``code`` -1 with the reason in ``msg`` and HTTP 200 ("… not exist" for an unknown
user). Types drift: ``hasMore`` may be ``true`` or ``1``. Paths, parameters and cursor names
(this module owns them)::

    user_info        /user/info?unique_id=U | user_id=ID               (by username or id)
    user_posts       /user/posts?user_id=ID&count≤35&cursor=            cursor: ``cursor``
    followers        /user/followers?user_id=ID&count≤200&time=         cursor: ``time``
    followings       /user/following?user_id=ID&count≤200&time=         cursor: ``time``
    post_comments    /comment/list?url=<video id>&count≤50&cursor=      cursor: ``cursor``
    comment_replies  /comment/reply?comment_id=C&count≤50&cursor=       cursor: ``cursor``
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from smcore.providers import payload
from smcore.providers import tiktok as tt
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.transport import Transport


def _data(envelope: dict[str, Any]) -> dict[str, Any]:
    return payload.obj(envelope.get("data"), "data")


def _cursor(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def user_info_page(envelope: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
    """``data{user, stats}`` (exact int counts)."""
    return [tt.parse_user_info(_data(envelope))], None, False


def posts_page(envelope: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
    """``data{videos[], cursor, hasMore}``."""
    data = _data(envelope)
    more = tt.flag(data.get("hasMore"))
    items = payload.each(tt.listed(data, "videos", "videos", more=more), tt.parse_tikwm_video)
    cursor = _cursor(data.get("cursor"))
    return items, cursor, more and cursor is not None


def _users_page(key: str) -> Callable[[dict[str, Any], Mapping[str, Any]], payload.PageParts]:
    def page(envelope: dict[str, Any], _: Mapping[str, Any]) -> payload.PageParts:
        """``data{<key>[], total, time, hasMore}``."""
        data = _data(envelope)
        more = tt.flag(data.get("hasMore"))
        items = payload.each(tt.listed(data, key, key, more=more), tt.parse_tikwm_account)
        cursor = _cursor(data.get("time"))
        return items, cursor, more and cursor is not None

    return page


def users_total(envelope: dict[str, Any]) -> int | None:
    """A follower listing's ``total``: the real count, beyond the ~5,000 it lists."""
    data = envelope.get("data")
    return tt.number(data.get("total"), "total") if isinstance(data, dict) else None


def comments_page(envelope: dict[str, Any], params: Mapping[str, Any]) -> payload.PageParts:
    """``data{comments[], total, cursor, hasMore}``; replies have the same shape."""
    data = _data(envelope)
    more = tt.flag(data.get("hasMore"))
    post, parent = str(params["post_id"]), params.get("comment_id")
    items = payload.each(
        tt.listed(data, "comments", "comments", more=more),
        lambda c: tt.parse_tikwm_comment(c, post, parent),
    )
    cursor = _cursor(data.get("cursor"))
    return items, cursor, more and cursor is not None


def _user_query(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"unique_id": p["username"]} if "username" in p else {"user_id": p["user_id"]}


ENDPOINTS: dict[tt.TikTokMethod, tt.Endpoint] = {
    "user_info": tt.Endpoint("/user/info", _user_query, None, user_info_page),
    "user_posts": tt.Endpoint(
        "/user/posts",
        lambda p: {"user_id": p["user"].ext_id, "count": min(int(p["count"]), 35), "cursor": "0"},
        "cursor",
        posts_page,
    ),
    "followers": tt.Endpoint(
        "/user/followers",
        lambda p: {"user_id": p["user"].ext_id, "count": min(int(p["count"]), 200), "time": "0"},
        "time",
        _users_page("followers"),
    ),
    "followings": tt.Endpoint(
        "/user/following",
        lambda p: {"user_id": p["user"].ext_id, "count": min(int(p["count"]), 200), "time": "0"},
        "time",
        _users_page("followings"),
    ),
    "post_comments": tt.Endpoint(
        "/comment/list",
        lambda p: {"url": p["post_id"], "count": 50, "cursor": "0"},
        "cursor",
        comments_page,
    ),
    "comment_replies": tt.Endpoint(
        "/comment/reply",
        lambda p: {"comment_id": p["comment_id"], "count": 50, "cursor": "0"},
        "cursor",
        comments_page,
    ),
}


def classify_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    """A decoded 200 envelope, or the ProviderError its ``code`` and ``msg`` mean."""
    code = envelope.get("code")
    if code in (0, "0"):
        return envelope
    message = str(envelope.get("msg") or f"code {code}")
    reason = message.lower()
    if "not exist" in reason or "not found" in reason:
        raise ProviderError(ErrorKind.NOT_FOUND, message, status=200)
    if "private" in reason:
        raise ProviderError(ErrorKind.PRIVATE, message, status=200)
    if "cursor" in reason:  # "Invalid cursor": not (or no longer) this listing's
        raise ProviderError(ErrorKind.CURSOR_EXPIRED, message, status=200)
    if "limit" in reason:
        raise ProviderError(ErrorKind.RATE_LIMITED, message, status=200)
    # Not a documented answer: another provider may do better; retrying this one would not.
    raise ProviderError(ErrorKind.BAD_PAYLOAD, f"TikWM code {code}: {message}", status=200)


class TikWm(tt.RapidTikTokApi):
    """The ``tikwm`` provider."""

    endpoints = ENDPOINTS
    methods: frozenset[tt.TikTokMethod] = frozenset(ENDPOINTS)

    def __init__(
        self, transport: Transport, *, base_url: str, api_key: str, name: str = "tikwm"
    ) -> None:
        super().__init__(transport, base_url=base_url, api_key=api_key, name=name)

    def unwrap(self, body: dict[str, Any]) -> Any:
        return classify_envelope(body)

    def total(self, body: Any) -> int | None:
        return users_total(body)
