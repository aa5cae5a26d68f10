"""RocketAPI (Instagram): ``POST /instagram/<method>`` with ``Authorization: Token <key>``.

Every answered call is wrapped in RocketAPI's envelope; Instagram's own refusals (not
found, private, bad cursor) travel inside it as ``response.status_code``.

Stories, highlights, likers and replies (bodies inside the envelope, each with
``"status": "ok"``):

- ``user/get_stories`` ``{"ids": [user pk, …]}`` (at most 4) → ``{"reels": {"<pk>": REEL},
  "reels_media": [REEL, …]}``; ``REEL`` is ``{"id": <pk as an integer>, "items": [STORY],
  "expiring_at", "latest_reel_media", "media_count", "user": SHORT_USER}``; a profile
  without a live story is absent.
- ``highlight/get_stories`` ``{"ids": ["highlight:<id>", …]}`` → ``{"reels":
  {"highlight:<id>": {"id", "title", "created_at", "media_count", "items": [STORY],
  "user"}}, "reels_media": [...]}``.
- ``media/get_likes_by_id`` ``{"id": media pk}`` → ``{"users": [SHORT_USER] (newest likers
  first, at most 1,000), "user_count": <like count>}``; no pagination.
- ``comment/get_replies`` ``{"id": comment pk, "media_id": media pk, "max_id"?}`` →
  ``{"child_comments": [COMMENT + "parent_comment_id"], "child_comment_count",
  "has_more_tail_child_comments", "next_max_child_cursor" (null on the last page),
  "parent_comment_id"}``: oldest first, 20 a page, paging towards newer replies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim import gateway
from socialsim.apis import instagram as ig
from socialsim.gateway import ApiSpec, Call, Reply
from socialsim.sim import Sim

_FAILURES = {
    "not_found": (404, "User not found"),
    "media_not_found": (404, "Media not found or unavailable"),
    "comment_not_found": (404, "Comment not found"),
    "highlight_not_found": (404, "Highlight not found"),
    "private": (403, "Not authorized to view user"),
    "bad_cursor": (400, "Invalid cursor"),
}


def _done(status_code: int, body: dict[str, Any]) -> Reply:
    return Reply(
        200,
        {
            "status": "done",
            "response": {
                "status_code": status_code,
                "content_type": "application/json",
                "body": body,
            },
        },
    )


def _ok(body: dict[str, Any]) -> Reply:
    return _done(200, {**body, "status": "ok"})


def _failed(error: ig.InstagramError) -> Reply:
    status_code, message = _FAILURES[error.kind]
    reply = _done(status_code, {"message": message, "status": "fail"})
    if error.expired:
        reply.fault = "expired_cursor"
    return reply


_Method = Callable[[Sim, dict[str, Any]], Reply]


class _BadRequest(Exception):
    pass


def _field(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise _BadRequest(f"{name}: this field is required.")
    return value


def _get_info(sim: Sim, params: dict[str, Any]) -> Reply:
    profile = ig.profile_by_username(sim, _field(params, "username"))
    return _ok({"data": {"user": ig.web_user(sim.world.instagram, profile)}})


def _get_info_by_id(sim: Sim, params: dict[str, Any]) -> Reply:
    profile = ig.profile_by_id(sim, _field(params, "id"))
    return _ok({"user": ig.api_user(sim.world.instagram, profile)})


def _follow_list(stream: Literal["followers", "following"], limit: int) -> _Method:
    def method(sim: Sim, params: dict[str, Any]) -> Reply:
        count = ig.page_size(params.get("count"), 50, limit)
        page = ig.follow_page(
            sim,
            "rocket",
            _field(params, "id"),
            stream=stream,
            count=count,
            cursor=params.get("max_id"),
        )
        body: dict[str, Any] = {"users": page.users}
        if page.cursor is not None:
            body["next_max_id"] = page.cursor
        body |= {"has_more": page.cursor is not None, "big_list": page.cursor is not None}
        reply = _ok({**body, "page_size": count})
        reply.bad_items = page.bad_items
        if page.truncated:
            reply.fault = "truncated"
        return reply

    return method


def _get_media(sim: Sim, params: dict[str, Any]) -> Reply:
    count = ig.page_size(params.get("count"), ig.MEDIA_PER_PAGE, ig.MEDIA_PER_PAGE)
    page = ig.media_page(
        sim,
        "rocket",
        _field(params, "id"),
        stream="media",
        count=count,
        cursor=params.get("max_id"),
    )
    body: dict[str, Any] = {
        "items": page.items,
        "num_results": len(page.items),
        "more_available": page.cursor is not None,
    }
    if page.cursor is not None:
        body["next_max_id"] = page.cursor
    reply = _ok(body)
    reply.bad_items = page.bad_items
    return reply


def _get_clips(sim: Sim, params: dict[str, Any]) -> Reply:
    count = ig.page_size(params.get("count"), ig.MEDIA_PER_PAGE, ig.MEDIA_PER_PAGE)
    page = ig.media_page(
        sim,
        "rocket",
        _field(params, "id"),
        stream="clips",
        count=count,
        cursor=params.get("max_id"),
    )
    paging: dict[str, Any] = {"more_available": page.cursor is not None}
    if page.cursor is not None:
        paging["max_id"] = page.cursor
    reply = _ok({"items": [{"media": item} for item in page.items], "paging_info": paging})
    reply.bad_items = page.bad_items
    return reply


def _get_highlights(sim: Sim, params: dict[str, Any]) -> Reply:
    return _ok({"tray": ig.highlights(sim, _field(params, "id"))})


def _get_comments(sim: Sim, params: dict[str, Any]) -> Reply:
    page = ig.comment_page(sim, "rocket", _field(params, "id"), params.get("min_id"))
    body: dict[str, Any] = {
        "comments": page.comments,
        "comment_count": page.comment_count,
        "has_more_comments": page.cursor is not None,
    }
    if page.cursor is not None:
        body["next_min_id"] = page.cursor
    reply = _ok(body)
    reply.bad_items = page.bad_items
    return reply


def _ids(params: dict[str, Any], limit: int | None = None) -> list[object]:
    ids = ig.id_list(_field(params, "ids"))
    if not ids:
        raise _BadRequest("ids: this field is required.")
    if limit is not None and len(ids) > limit:
        raise _BadRequest(f"ids: ensure this field has no more than {limit} elements.")
    return ids


def _get_stories(sim: Sim, params: dict[str, Any]) -> Reply:
    reels = ig.story_reels(sim, _ids(params, ig.MAX_STORY_USERS))
    return _ok({"reels": {str(reel["id"]): reel for reel in reels}, "reels_media": reels})


def _get_highlight_stories(sim: Sim, params: dict[str, Any]) -> Reply:
    reels = ig.highlight_reels(sim, _ids(params))
    return _ok({"reels": {reel["id"]: reel for reel in reels}, "reels_media": reels})


def _get_likes(sim: Sim, params: dict[str, Any]) -> Reply:
    users, count = ig.likers(sim, _field(params, "id"))
    return _ok({"users": users, "user_count": count})


def _get_replies(sim: Sim, params: dict[str, Any]) -> Reply:
    page = ig.reply_page(
        sim,
        "rocket",
        _field(params, "media_id"),
        _field(params, "id"),
        params.get("max_id"),
        newest_first=False,
    )
    return _ok(
        {
            "child_comments": page.replies,
            "child_comment_count": page.child_comment_count,
            "has_more_tail_child_comments": page.cursor is not None,
            "next_max_child_cursor": page.cursor,
            "parent_comment_id": page.parent_comment_id,
        }
    )


_METHODS: dict[str, _Method] = {
    "user/get_info": _get_info,
    "user/get_info_by_id": _get_info_by_id,
    "user/get_media": _get_media,
    "user/get_followers": _follow_list("followers", 50),
    "user/get_following": _follow_list("following", 200),
    "user/get_clips": _get_clips,
    "user/get_highlights": _get_highlights,
    "media/get_comments": _get_comments,
    "user/get_stories": _get_stories,
    "highlight/get_stories": _get_highlight_stories,
    "media/get_likes_by_id": _get_likes,
    "comment/get_replies": _get_replies,
}


def _handler(method: _Method) -> gateway.Handler:
    def handle(sim: Sim, call: Call) -> Reply:
        if not isinstance(call.params, dict):
            return Reply(400, {"detail": "JSON parse error: expected an object."})
        try:
            return method(sim, call.params)
        except _BadRequest as exc:
            return Reply(400, {"detail": str(exc)})
        except ig.InstagramError as exc:
            return _failed(exc)

    return handle


API = ApiSpec(
    name="rocket",
    handlers={name: _handler(method) for name, method in _METHODS.items()},
    auth_error=lambda: Reply(401, {"detail": "Invalid token."}),
    rate_limited=lambda _seconds: Reply(429, {"detail": "Too many requests"}),
    unknown=lambda _endpoint: Reply(404, {"detail": "Not found."}),
)


def routes(sim: Sim) -> list[BaseRoute]:
    """The RocketAPI route: ``POST /instagram/<method>``."""

    async def endpoint(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        scheme, _, key = authorization.partition(" ")
        raw = await request.body()
        params: Any
        try:
            params = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            params = None
        call = Call(
            endpoint=request.path_params["method"].strip("/"),
            params=params,
            key=key.strip() if scheme.lower() == "token" else None,
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, API, call)

    return [Route("/instagram/{method:path}", endpoint, methods=["POST"])]
