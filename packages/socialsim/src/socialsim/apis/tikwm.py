"""tiktok-scraper7 on RapidAPI (TikWM's envelope): ``GET /user/...``, ``/comment/...`` with
``x-rapidapi-key``.

Every answer is HTTP 200 ``{"code": 0, "msg": "success", "processed_time", "data": {…}}``; a
refusal is ``{"code": -1, "msg": "<reason>", "processed_time", "data": null}`` (an unknown user:
"User does not exist"; a cursor that is not this listing's: "Invalid cursor"). Types drift as
TikWM's do: ``hasMore`` is ``true``/``false`` or ``1``/``0`` (a hash of the request picks which,
so the same request always gets the same); ids are strings, counts exact integers.

- ``GET /user/info?unique_id=U`` (or ``user_id=ID``) → ``data: {"user": {"id", "uniqueId",
  "nickname", "avatarThumb", "avatarMedium", "avatarLarger", "signature", "verified", "secUid",
  "privateAccount", …}, "stats": {"followerCount", "followingCount", "heartCount", "heart",
  "videoCount", "diggCount", "friendCount"}}``.
- ``GET /user/posts?unique_id=U|user_id=ID&count=35&cursor=0`` → ``data: {"videos": [VIDEO],
  "cursor": "<ms>", "hasMore"}``, pinned videos first on the first page (``is_top`` 1). TikWM
  never says the listing ended: the last page says ``hasMore`` too, and the page after it is
  empty, says ``hasMore`` again and hands back the cursor it was sent (a client must stop on a
  repeated cursor).
- ``GET /user/followers?user_id=ID&count=200&time=0`` → ``data: {"followers": [USER], "total",
  "time": <epoch s>, "hasMore"}``; ``/user/following`` the same with ``followings``. Send
  ``time`` back; the listing stops after :data:`~socialsim.world.tiktok.LIST_CAP` users.
- ``GET /comment/list?url=<video id or URL>&count=50&cursor=0`` → ``data: {"comments":
  [COMMENT], "total" (replies included, as the video's ``comment_count``), "cursor": <offset>,
  "hasMore"}``, newest first.
- ``GET /comment/reply?comment_id=C&count=50&cursor=0`` → the same ``data`` with the replies,
  oldest first.

A private account's profile is served; its lists are empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim import gateway
from socialsim.apis import cdn
from socialsim.apis import tiktok as tt
from socialsim.gateway import ApiSpec, Call, Reply
from socialsim.sim import Sim
from socialsim.world.tiktok import Comment, Creator, Video
from socialsim.world.tiktok import Reply as CommentReply

_Path = Callable[[Sim, dict[str, str], str], Reply]


def _processed_time(key: str) -> float:
    return round(0.05 + tt.hash_text(key) % 3000 / 10_000, 4)


def _ok(key: str, data: dict[str, Any]) -> Reply:
    body = {"code": 0, "msg": "success", "processed_time": _processed_time(key), "data": data}
    return Reply(200, body)


def _failed(key: str, message: str) -> Reply:
    body = {"code": -1, "msg": message, "processed_time": _processed_time(key), "data": None}
    return Reply(200, body)


def _flag(key: str, value: bool) -> bool | int:
    """``hasMore`` as this request gets it: a boolean, or 1/0 for about a third of requests."""
    return int(value) if tt.hash_text("hasMore" + key) % 3 == 0 else value


def _creator(sim: Sim, params: dict[str, str]) -> Creator:
    if params.get("unique_id"):
        return tt.creator_by_username(sim, params["unique_id"])
    if params.get("user_id"):
        return tt.creator_by_user_id(sim, params["user_id"])
    raise tt.TikTokError("bad_request", "unique_id or user_id is required")


def _author(sim: Sim, index: int) -> dict[str, Any]:
    account = sim.world.tiktok.account(index)
    return {
        "id": account.user_id,
        "unique_id": account.username,
        "nickname": account.nickname,
        "avatar": tt.avatar(account, 300),
    }


def _user_info(sim: Sim, params: dict[str, str], key: str) -> Reply:
    creator = _creator(sim, params)
    account = creator.account
    stats = sim.world.tiktok.stats(creator.index)
    user = {
        "id": account.user_id,
        "uniqueId": account.username,
        "nickname": account.nickname,
        "avatarThumb": tt.avatar(account, 100),
        "avatarMedium": tt.avatar(account, 720),
        "avatarLarger": tt.avatar(account, 1080),
        "signature": account.signature,
        "verified": account.is_verified,
        "secUid": account.sec_uid,
        "secret": account.is_private,
        "ftc": False,
        "relation": 0,
        "openFavorite": False,
        "commentSetting": 0,
        "duetSetting": 0,
        "stitchSetting": 0,
        "privateAccount": account.is_private,
        "isADVirtual": False,
        "isUnderAge18": False,
    }
    return _ok(
        key,
        {
            "user": user,
            "stats": {
                "followingCount": stats.following,
                "followerCount": stats.followers,
                "heartCount": stats.hearts,
                "videoCount": stats.videos,
                "diggCount": stats.diggs,
                "heart": stats.hearts,
                "friendCount": stats.friends,
            },
        },
    )


def _video(sim: Sim, creator: Creator, video: Video, *, pinned: bool) -> dict[str, Any]:
    counts = tt.counts(sim, video)
    cover = cdn.tiktok_cover_url(sim, video.video_id)
    play = cdn.tiktok_play_url(sim, video.video_id)
    return {
        "aweme_id": video.video_id,
        "video_id": video.video_id,
        "region": video.region,
        "title": video.desc,
        "cover": cover,
        "origin_cover": cover,
        "duration": video.duration,
        "play": play,
        "wmplay": play + "&watermark=1",
        "size": 200_000 + int(video.video_id) % 4_000_000,
        "music": f"https://sf16-ies-music.tiktokcdn.com/obj/{video.music_id}.mp3",
        "play_count": counts.plays,
        "digg_count": counts.likes,
        "comment_count": counts.comments,
        "share_count": counts.shares,
        "download_count": counts.shares // 3,
        "collect_count": counts.collects,
        "create_time": video.create_time,
        "is_top": int(pinned),
        "author": _author(sim, creator.index),
    }


def _user_posts(sim: Sim, params: dict[str, str], key: str) -> Reply:
    creator = _creator(sim, params)
    sent = params.get("cursor", "0").strip() or "0"
    before = tt.posts_cursor(sim, sent)
    if creator.account.is_private:
        return _ok(key, {"videos": [], "cursor": "0", "hasMore": _flag(key, False)})
    state = sim.world.tiktok.state(creator)
    page = sim.world.tiktok.posts_page(state, before, tt.page_size(params.get("count"), 35, 35))
    if not page.videos:
        # Past the end TikWM repeats the cursor it was sent and still says there is more.
        return _ok(key, {"videos": [], "cursor": sent, "hasMore": _flag(key, True)})
    pinned = set(state.pinned)
    videos = [_video(sim, creator, v, pinned=v.position in pinned) for v in page.videos]
    return _ok(key, {"videos": videos, "cursor": str(page.cursor), "hasMore": _flag(key, True)})


def _follow_user(sim: Sim, index: int) -> dict[str, Any]:
    account = sim.world.tiktok.account(index)
    stats = sim.world.tiktok.stats(index)
    return {
        "id": account.user_id,
        "region": "US",
        "sec_uid": account.sec_uid,
        "unique_id": account.username,
        "nickname": account.nickname,
        "signature": account.signature,
        "avatar": tt.avatar(account, 300),
        "verified": account.is_verified,
        "secret": account.is_private,
        "aweme_count": stats.videos,
        "following_count": stats.following,
        "follower_count": stats.followers,
        "favoriting_count": stats.diggs,
        "total_favorited": stats.hearts,
    }


def _follow_list(stream: tt.FollowStream) -> _Path:
    listing = "followers" if stream == "followers" else "followings"

    def handle(sim: Sim, params: dict[str, str], key: str) -> Reply:
        if not params.get("user_id"):
            raise tt.TikTokError("bad_request", "user_id is required")
        creator = tt.creator_by_user_id(sim, params["user_id"])
        before = tt.follow_cursor(sim, params.get("time"))
        count = tt.page_size(params.get("count"), 50, 200)
        page = tt.follow_page(sim, creator, stream, before, count)
        return _ok(
            key,
            {
                listing: [_follow_user(sim, member) for member in page.members],
                "total": tt.follow_total(sim, creator, stream),
                "time": page.min_time,
                "hasMore": _flag(key, page.has_more),
            },
        )

    return handle


def _comment(sim: Sim, video: Video, entry: Comment | CommentReply) -> dict[str, Any]:
    tt_world = sim.world.tiktok
    out: dict[str, Any] = {
        "id": entry.comment_id,
        "video_id": video.video_id,
        "text": entry.text,
        "create_time": entry.create_time,
        "digg_count": entry.like_count,
        "reply_total": 0 if isinstance(entry, CommentReply) else tt_world.reply_count(entry),
        "user": _author(sim, entry.author),
        "status": 1,
    }
    if isinstance(entry, CommentReply):
        out["reply_id"] = entry.parent_id
    return out


def _comment_list(sim: Sim, params: dict[str, str], key: str) -> Reply:
    url = params.get("url", "").strip()
    if not url:
        raise tt.TikTokError("bad_request", "url is required")
    creator, video = tt.video_by_id(sim, url)
    tt_world = sim.world.tiktok
    top = 0 if creator.account.is_private else tt_world.top_count(video)
    offset = tt.offset_cursor(params.get("cursor"), top)
    count = tt.page_size(params.get("count"), 20, 50)
    numbers = range(top - 1 - offset, max(-1, top - 1 - offset - count), -1)
    comments = [_comment(sim, video, tt_world.comment(video, k)) for k in numbers]
    end = offset + len(comments)
    total = 0 if creator.account.is_private else tt_world.comment_count(video)
    data = {"comments": comments, "total": total, "cursor": end, "hasMore": _flag(key, end < top)}
    return _ok(key, data)


def _comment_reply(sim: Sim, params: dict[str, str], key: str) -> Reply:
    if not params.get("comment_id"):
        raise tt.TikTokError("bad_request", "comment_id is required")
    creator, video, parent = tt.comment_by_id(sim, params["comment_id"])
    replies = [] if creator.account.is_private else sim.world.tiktok.replies(parent)
    offset = tt.offset_cursor(params.get("cursor"), len(replies))
    count = tt.page_size(params.get("count"), 20, 50)
    page = [_comment(sim, video, r) for r in replies[offset : offset + count]]
    end = offset + len(page)
    data = {
        "comments": page,
        "total": len(replies),
        "cursor": end,
        "hasMore": _flag(key, end < len(replies)),
    }
    return _ok(key, data)


_PATHS: dict[str, _Path] = {
    "/user/info": _user_info,
    "/user/posts": _user_posts,
    "/user/followers": _follow_list("followers"),
    "/user/following": _follow_list("following"),
    "/comment/list": _comment_list,
    "/comment/reply": _comment_reply,
}


def _handler(path: _Path) -> gateway.Handler:
    def handle(sim: Sim, call: Call) -> Reply:
        params: dict[str, str] = call.params
        key = call.endpoint + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        try:
            return path(sim, params, key)
        except tt.TikTokError as exc:
            return _failed(key, exc.message)

    return handle


API = ApiSpec(
    name="tikwm",
    handlers={name: _handler(path) for name, path in _PATHS.items()},
    auth_error=lambda: Reply(403, {"message": "You are not subscribed to this API."}),
    rate_limited=lambda _seconds: Reply(
        429, {"message": "You have exceeded the rate limit per second for your plan."}
    ),
    unknown=lambda endpoint: Reply(404, {"message": f"Endpoint '{endpoint}' does not exist"}),
)


def routes(sim: Sim) -> list[BaseRoute]:
    """tikwm's routes, one per path."""

    async def endpoint(request: Request) -> Response:
        call = Call(
            endpoint=request.url.path,
            params=dict(request.query_params),
            key=request.headers.get("x-rapidapi-key"),
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, API, call)

    return [Route(path, endpoint, methods=["GET"]) for path in _PATHS]
