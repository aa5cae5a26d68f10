"""tikapi23 (RapidAPI "tiktok-api23"): ``GET {host}/api/...``, ``x-rapidapi-key`` / ``-host``.

Bodies are TikTok's own web JSON, unwrapped (a ``{"data": …}`` wrapper, as tiktok-api45 sends
it, is taken off too). HTTP 200 even for TikTok-level errors: those are in ``statusCode``. Paths,
parameters and cursor names (this module owns them)::

    user_info        /api/user/info?uniqueId=U                         (by username only)
    user_posts       /api/user/posts?secUid=S&count≤35&cursor=          cursor: ``cursor``
    followers        /api/user/followers?secUid=S&count≤30&minCursor=&maxCursor=0
    followings       /api/user/followings?…                            cursor: ``minCursor``
    post_comments    /api/post/comments?videoId=V&count≤50&cursor=      cursor: ``cursor``
    comment_replies  /api/post/comment/replies?videoId=V&commentId=C&count≤50&cursor=

Listings are asked by ``secUid``: a user whose sec_uid is unknown is left to the next provider.
A private account's posts come back as an empty last page (TikTok shows no error for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smcore.providers import payload
from smcore.providers import tiktok as tt
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.transport import Transport

# statusCode values that are final answers about the account.
_NOT_FOUND = {10202, 10204, 10221}  # no such user (lists; user/info), no such video/comment
_PRIVATE = {10222}  # TikTok's web API answers a private account's lists so


def web_body(body: dict[str, Any]) -> dict[str, Any]:
    """TikTok's web JSON, out of the ``{"data": …}`` wrapper some RapidAPI hosts add."""
    data = body.get("data")
    if isinstance(data, dict) and "statusCode" not in body and "status_code" not in body:
        return data
    return body


def status_code(body: Mapping[str, Any]) -> int:
    """TikTok's error code: ``statusCode`` (user and list endpoints) or ``status_code``
    (comments); the other one may be 0 beside it, so the first non-zero one counts."""
    for key in ("statusCode", "status_code"):
        value = body.get(key)
        if value not in (None, 0, "0", ""):
            try:
                return int(value)
            except (TypeError, ValueError):
                raise payload.bad(f"{key} {value!r} is not a number") from None
    return 0


def _cursor(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def user_info_page(body: dict[str, Any], _: Mapping[str, Any] | None = None) -> payload.PageParts:
    """``userInfo{user, stats, statsV2}``; an empty ``userInfo`` is an unknown user."""
    info = web_body(body).get("userInfo")
    if not info or not isinstance(info, dict) or not info.get("user"):
        raise ProviderError(ErrorKind.NOT_FOUND, "no such user (empty userInfo)", status=200)
    return [tt.parse_user_info(info)], None, False


def posts_page(body: dict[str, Any], _: Mapping[str, Any] | None = None) -> payload.PageParts:
    """``itemList[]``, ``cursor`` (a ms timestamp as a string), ``hasMore``."""
    body = web_body(body)
    more = tt.flag(body.get("hasMore"))
    items = payload.each(tt.listed(body, "itemList", "posts", more=more), tt.parse_web_item)
    cursor = _cursor(body.get("cursor"))
    return items, cursor, more and cursor is not None


def users_page(body: dict[str, Any], _: Mapping[str, Any] | None = None) -> payload.PageParts:
    """``userList[]{user, stats, statsV2}``, ``minCursor`` (epoch seconds), ``hasMore``."""
    body = web_body(body)
    more = tt.flag(body.get("hasMore"))
    items = payload.each(tt.listed(body, "userList", "users", more=more), tt.parse_web_account)
    cursor = _cursor(body.get("minCursor"))
    return items, cursor, more and cursor is not None


def users_total(body: dict[str, Any]) -> int | None:
    """A follower listing's ``total``: the real count, beyond the ~5,000 it lists."""
    return tt.number(web_body(body).get("total"), "total")


def comments_page(body: dict[str, Any], params: Mapping[str, Any]) -> payload.PageParts:
    """``comments[]`` (snake_case), ``cursor`` (an offset), ``has_more`` (0 | 1)."""
    body = web_body(body)
    more = tt.flag(body.get("has_more"))
    post, parent = str(params["post_id"]), params.get("comment_id")
    items = payload.each(
        tt.listed(body, "comments", "comments", more=more),
        lambda c: tt.parse_web_comment(c, post, parent),
    )
    cursor = _cursor(body.get("cursor"))
    return items, cursor, more and cursor is not None


def _sec_uid(params: Mapping[str, Any]) -> str:
    user: tt.TikTokUser = params["user"]
    if not user.sec_uid:
        raise ValueError("tikapi23 lists by sec_uid")  # serves() keeps such calls away
    return user.sec_uid


ENDPOINTS: dict[tt.TikTokMethod, tt.Endpoint] = {
    "user_info": tt.Endpoint(
        "/api/user/info", lambda p: {"uniqueId": p["username"]}, None, user_info_page
    ),
    "user_posts": tt.Endpoint(
        "/api/user/posts",
        lambda p: {"secUid": _sec_uid(p), "count": min(int(p["count"]), 35), "cursor": "0"},
        "cursor",
        posts_page,
    ),
    "followers": tt.Endpoint(
        "/api/user/followers",
        lambda p: {
            "secUid": _sec_uid(p),
            "count": min(int(p["count"]), 30),
            "minCursor": "0",
            "maxCursor": "0",
        },
        "minCursor",
        users_page,
    ),
    "followings": tt.Endpoint(
        "/api/user/followings",
        lambda p: {
            "secUid": _sec_uid(p),
            "count": min(int(p["count"]), 30),
            "minCursor": "0",
            "maxCursor": "0",
        },
        "minCursor",
        users_page,
    ),
    "post_comments": tt.Endpoint(
        "/api/post/comments",
        lambda p: {"videoId": p["post_id"], "count": 50, "cursor": "0"},
        "cursor",
        comments_page,
    ),
    "comment_replies": tt.Endpoint(
        "/api/post/comment/replies",
        lambda p: {
            "videoId": p["post_id"],
            "commentId": p["comment_id"],
            "count": 50,
            "cursor": "0",
        },
        "cursor",
        comments_page,
    ),
}


def classify_body(body: dict[str, Any]) -> dict[str, Any]:
    """A decoded 200 body, or the ProviderError its ``statusCode`` means."""
    code = status_code(web_body(body))
    if code == 0:
        return body
    inner = web_body(body)
    message = str(inner.get("status_msg") or inner.get("statusMsg") or f"statusCode {code}")
    if code in _NOT_FOUND:
        raise ProviderError(ErrorKind.NOT_FOUND, message, status=code)
    if code in _PRIVATE:
        raise ProviderError(ErrorKind.PRIVATE, message, status=code)
    # Not a documented answer: another provider may do better; retrying this one would not.
    raise ProviderError(ErrorKind.BAD_PAYLOAD, f"TikTok statusCode {code}: {message}", status=code)


class TikApi23(tt.RapidTikTokApi):
    """The ``tikapi23`` provider."""

    endpoints = ENDPOINTS
    methods: frozenset[tt.TikTokMethod] = frozenset(ENDPOINTS)

    def __init__(
        self, transport: Transport, *, base_url: str, api_key: str, name: str = "tikapi23"
    ) -> None:
        super().__init__(transport, base_url=base_url, api_key=api_key, name=name)

    def unwrap(self, body: dict[str, Any]) -> Any:
        return classify_body(body)

    def total(self, body: Any) -> int | None:
        return users_total(body)

    def serves(self, method: tt.TikTokMethod, params: Mapping[str, Any]) -> bool:
        if method == "user_info":
            return "username" in params
        if method in ("user_posts", "followers", "followings"):
            return bool(params["user"].sec_uid)
        return True
