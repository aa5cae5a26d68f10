"""tiktok-api23 on RapidAPI: TikTok's own web JSON, unwrapped; ``GET /api/...`` with
``x-rapidapi-key``.

Shapes follow the recordings of a sibling API that passes the same JSON through
(``shared/fixtures/tiktok-web-json-api45``, there wrapped in ``{"data": …}``):

- ``GET /api/user/info?uniqueId=U`` → ``{"extra", "log_pb", "shareMeta", "statusCode": 0,
  "status_code": 0, "status_msg": "", "userInfo": {"user", "stats", "statsV2"}}``; ``stats``
  holds counts rounded as TikTok shows them, ``statsV2`` the exact ones as strings.
- ``GET /api/user/posts?secUid=S&count=35&cursor=0`` → ``{"cursor": "<ms>", "hasMore",
  "itemList": [ITEM], …}``; the first page starts with the pinned videos (``isPinnedItem``
  true); send ``cursor`` back for the next page.
- ``GET /api/user/followers?secUid=S&count=30&minCursor=0`` (and ``/api/user/followings``) →
  ``{"userList": [{"user", "stats", "statsV2"}], "minCursor": <epoch s>, "hasMore", "total",
  "isTruncated": false, …}``; send ``minCursor`` back. The listing stops after
  :data:`~socialsim.world.tiktok.LIST_CAP` users (``hasMore`` false), ``total`` says the real
  count.
- ``GET /api/post/comments?videoId=V&count=50&cursor=0`` → TikTok's comment JSON (snake_case):
  ``{"comments": [COMMENT], "cursor": <offset>, "has_more": 0|1, "total", "status_code": 0}``,
  newest first; ``total`` counts replies too, as the video's ``commentCount`` does.
- ``GET /api/post/comment/replies?videoId=V&commentId=C&count=50&cursor=0`` → the same shape,
  oldest first, each reply with ``"reply_id": "<parent cid>"``.

Refusals: TikTok's own travel with HTTP 200 (an unknown user: ``statusCode`` 10221 from
``user/info``, 10202 from the lists; an unknown video or comment: ``status_code`` 10204); what
the wrapper checks before asking TikTok is an HTTP 400 ``{"message"}`` (a missing parameter, a
cursor that is not this listing's). A private account's profile is served, its lists empty.
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
from socialsim.world import randomness as rnd
from socialsim.world.tiktok import Account, Comment, Creator, Video
from socialsim.world.tiktok import Reply as CommentReply

NOT_FOUND_INFO = 10221
NOT_FOUND_LIST = 10202
NOT_FOUND_ITEM = 10204

_Path = Callable[[Sim, dict[str, str]], Reply]


class _BadRequest(Exception):
    pass


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise _BadRequest(f"Missing required parameter: {name}")
    return value


def _envelope(sim: Sim, call_key: str) -> dict[str, Any]:
    logid = tt.log_id(sim, call_key)
    return {
        "extra": {"fatal_item_ids": [], "logid": logid, "now": sim.world.now * 1000},
        "log_pb": {"impr_id": logid},
        "statusCode": 0,
        "status_code": 0,
        "status_msg": "",
    }


# ---------------------------------------------------------------------- users


def _user(account: Account) -> dict[str, Any]:
    """The keys every web JSON user carries."""
    return {
        "avatarLarger": tt.avatar(account, 1080),
        "avatarMedium": tt.avatar(account, 720),
        "avatarThumb": tt.avatar(account, 100),
        "commentSetting": 0,
        "downloadSetting": 0,
        "duetSetting": 0,
        "ftc": False,
        "id": account.user_id,
        "isADVirtual": False,
        "nickname": account.nickname,
        "openFavorite": False,
        "privateAccount": account.is_private,
        "relation": 0,
        "secUid": account.sec_uid,
        "secret": account.is_private,
        "signature": account.signature,
        "stitchSetting": 0,
        "uniqueId": account.username,
        "verified": account.is_verified,
    }


def list_user(sim: Sim, index: int) -> dict[str, Any]:
    """A follower list entry: ``{"user", "stats", "statsV2"}``."""
    account = sim.world.tiktok.account(index)
    stats, stats_v2 = tt.user_stats(sim.world.tiktok.stats(index))
    return {"stats": stats, "statsV2": stats_v2, "user": {**_user(account), "ttSeller": False}}


def author(account: Account) -> dict[str, Any]:
    """A video's ``author``."""
    return {**_user(account), "UserStoryStatus": 0, "isEmbedBanned": False}


def detail_user(account: Account) -> dict[str, Any]:
    """``userInfo.user`` of the profile endpoint."""
    return {
        **author(account),
        "canExpPlaylist": True,
        "commerceUserInfo": {"category": "", "categoryButton": False, "commerceUser": False},
        "followingVisibility": 1,
        "nickNameModifyTime": account.created_at,
        "profileEmbedPermission": 1,
        "profileTab": {"showPlayListTab": False},
        "ttSeller": False,
    }


# ---------------------------------------------------------------------- videos


def _play_addr(video: Video, play: str, h: int) -> dict[str, Any]:
    uri = f"v14044g50000{video.video_id[-12:]}"
    width, height = cdn.TT_SIZE
    return {
        "DataSize": 200_000 + h % 4_000_000,
        "FileCs": f"c:0-{h % 30000}-{h % 65536:04x}",
        "FileHash": f"{h:016x}{rnd.mix(h):016x}",
        "Height": height,
        "Uri": uri,
        "UrlKey": f"{uri}_h264_{width}p_{h % 900_000}",
        "UrlList": [play],
        "Width": width,
    }


def _video(sim: Sim, video: Video) -> dict[str, Any]:
    h = rnd.mix(int(video.video_id))
    cover = cdn.tiktok_cover_url(sim, video.video_id)
    play = cdn.tiktok_play_url(sim, video.video_id)
    width, height = cdn.TT_SIZE
    caption_url = f"https://v16m-webapp.tiktokcdn-us.com/{video.video_id}/caption.webvtt"
    return {
        "PlayAddrStruct": _play_addr(video, play, h),
        "VQScore": f"{40 + h % 30}.{h % 100:02d}",
        "bitrate": 150_000 + h % 900_000,
        "bitrateInfo": [
            {
                "Bitrate": 150_000 + h % 900_000,
                "BitrateFPS": 30,
                "CodecType": "h264",
                "Format": "mp4",
                "GearName": "normal_540_0",
                "MVMAF": "{}",
                "PlayAddr": _play_addr(video, play, h),
                "QualityType": 20,
                "VideoExtra": "{}",
            }
        ],
        "claInfo": {
            "captionInfos": [
                {
                    "captionFormat": "webvtt",
                    "claSubtitleID": str(int(video.video_id) + 1),
                    "expire": str(video.create_time + 86400),
                    "isAutoGen": True,
                    "isOriginalCaption": True,
                    "language": "eng-US",
                    "languageCode": "en",
                    "languageID": "2",
                    "subID": str(h % 10**9),
                    "subtitleType": "1",
                    "translationType": "0",
                    "url": caption_url,
                    "urlList": [caption_url],
                    "variant": "default",
                }
            ],
            "captionsType": 2,
            "enableAutoCaption": True,
            "hasOriginalAudio": False,
            "originalLanguageInfo": {
                "canTranslateRealTimeNoCheck": True,
                "language": "eng-US",
                "languageCode": "en",
                "languageID": "2",
            },
        },
        "codecType": "h264",
        "cover": cover,
        "definition": "540p",
        "downloadAddr": play,
        "duration": video.duration,
        "dynamicCover": cover,
        "encodeUserTag": "",
        "encodedType": "normal",
        "format": "mp4",
        "height": height,
        "id": video.video_id,
        "originCover": cover,
        "playAddr": play,
        "ratio": "540p",
        "size": 200_000 + h % 4_000_000,
        "subtitleInfos": [
            {
                "Format": "webvtt",
                "LanguageCodeName": "eng-US",
                "LanguageID": "2",
                "Size": 50 + h % 5000,
                "Source": "ASR",
                "Url": caption_url,
                "UrlExpire": video.create_time + 86400,
                "Version": "1",
            }
        ],
        "videoID": f"v14044g50000{video.video_id[-12:]}",
        "videoQuality": "normal",
        "volumeInfo": {"Loudness": -10.0 - h % 150 / 10, "Peak": 0.1 + h % 90 / 100},
        "width": width,
        "zoomCover": dict.fromkeys(("240", "480", "720", "960"), cover),
    }


def _text_extra(video: Video) -> list[dict[str, Any]]:
    out = []
    for tag in video.hashtags:
        start = video.desc.find(f"#{tag}")
        out.append(
            {
                "awemeId": "",
                "end": start + len(tag) + 1,
                "hashtagName": tag,
                "isCommerce": False,
                "start": start,
                "subType": 0,
                "type": 1,
            }
        )
    return out


def item(sim: Sim, creator: Creator, video: Video, *, pinned: bool) -> dict[str, Any]:
    """One ``itemList`` entry: a video as TikTok's web JSON shows it."""
    tt_world = sim.world.tiktok
    counts = tt.counts(sim, video)
    exact = {
        "collectCount": counts.collects,
        "commentCount": counts.comments,
        "diggCount": counts.likes,
        "playCount": counts.plays,
        "shareCount": counts.shares,
    }
    author_stats, author_stats_v2 = tt.user_stats(tt_world.stats(creator.index))
    account = creator.account
    text_extra = _text_extra(video)
    return {
        "AIGCDescription": "",
        "CategoryType": 100 + video.position % 20,
        "author": author(account),
        "authorStats": author_stats,
        "authorStatsV2": author_stats_v2,
        "backendSourceEventTracking": "",
        "challenges": [
            {
                "coverLarger": "",
                "coverMedium": "",
                "coverThumb": "",
                "desc": "",
                "id": str(tt.hash_text(tag) % 10**16),
                "profileLarger": "",
                "profileMedium": "",
                "profileThumb": "",
                "title": tag,
            }
            for tag in video.hashtags
        ],
        "collected": False,
        "contents": [{"desc": video.desc, "textExtra": text_extra}],
        "createTime": video.create_time,
        "creatorAIComment": {"eligibleVideo": False, "hasAITopic": False, "notEligibleReason": 101},
        "desc": video.desc,
        "digged": False,
        "duetDisplay": 0,
        "duetEnabled": True,
        "forFriend": False,
        "id": video.video_id,
        "isAd": False,
        "isPinnedItem": pinned,
        "isReviewing": False,
        "itemCommentStatus": 0,
        "item_control": {"can_repost": True},
        "music": {
            "authorName": account.nickname,
            "coverLarge": tt.avatar(account, 1080),
            "coverMedium": tt.avatar(account, 720),
            "coverThumb": tt.avatar(account, 100),
            "duration": video.duration,
            "id": video.music_id,
            "isCopyrighted": False,
            "original": True,
            "playUrl": f"https://sf16-ies-music.tiktokcdn.com/obj/{video.music_id}.mp3",
            "private": False,
            "title": f"original sound - {account.username}",
            "tt2dsp": {},
        },
        "officalItem": False,
        "originalItem": False,
        "privateItem": False,
        "secret": False,
        "shareEnabled": True,
        "stats": {key: tt.rounded(value) for key, value in exact.items()},
        "statsV2": {**{key: str(value) for key, value in exact.items()}, "repostCount": "0"},
        "stitchDisplay": 0,
        "stitchEnabled": True,
        "textExtra": text_extra,
        "textLanguage": video.language,
        "textTranslatable": True,
        "video": _video(sim, video),
    }


# ---------------------------------------------------------------------- comments


def _comment_user(account: Account) -> dict[str, Any]:
    url = tt.avatar(account, 100)
    return {
        "avatar_thumb": {"uri": account.user_id, "url_list": [url], "width": 720, "height": 720},
        "nickname": account.nickname,
        "sec_uid": account.sec_uid,
        "uid": account.user_id,
        "unique_id": account.username,
    }


def comment(
    sim: Sim, creator: Creator, video: Video, entry: Comment | CommentReply
) -> dict[str, Any]:
    """A comment (or a reply) as TikTok's comment JSON shows it."""
    tt_world = sim.world.tiktok
    if isinstance(entry, CommentReply):
        replies, reply_id = 0, entry.parent_id
    else:
        replies, reply_id = tt_world.reply_count(entry), "0"
    return {
        "aweme_id": video.video_id,
        "cid": entry.comment_id,
        "comment_language": "en",
        "create_time": entry.create_time,
        "digg_count": entry.like_count,
        "is_author_digged": False,
        "reply_comment_total": replies,
        "reply_id": reply_id,
        "reply_to_reply_id": "0",
        "share_info": {
            "desc": f"{creator.account.username}'s comment: {entry.text}",
            "title": entry.text,
            "url": tt.video_url(creator, video),
        },
        "status": 1,
        "stick_position": 0,
        "text": entry.text,
        "text_extra": [],
        "user": _comment_user(tt_world.account(entry.author)),
        "user_digged": 0,
    }


def _comment_page(
    sim: Sim, call_key: str, rendered: list[dict[str, Any]], *, total: int, end: int, listed: int
) -> Reply:
    """A page of comments or replies: ``end`` is the offset after it, ``listed`` how many the
    whole listing holds."""
    envelope = _envelope(sim, call_key)
    return Reply(
        200,
        {
            "comments": rendered,
            "cursor": end,
            "extra": envelope["extra"],
            "has_more": int(end < listed),
            "log_pb": envelope["log_pb"],
            "status_code": 0,
            "status_msg": "",
            "total": total,
        },
    )


def _item_missing(sim: Sim, call_key: str, message: str) -> Reply:
    envelope = _envelope(sim, call_key)
    return Reply(
        200,
        {
            "extra": envelope["extra"],
            "log_pb": envelope["log_pb"],
            "status_code": NOT_FOUND_ITEM,
            "status_msg": message,
        },
    )


# ---------------------------------------------------------------------- paths


def _key(path: str, params: dict[str, str]) -> str:
    return path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def _user_info(sim: Sim, params: dict[str, str]) -> Reply:
    envelope = _envelope(sim, _key("/api/user/info", params))
    creator = sim.world.tiktok.find_username(_required(params, "uniqueId"))
    if creator is None:
        return Reply(200, {**envelope, "statusCode": NOT_FOUND_INFO, "userInfo": {}})
    account = creator.account
    stats = sim.world.tiktok.stats(creator.index)
    rounded, exact = tt.user_stats(stats)
    share = (
        f"@{account.username} — {rounded['followerCount']} followers, "
        f"{rounded['followingCount']} following, {rounded['heart']} likes"
    )
    return Reply(
        200,
        {
            **envelope,
            "shareMeta": {"desc": share, "title": f"{account.nickname} on TikTok"},
            "userInfo": {"stats": rounded, "statsV2": exact, "user": detail_user(account)},
        },
    )


def _list_creator(sim: Sim, params: dict[str, str], envelope: dict[str, Any]) -> Creator | Reply:
    creator = sim.world.tiktok.find_sec_uid(_required(params, "secUid"))
    if creator is None:
        return Reply(
            200, {**envelope, "statusCode": NOT_FOUND_LIST, "status_msg": "User does not exist"}
        )
    return creator


def _user_posts(sim: Sim, params: dict[str, str]) -> Reply:
    envelope = _envelope(sim, _key("/api/user/posts", params))
    found = _list_creator(sim, params, envelope)
    if isinstance(found, Reply):
        return found
    before = tt.posts_cursor(sim, params.get("cursor"))
    if found.account.is_private:
        return Reply(200, {**envelope, "cursor": "0", "hasMore": False})
    count = tt.page_size(params.get("count"), 35, 35)
    state = sim.world.tiktok.state(found)
    page = sim.world.tiktok.posts_page(state, before, count)
    pinned = set(state.pinned)
    items = [item(sim, found, v, pinned=v.position in pinned) for v in page.videos]
    body = {"cursor": str(page.cursor), **envelope, "hasMore": page.has_more, "itemList": items}
    return Reply(200, body)


def _follow_list(stream: tt.FollowStream) -> _Path:
    path = "/api/user/followers" if stream == "followers" else "/api/user/followings"

    def handle(sim: Sim, params: dict[str, str]) -> Reply:
        envelope = _envelope(sim, _key(path, params))
        found = _list_creator(sim, params, envelope)
        if isinstance(found, Reply):
            return found
        before = tt.follow_cursor(sim, params.get("minCursor"))
        count = tt.page_size(params.get("count"), 30, 50)
        page = tt.follow_page(sim, found, stream, before, count)
        body: dict[str, Any] = {
            **envelope,
            "hasMore": page.has_more,
            "isTruncated": False,
            "minCursor": page.min_time,
            "total": tt.follow_total(sim, found, stream),
            "userList": [list_user(sim, member) for member in page.members],
        }
        if stream == "following":
            body["maxCursor"] = 0
        return Reply(200, body)

    return handle


def _post_comments(sim: Sim, params: dict[str, str]) -> Reply:
    key = _key("/api/post/comments", params)
    tt_world = sim.world.tiktok
    found = tt_world.find_video(_required(params, "videoId"))
    if found is None:
        return _item_missing(sim, key, "Video does not exist")
    creator, video = found
    private = creator.account.is_private
    top = 0 if private else tt_world.top_count(video)
    offset = tt.offset_cursor(params.get("cursor"), top)
    count = tt.page_size(params.get("count"), 50, 50)
    numbers = range(top - 1 - offset, max(-1, top - 1 - offset - count), -1)
    rendered = [comment(sim, creator, video, tt_world.comment(video, k)) for k in numbers]
    total = 0 if private else tt_world.comment_count(video)
    return _comment_page(sim, key, rendered, total=total, end=offset + len(rendered), listed=top)


def _comment_replies(sim: Sim, params: dict[str, str]) -> Reply:
    key = _key("/api/post/comment/replies", params)
    video_id = _required(params, "videoId")
    found = sim.world.tiktok.find_comment(_required(params, "commentId"))
    if found is None or found[1].video_id != video_id or found[0].account.is_private:
        return _item_missing(sim, key, "Comment does not exist")
    creator, video, parent = found
    replies = sim.world.tiktok.replies(parent)
    offset = tt.offset_cursor(params.get("cursor"), len(replies))
    count = tt.page_size(params.get("count"), 50, 50)
    rendered = [comment(sim, creator, video, r) for r in replies[offset : offset + count]]
    end = offset + len(rendered)
    return _comment_page(sim, key, rendered, total=len(replies), end=end, listed=len(replies))


_PATHS: dict[str, _Path] = {
    "/api/user/info": _user_info,
    "/api/user/posts": _user_posts,
    "/api/user/followers": _follow_list("followers"),
    "/api/user/followings": _follow_list("following"),
    "/api/post/comments": _post_comments,
    "/api/post/comment/replies": _comment_replies,
}


def _handler(path: _Path) -> gateway.Handler:
    def handle(sim: Sim, call: Call) -> Reply:
        try:
            return path(sim, call.params)
        except _BadRequest as exc:
            return Reply(400, {"message": str(exc)})
        except tt.TikTokError as exc:
            return Reply(400, {"message": exc.message})

    return handle


API = ApiSpec(
    name="tikapi23",
    handlers={name: _handler(path) for name, path in _PATHS.items()},
    auth_error=lambda: Reply(403, {"message": "You are not subscribed to this API."}),
    rate_limited=lambda _seconds: Reply(
        429, {"message": "You have exceeded the rate limit per second for your plan."}
    ),
    unknown=lambda endpoint: Reply(404, {"message": f"Endpoint '{endpoint}' does not exist"}),
)


def routes(sim: Sim) -> list[BaseRoute]:
    """tikapi23's routes, one per path."""

    async def endpoint(request: Request) -> Response:
        call = Call(
            endpoint=request.url.path,
            params=dict(request.query_params),
            key=request.headers.get("x-rapidapi-key"),
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, API, call)

    return [Route(path, endpoint, methods=["GET"]) for path in _PATHS]
