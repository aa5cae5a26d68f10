"""YouTube Data API v3: ``GET /youtube/v3/channels|playlistItems|videos|commentThreads|comments``.

Shapes follow Google's recorded responses (``shared/fixtures/youtube-data-api-v3``); counts
in ``statistics`` are strings; errors are Google's ``{"error": {"code", "message",
"errors": [...]}}``. Every list call that passes the key costs one quota unit.

With a ``bad_item_rate``, some list items are served malformed, always the same ones (see
:meth:`socialsim.faults.FaultPlan.bad_item`), the rest of the page and its token intact:

- a playlistItem (keyed by its video id): ``snippet.publishedAt`` and
  ``contentDetails.videoPublishedAt`` are ``"0000-00-00T00:00:00Z"``, no date (with neither
  part requested, ``id`` is null instead);
- a video of ``videos.list`` (keyed by video id, decided apart from its playlistItem): ``id``
  is null;
- a commentThread (keyed by thread id): ``id`` and ``snippet.topLevelComment.id`` are null.

``comments.list`` lists every reply of a thread (``parentId=<thread id>``, ``maxResults`` up
to 100, 20 by default), newest first as Google's recording does; a thread embeds the first
five it lists (``part=replies``), the same comments. ``id=`` looks up comments (top-level or
replies) by id, unknown ones left out; an unknown ``parentId`` is a 404 ``commentNotFound``.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim import gateway
from socialsim.apis import cdn
from socialsim.cursors import CursorError
from socialsim.gateway import ApiSpec, Call, Reply
from socialsim.sim import Sim
from socialsim.world.clock import iso
from socialsim.world.youtube import EMBEDDED_REPLIES, Channel, Thread, Video
from socialsim.world.youtube import Reply as CommentReply

QUOTA_MESSAGE = (
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)


class _Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def google_error(code: int, message: str, reason: str, domain: str) -> Reply:
    """Google's error body."""
    return Reply(
        code,
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
            }
        },
    )


def _etag(*parts: object) -> str:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=20).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _parts(params: dict[str, str]) -> set[str]:
    parts = {p.strip() for p in params.get("part", "").split(",") if p.strip()}
    if not parts:
        raise _Refused(
            google_error(400, "No filter selected. Expected part.", "required", "global")
        )
    return parts


def _max_results(params: dict[str, str], default: int, limit: int) -> int:
    raw = params.get("maxResults")
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > limit:
        raise _Refused(
            google_error(
                400,
                f"Invalid value '{raw}'. Values must be within the range: [0, {limit}]",
                "invalidParameter",
                "youtube.parameter",
            )
        )
    return int(raw)


def _position(sim: Sim, stream: str, owner: str, params: dict[str, str]) -> int | None:
    token = params.get("pageToken")
    if not token:
        return None
    try:
        return sim.cursors.read(token, "youtube", stream, owner)
    except CursorError as exc:
        reply = google_error(
            400,
            "The request specifies an invalid page token.",
            "invalidPageToken",
            "youtube.parameter",
        )
        if exc.expired:
            reply.fault = "expired_cursor"
        raise _Refused(reply) from exc


def _thumbnails(base: str, sizes: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        name: {"url": f"{base}/{name}.jpg", "width": w, "height": h}
        for name, (w, h) in sizes.items()
    }


_CHANNEL_THUMBS = {"default": (88, 88), "medium": (240, 240), "high": (800, 800)}


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


# ---------------------------------------------------------------------- channels


def _channel_item(sim: Sim, channel: Channel, parts: set[str]) -> dict[str, Any]:
    yt = sim.world.youtube
    item: dict[str, Any] = {
        "kind": "youtube#channel",
        "etag": _etag(channel.channel_id, sim.world.now),
        "id": channel.channel_id,
    }
    if "snippet" in parts:
        item["snippet"] = {
            "title": channel.title,
            "description": channel.description,
            "customUrl": channel.handle,
            "publishedAt": iso(channel.published_at),
            "thumbnails": _thumbnails(
                f"https://yt3.ggpht.com/{channel.channel_id}", _CHANNEL_THUMBS
            ),
            "localized": {"title": channel.title, "description": channel.description},
            "country": channel.country,
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {
            "relatedPlaylists": {"likes": "", "uploads": channel.uploads_playlist_id}
        }
    if "statistics" in parts:
        item["statistics"] = {
            "viewCount": str(yt.channel_views(channel)),
            "commentCount": "0",
            "subscriberCount": str(yt.subscribers(channel)),
            "hiddenSubscriberCount": False,
            "videoCount": str(len(yt.uploads(channel))),
        }
    return item


def _channels(sim: Sim, params: dict[str, str]) -> Reply:
    parts = _parts(params)
    yt = sim.world.youtube
    found: list[Channel | None]
    if params.get("id"):
        found = [yt.find_channel(i.strip()) for i in params["id"].split(",")]
    elif params.get("forHandle"):
        found = [yt.find_handle(params["forHandle"])]
    else:
        raise _Refused(
            google_error(
                400,
                "No filter selected. Expected one of: forHandle, forUsername, id, mine",
                "missingRequiredParameter",
                "youtube.parameter",
            )
        )
    items = [_channel_item(sim, c, parts) for c in found if c is not None]
    return Reply(
        200,
        {
            "kind": "youtube#channelListResponse",
            "etag": _etag("channels", sorted(params.items()), sim.world.now),
            "pageInfo": {"totalResults": len(items), "resultsPerPage": max(5, len(items))},
            "items": items,
        },
    )


# ---------------------------------------------------------------------- playlistItems


def _playlist_item(
    sim: Sim, channel: Channel, video: Video, position: int, parts: set[str]
) -> dict[str, Any]:
    playlist_id = channel.uploads_playlist_id
    item_id = base64.b64encode(f"{playlist_id}.{video.video_id}".encode()).decode()
    item: dict[str, Any] = {
        "kind": "youtube#playlistItem",
        "etag": _etag(item_id, position),
        "id": item_id,
    }
    if "snippet" in parts:
        item["snippet"] = {
            "publishedAt": iso(video.published_at),
            "channelId": channel.channel_id,
            "title": video.title,
            "description": video.description,
            "thumbnails": cdn.youtube_thumbnails(video.video_id),
            "channelTitle": channel.title,
            "playlistId": playlist_id,
            "position": position,
            "resourceId": {"kind": "youtube#video", "videoId": video.video_id},
            "videoOwnerChannelTitle": channel.title,
            "videoOwnerChannelId": channel.channel_id,
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {
            "videoId": video.video_id,
            "videoPublishedAt": iso(video.published_at),
        }
    return item


NOT_A_DATE = "0000-00-00T00:00:00Z"
"""What a malformed playlistItem carries for its dates."""


def bad_playlist_item(sim: Sim, video: Video) -> bool:
    """Whether the video's entry in its uploads playlist is served malformed."""
    return sim.faults.bad_item("playlistItem", video.video_id)


def bad_video(sim: Sim, video: Video) -> bool:
    """Whether the video's ``videos.list`` item is served malformed."""
    return sim.faults.bad_item("video", video.video_id)


def bad_thread(sim: Sim, thread: Thread) -> bool:
    """Whether the comment thread is served malformed."""
    return sim.faults.bad_item("commentThread", thread.thread_id)


def _malformed_playlist_item(item: dict[str, Any]) -> dict[str, Any]:
    if "snippet" not in item and "contentDetails" not in item:
        item["id"] = None
    if "snippet" in item:
        item["snippet"]["publishedAt"] = NOT_A_DATE
    if "contentDetails" in item:
        item["contentDetails"]["videoPublishedAt"] = NOT_A_DATE
    return item


def _playlist_items(sim: Sim, params: dict[str, str]) -> Reply:
    parts = _parts(params)
    playlist_id = params.get("playlistId", "")
    channel = sim.world.youtube.find_playlist(playlist_id)
    if channel is None:
        raise _Refused(
            google_error(
                404,
                "The playlist identified with the request's <code>playlistId</code> "
                "parameter cannot be found.",
                "playlistNotFound",
                "youtube.playlistItem",
            )
        )
    per_page = _max_results(params, 5, 50)
    before = _position(sim, "playlistItems", playlist_id, params)
    yt = sim.world.youtube
    total = len(yt.uploads(channel))
    videos, position = yt.uploads_page(channel, before, per_page)
    body: dict[str, Any] = {
        "kind": "youtube#playlistItemListResponse",
        "etag": _etag("playlistItems", sorted(params.items()), sim.world.now),
    }
    if position is not None:
        body["nextPageToken"] = sim.cursors.issue("youtube", "playlistItems", playlist_id, position)
    body["pageInfo"] = {"totalResults": total, "resultsPerPage": per_page}
    items = []
    bad_items = 0
    for video in videos:
        item = _playlist_item(sim, channel, video, total - 1 - video.index, parts)
        if bad_playlist_item(sim, video):
            item = _malformed_playlist_item(item)
            bad_items += 1
        items.append(item)
    body["items"] = items
    return Reply(200, body, bad_items=bad_items)


# ---------------------------------------------------------------------- videos


def _video_item(sim: Sim, video: Video, parts: set[str]) -> dict[str, Any]:
    yt = sim.world.youtube
    channel = yt.channels[video.channel]
    item: dict[str, Any] = {
        "kind": "youtube#video",
        "etag": _etag(video.video_id, sim.world.now),
        "id": video.video_id,
    }
    if "snippet" in parts:
        item["snippet"] = {
            "publishedAt": iso(video.published_at),
            "channelId": channel.channel_id,
            "title": video.title,
            "description": video.description,
            "thumbnails": cdn.youtube_thumbnails(video.video_id),
            "channelTitle": channel.title,
            "tags": list(video.tags),
            "categoryId": "22",
            "liveBroadcastContent": "none",
            "defaultLanguage": "en",
            "localized": {"title": video.title, "description": video.description},
            "defaultAudioLanguage": "en",
        }
    if "contentDetails" in parts:
        item["contentDetails"] = {
            "duration": _duration(video.duration_s),
            "dimension": "2d",
            "definition": "hd",
            "caption": "false",
            "licensedContent": False,
            "contentRating": {},
            "projection": "rectangular",
        }
    if "statistics" in parts:
        statistics = {
            "viewCount": str(yt.views(video)),
            "likeCount": str(yt.likes(video)),
            "favoriteCount": "0",
        }
        if not video.comments_disabled:
            statistics["commentCount"] = str(yt.comment_count(video))
        item["statistics"] = statistics
    return item


def _videos(sim: Sim, params: dict[str, str]) -> Reply:
    parts = _parts(params)
    ids = [i.strip() for i in params.get("id", "").split(",") if i.strip()]
    if not ids:
        raise _Refused(
            google_error(
                400,
                "No filter selected. Expected one of: chart, id, myRating",
                "missingRequiredParameter",
                "youtube.parameter",
            )
        )
    if len(ids) > 50:
        raise _Refused(
            google_error(
                400,
                "The request specifies too many video ids (at most 50).",
                "invalidFilters",
                "youtube.parameter",
            )
        )
    yt = sim.world.youtube
    items = []
    bad_items = 0
    for video in (v for i in ids if (v := yt.find_video(i)) is not None):
        item = _video_item(sim, video, parts)
        if bad_video(sim, video):
            item["id"] = None
            bad_items += 1
        items.append(item)
    return Reply(
        200,
        {
            "kind": "youtube#videoListResponse",
            "etag": _etag("videos", sorted(params.items()), sim.world.now),
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            "items": items,
        },
        bad_items=bad_items,
    )


# ---------------------------------------------------------------------- commentThreads


def _comment_snippet(
    sim: Sim, video: Video, comment: Thread | CommentReply, html_text: bool
) -> dict[str, Any]:
    channel_id = comment.author_channel_id
    return {
        "channelId": sim.world.youtube.channels[video.channel].channel_id,
        "authorDisplayName": comment.author,
        "authorProfileImageUrl": f"https://yt3.ggpht.com/{channel_id}=s48",
        "authorChannelUrl": f"http://www.youtube.com/channel/{channel_id}",
        "authorChannelId": {"value": channel_id},
        "videoId": video.video_id,
        "textDisplay": html.escape(comment.text) if html_text else comment.text,
        "textOriginal": comment.text,
        "canRate": True,
        "viewerRating": "none",
        "likeCount": comment.like_count,
        "publishedAt": iso(comment.created_at),
        "updatedAt": iso(comment.created_at),
    }


def _reply_item(
    sim: Sim, video: Video, thread: Thread, reply: CommentReply, html_text: bool
) -> dict[str, Any]:
    snippet = _comment_snippet(sim, video, reply, html_text)
    snippet["parentId"] = thread.thread_id
    return {
        "kind": "youtube#comment",
        "etag": _etag(reply.comment_id),
        "id": reply.comment_id,
        "snippet": snippet,
    }


def _thread_item(
    sim: Sim, video: Video, k: int, parts: set[str], html_text: bool
) -> dict[str, Any]:
    yt = sim.world.youtube
    thread = yt.thread(video, k)
    item: dict[str, Any] = {
        "kind": "youtube#commentThread",
        "etag": _etag(thread.thread_id, thread.reply_count),
        "id": thread.thread_id,
    }
    if "snippet" in parts:
        item["snippet"] = {
            "videoId": video.video_id,
            "topLevelComment": {
                "kind": "youtube#comment",
                "etag": _etag(thread.thread_id, "top"),
                "id": thread.thread_id,
                "snippet": _comment_snippet(sim, video, thread, html_text),
            },
            "canReply": True,
            "totalReplyCount": thread.reply_count,
            "isPublic": True,
        }
    if "replies" in parts and thread.reply_count > 0:
        replies, _ = yt.replies_page(video, k, thread, None, EMBEDDED_REPLIES)
        item["replies"] = {
            "comments": [_reply_item(sim, video, thread, r, html_text) for r in replies]
        }
    if bad_thread(sim, thread):
        item["id"] = None
        if "snippet" in item:
            item["snippet"]["topLevelComment"]["id"] = None
    return item


def _comment_threads(sim: Sim, params: dict[str, str]) -> Reply:
    parts = _parts(params)
    video_id = params.get("videoId", "")
    yt = sim.world.youtube
    video = yt.find_video(video_id)
    if video is None:
        raise _Refused(
            google_error(
                404,
                'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/'
                'list#videoId">videoId</a></code> parameter could not be found.',
                "videoNotFound",
                "youtube.commentThread",
            )
        )
    if video.comments_disabled:
        raise _Refused(
            google_error(
                403,
                'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/'
                'list#videoId">videoId</a></code> parameter has disabled comments.',
                "commentsDisabled",
                "youtube.commentThread",
            )
        )
    per_page = _max_results(params, 20, 100)
    before = _position(sim, "commentThreads", video_id, params)
    numbers, position = yt.threads_page(video, before, per_page)
    html_text = params.get("textFormat", "html") == "html"
    items = [_thread_item(sim, video, k, parts, html_text) for k in numbers]
    bad_items = sum(item["id"] is None for item in items)
    body: dict[str, Any] = {
        "kind": "youtube#commentThreadListResponse",
        "etag": _etag("commentThreads", sorted(params.items()), sim.world.now),
    }
    if position is not None:
        body["nextPageToken"] = sim.cursors.issue("youtube", "commentThreads", video_id, position)
    body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": per_page}
    body["items"] = items
    return Reply(200, body, bad_items=bad_items)


# ---------------------------------------------------------------------- comments


def _comment_not_found() -> _Refused:
    return _Refused(
        google_error(
            404,
            'The comment identified by the <code><a href="/youtube/v3/docs/comments/'
            'list#parentId">parentId</a></code> parameter could not be found.',
            "commentNotFound",
            "youtube.comment",
        )
    )


def _comment_by_id(sim: Sim, comment_id: str, html_text: bool) -> dict[str, Any] | None:
    """A top-level comment or a reply shown now, by its id."""
    yt = sim.world.youtube
    thread_id, _, _ = comment_id.partition(".")
    found = yt.find_thread(thread_id)
    if found is None:
        return None
    video, k = found
    thread = yt.thread(video, k)
    if comment_id == thread_id:
        return {
            "kind": "youtube#comment",
            "etag": _etag(thread.thread_id, "top"),
            "id": thread.thread_id,
            "snippet": _comment_snippet(sim, video, thread, html_text),
        }
    replies, _ = yt.replies_page(video, k, thread, None, thread.reply_count)
    reply = next((r for r in replies if r.comment_id == comment_id), None)
    return None if reply is None else _reply_item(sim, video, thread, reply, html_text)


def _comments(sim: Sim, params: dict[str, str]) -> Reply:
    _parts(params)
    html_text = params.get("textFormat", "html") == "html"
    body: dict[str, Any] = {
        "kind": "youtube#commentListResponse",
        "etag": _etag("comments", sorted(params.items()), sim.world.now),
    }
    if params.get("id"):
        ids = [i.strip() for i in params["id"].split(",") if i.strip()]
        items = [item for i in ids if (item := _comment_by_id(sim, i, html_text)) is not None]
        body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": len(items)}
        body["items"] = items
        return Reply(200, body)
    parent_id = params.get("parentId", "").strip()
    if not parent_id:
        raise _Refused(
            google_error(
                400,
                "No filter selected. Expected one of: id, parentId",
                "missingRequiredParameter",
                "youtube.parameter",
            )
        )
    yt = sim.world.youtube
    found = yt.find_thread(parent_id)
    if found is None:
        raise _comment_not_found()
    video, k = found
    thread = yt.thread(video, k)
    per_page = _max_results(params, 20, 100)
    before = _position(sim, "comments", parent_id, params)
    replies, position = yt.replies_page(video, k, thread, before, per_page)
    if position is not None:
        body["nextPageToken"] = sim.cursors.issue("youtube", "comments", parent_id, position)
    items = [_reply_item(sim, video, thread, r, html_text) for r in replies]
    body["pageInfo"] = {"totalResults": len(items), "resultsPerPage": per_page}
    body["items"] = items
    return Reply(200, body)


# ---------------------------------------------------------------------- the API

_Resource = Callable[[Sim, dict[str, str]], Reply]

_RESOURCES: dict[str, _Resource] = {
    "channels": _channels,
    "playlistItems": _playlist_items,
    "videos": _videos,
    "commentThreads": _comment_threads,
    "comments": _comments,
}


def _handler(resource: _Resource) -> gateway.Handler:
    def handle(sim: Sim, call: Call) -> Reply:
        try:
            return resource(sim, call.params)
        except _Refused as refused:
            return refused.reply

    return handle


def _admit(sim: Sim, call: Call) -> Reply | None:
    if sim.quota is None or sim.quota.charge(sim.world.now):
        return None
    reply = google_error(403, QUOTA_MESSAGE, "quotaExceeded", "youtube.quota")
    reply.fault = "quota"
    return reply


API = ApiSpec(
    name="youtube",
    handlers={name: _handler(resource) for name, resource in _RESOURCES.items()},
    auth_error=lambda: google_error(
        400, "API key not valid. Please pass a valid API key.", "keyInvalid", "usageLimits"
    ),
    rate_limited=lambda _seconds: google_error(
        429,
        "The request cannot be completed because you have exceeded your rate limit.",
        "rateLimitExceeded",
        "usageLimits",
    ),
    unknown=lambda endpoint: google_error(
        404, f"Method not found: youtube.{endpoint}.list", "notFound", "global"
    ),
    admit=_admit,
)


def routes(sim: Sim) -> list[BaseRoute]:
    """The YouTube route: ``GET /youtube/v3/<resource>``."""

    async def endpoint(request: Request) -> Response:
        params = dict(request.query_params)
        key = params.pop("key", None)
        call = Call(
            endpoint=request.path_params["resource"],
            params=params,
            key=key,
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, API, call)

    return [Route("/youtube/v3/{resource}", endpoint, methods=["GET"])]
