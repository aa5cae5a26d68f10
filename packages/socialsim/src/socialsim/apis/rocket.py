"""RocketAPI (Instagram): ``POST /instagram/<method>`` with ``Authorization: Token <key>``.

Every answered call is wrapped in RocketAPI's envelope; Instagram's own refusals (not
found, private, bad cursor) travel inside it as ``response.status_code``.
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


_METHODS: dict[str, _Method] = {
    "user/get_info": _get_info,
    "user/get_info_by_id": _get_info_by_id,
    "user/get_media": _get_media,
    "user/get_followers": _follow_list("followers", 50),
    "user/get_following": _follow_list("following", 200),
    "user/get_clips": _get_clips,
    "user/get_highlights": _get_highlights,
    "media/get_comments": _get_comments,
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
        )
        return await gateway.answer(sim, API, call)

    return [Route("/instagram/{method:path}", endpoint, methods=["POST"])]
