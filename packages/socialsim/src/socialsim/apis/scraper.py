"""A RapidAPI Instagram scraper: ``GET /profile``, ``/user-feeds``, ``/followers`` … with
``x-rapidapi-key``. Instagram's payloads without an envelope; refusals are HTTP errors.

Stories, highlights, likers and replies (shapes of :mod:`socialsim.apis.instagram`):

- ``GET /stories?id=<user pk>`` → ``{"reel": REEL | null}`` (null: no live story); ``REEL``
  is ``{"id": <pk as an integer>, "items": [STORY], "expiring_at", "latest_reel_media",
  "media_count", "user": SHORT_USER}``.
- ``GET /highlight-stories?id=highlight:<id>`` (the prefix may be left out) → ``{"reel":
  {"id": "highlight:<id>", "title", "created_at", "media_count", "items": [STORY],
  "user"}}``.
- ``GET /post-likers?id=<media pk>`` → ``{"users": [SHORT_USER] (newest likers first, at most
  1,000), "user_count": <like count>}``; no pagination.
- ``GET /comment-replies?comment_id=&media_id=&min_id=`` → ``{"child_comments": [COMMENT +
  "parent_comment_id"], "child_comment_count", "has_more_head_child_comments",
  "next_min_child_cursor" (null on the last page), "parent_comment_id"}``: Instagram's
  ``inline_child_comments`` style, newest first, 20 a page, paging towards older replies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim import gateway
from socialsim.apis import instagram as ig
from socialsim.faults import FaultKind
from socialsim.gateway import ApiSpec, Call, Reply
from socialsim.sim import Sim

_FAILURES = {
    "not_found": (404, "User not found"),
    "media_not_found": (404, "Media not found"),
    "comment_not_found": (404, "Comment not found"),
    "highlight_not_found": (404, "Highlight not found"),
    "private": (403, "This account is private"),
    "bad_cursor": (400, "Invalid cursor"),
}

_Path = Callable[[Sim, dict[str, str]], Reply]


class _BadRequest(Exception):
    pass


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise _BadRequest(f"Missing required parameter: {name}")
    return value


def _profile(sim: Sim, params: dict[str, str]) -> Reply:
    if params.get("username"):
        profile = ig.profile_by_username(sim, params["username"])
    else:
        profile = ig.profile_by_id(sim, _required(params, "id"))
    return Reply(200, ig.web_user(sim.world.instagram, profile))


def _user_feeds(sim: Sim, params: dict[str, str]) -> Reply:
    count = ig.page_size(params.get("count"), ig.MEDIA_PER_PAGE, ig.MEDIA_PER_PAGE)
    page = ig.media_page(
        sim,
        "scraper",
        _required(params, "id"),
        stream="media",
        count=count,
        cursor=params.get("max_id"),
    )
    body: dict[str, Any] = {"items": page.items, "more_available": page.cursor is not None}
    if page.cursor is not None:
        body["next_max_id"] = page.cursor
    return Reply(200, body, bad_items=page.bad_items)


def _follow_list(stream: Literal["followers", "following"]) -> _Path:
    def path(sim: Sim, params: dict[str, str]) -> Reply:
        count = ig.page_size(params.get("count"), 50, 50)
        page = ig.follow_page(
            sim,
            "scraper",
            _required(params, "id"),
            stream=stream,
            count=count,
            cursor=params.get("max_id"),
        )
        body: dict[str, Any] = {"users": page.users}
        if page.cursor is not None:
            body["next_max_id"] = page.cursor
        fault: FaultKind | None = "truncated" if page.truncated else None
        return Reply(200, body, fault=fault, bad_items=page.bad_items)

    return path


def _reels(sim: Sim, params: dict[str, str]) -> Reply:
    page = ig.media_page(
        sim,
        "scraper",
        _required(params, "id"),
        stream="clips",
        count=ig.MEDIA_PER_PAGE,
        cursor=params.get("max_id"),
    )
    paging: dict[str, Any] = {"more_available": page.cursor is not None}
    if page.cursor is not None:
        paging["max_id"] = page.cursor
    body = {"items": [{"media": item} for item in page.items], "paging_info": paging}
    return Reply(200, body, bad_items=page.bad_items)


def _highlights(sim: Sim, params: dict[str, str]) -> Reply:
    return Reply(200, {"tray": ig.highlights(sim, _required(params, "id"))})


def _comments(sim: Sim, params: dict[str, str]) -> Reply:
    page = ig.comment_page(sim, "scraper", _required(params, "id"), params.get("min_id"))
    body: dict[str, Any] = {"comments": page.comments, "comment_count": page.comment_count}
    if page.cursor is not None:
        body["next_min_id"] = page.cursor
    return Reply(200, body, bad_items=page.bad_items)


def _stories(sim: Sim, params: dict[str, str]) -> Reply:
    reels = ig.story_reels(sim, [_required(params, "id")])
    return Reply(200, {"reel": reels[0] if reels else None})


def _highlight_stories(sim: Sim, params: dict[str, str]) -> Reply:
    return Reply(200, {"reel": ig.highlight_reels(sim, [_required(params, "id")])[0]})


def _post_likers(sim: Sim, params: dict[str, str]) -> Reply:
    users, count = ig.likers(sim, _required(params, "id"))
    return Reply(200, {"users": users, "user_count": count})


def _comment_replies(sim: Sim, params: dict[str, str]) -> Reply:
    page = ig.reply_page(
        sim,
        "scraper",
        _required(params, "media_id"),
        _required(params, "comment_id"),
        params.get("min_id"),
        newest_first=True,
    )
    body = {
        "child_comments": page.replies,
        "child_comment_count": page.child_comment_count,
        "has_more_head_child_comments": page.cursor is not None,
        "next_min_child_cursor": page.cursor,
        "parent_comment_id": page.parent_comment_id,
    }
    return Reply(200, body)


_PATHS: dict[str, _Path] = {
    "/profile": _profile,
    "/user-feeds": _user_feeds,
    "/followers": _follow_list("followers"),
    "/followings": _follow_list("following"),
    "/reels": _reels,
    "/highlights": _highlights,
    "/comments": _comments,
    "/stories": _stories,
    "/highlight-stories": _highlight_stories,
    "/post-likers": _post_likers,
    "/comment-replies": _comment_replies,
}


def _handler(path: _Path) -> gateway.Handler:
    def handle(sim: Sim, call: Call) -> Reply:
        try:
            return path(sim, call.params)
        except _BadRequest as exc:
            return Reply(400, {"message": str(exc)})
        except ig.InstagramError as exc:
            status, message = _FAILURES[exc.kind]
            return Reply(
                status, {"message": message}, fault="expired_cursor" if exc.expired else None
            )

    return handle


API = ApiSpec(
    name="scraper",
    handlers={name: _handler(path) for name, path in _PATHS.items()},
    auth_error=lambda: Reply(403, {"message": "You are not subscribed to this API."}),
    rate_limited=lambda _seconds: Reply(429, {"message": "Too many requests"}),
    unknown=lambda endpoint: Reply(404, {"message": f"Endpoint '{endpoint}' does not exist"}),
)


def routes(sim: Sim) -> list[BaseRoute]:
    """The scraper's routes, one per path."""

    async def endpoint(request: Request) -> Response:
        call = Call(
            endpoint=request.url.path,
            params=dict(request.query_params),
            key=request.headers.get("x-rapidapi-key"),
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, API, call)

    return [Route(path, endpoint, methods=["GET"]) for path in _PATHS]
