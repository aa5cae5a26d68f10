"""YouTube Data API v3 as Google documents it: ``GET {host}/youtube/v3/<resource>``.

The cheap path to a channel's videos (PROVIDERS.md): channels.list → the uploads playlist →
playlistItems.list (≤ 50 a page) → videos.list (≤ 50 ids) → commentThreads.list (≤ 100 a
page). Counts arrive as strings; absent statistics stay None.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from smcore.providers import payload
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.failover import call_with_failover
from smcore.providers.models import Channel, Comment, Page, Upload, Video
from smcore.providers.transport import Transport, decode_json, retry_after_seconds

YouTubeMethod = Literal["channel", "uploads", "videos", "comment_threads", "comment_replies"]
METHODS: tuple[YouTubeMethod, ...] = (
    "channel",
    "uploads",
    "videos",
    "comment_threads",
    "comment_replies",
)
MAX_IDS = 50
PACIFIC = ZoneInfo("America/Los_Angeles")
PARSER_VERSION = 1
"""The version of YouTube's parsers (this module's). Bump it in the change that alters what a
parser makes of a payload: rows record the version that normalized them, and
``sm-core reprocess`` rebuilds the older ones."""


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    """The daily quota resets at midnight Pacific time."""
    now = now or datetime.now(UTC)
    local = now.astimezone(PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - local).total_seconds()


# --------------------------------------------------------------------------- errors
_QUOTA = {"quotaExceeded", "dailyLimitExceeded"}
_RATE = {"rateLimitExceeded", "userRateLimitExceeded"}
_NOT_FOUND = {"channelNotFound", "videoNotFound", "playlistNotFound", "notFound", "commentNotFound"}
_AUTH = {
    "keyInvalid",
    "keyExpired",
    "forbidden",
    "accessNotConfigured",
    "ipRefererBlocked",
    "SERVICE_UNAVAILABLE",
    "insufficientPermissions",
}


def classify(response: httpx.Response) -> Any:
    status = response.status_code
    if status < 300:
        return payload.obj(decode_json(response), "body")
    if status >= 500:
        raise ProviderError(ErrorKind.TRANSIENT, f"HTTP {status}", status=status)
    try:
        error = response.json()["error"]
        message = str(error.get("message", ""))
        reasons = {str(e.get("reason")) for e in error.get("errors", []) if isinstance(e, dict)}
    except (ValueError, KeyError, TypeError, AttributeError):
        message, reasons = response.text[:200], set()
    if reasons & _QUOTA:
        raise ProviderError(
            ErrorKind.QUOTA_EXHAUSTED,
            message,
            status=status,
            retry_after_s=seconds_until_quota_reset(),
        )
    if status == 429 or reasons & _RATE:
        raise ProviderError(
            ErrorKind.RATE_LIMITED,
            message or "rate limited",
            status=status,
            retry_after_s=retry_after_seconds(response),
        )
    if "commentsDisabled" in reasons:
        # Not an error to retry anywhere: the video hides its comments (counted as private).
        raise ProviderError(
            ErrorKind.PRIVATE, "comments are disabled for this video", status=status
        )
    if status == 404 or reasons & _NOT_FOUND:
        raise ProviderError(ErrorKind.NOT_FOUND, message or "not found", status=status)
    if "invalidPageToken" in reasons:
        raise ProviderError(ErrorKind.CURSOR_EXPIRED, message, status=status)
    if status in (401, 403) or reasons & _AUTH:
        raise ProviderError(ErrorKind.AUTH, message, status=status)
    raise ProviderError(
        ErrorKind.BAD_PAYLOAD, f"HTTP {status} {sorted(reasons)}: {message}", status=status
    )


# --------------------------------------------------------------------------- parsers
def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise payload.bad(f"{value!r} is not an RFC 3339 time") from None


def _thumbnail(snippet: Mapping[str, Any]) -> str | None:
    thumbs = snippet.get("thumbnails") or {}
    for size in ("high", "medium", "default"):
        if isinstance(thumbs.get(size), dict) and thumbs[size].get("url"):
            return str(thumbs[size]["url"])
    return None


def parse_channel(raw: dict[str, Any]) -> Channel:
    snippet = raw.get("snippet") or {}
    stats = raw.get("statistics") or {}
    uploads = ((raw.get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
    return payload.build(
        Channel,
        "channel",
        ext_id=payload.ext_id(raw.get("id"), "channel"),
        title=payload.opt_text(snippet.get("title"), "title") or "",
        handle=payload.opt_text(snippet.get("customUrl"), "channel.customUrl"),
        description=payload.opt_text(snippet.get("description"), "description") or "",
        published_at=_time(snippet.get("publishedAt")),
        country=payload.opt_text(snippet.get("country"), "channel.country"),
        thumbnail_url=_thumbnail(snippet),
        uploads_playlist_id=payload.opt_text(uploads, "channel.uploads"),
        subscriber_count=payload.count(stats.get("subscriberCount")),
        view_count=payload.count(stats.get("viewCount")),
        video_count=payload.count(stats.get("videoCount")),
        hidden_subscriber_count=bool(stats.get("hiddenSubscriberCount")),
        raw=raw,
    )


def parse_upload(raw: dict[str, Any]) -> Upload:
    snippet = raw.get("snippet") or {}
    details = raw.get("contentDetails") or {}
    video_id = details.get("videoId") or (snippet.get("resourceId") or {}).get("videoId")
    return payload.build(
        Upload,
        "playlistItem",
        ext_id=payload.ext_id(video_id, "playlistItem.videoId"),
        playlist_item_id=payload.ext_id(raw.get("id"), "playlistItem"),
        channel_ext_id=payload.opt_text(
            snippet.get("videoOwnerChannelId") or snippet.get("channelId"), "channelId"
        ),
        title=payload.opt_text(snippet.get("title"), "title") or "",
        published_at=_time(details.get("videoPublishedAt") or snippet.get("publishedAt")),
        position=payload.count(snippet.get("position")),
        raw=raw,
    )


def parse_video(raw: dict[str, Any]) -> Video:
    snippet = raw.get("snippet") or {}
    stats = raw.get("statistics") or {}
    return payload.build(
        Video,
        "video",
        ext_id=payload.ext_id(raw.get("id"), "video"),
        channel_ext_id=payload.opt_text(snippet.get("channelId"), "video.channelId"),
        title=payload.opt_text(snippet.get("title"), "title") or "",
        description=payload.opt_text(snippet.get("description"), "description") or "",
        published_at=_time(snippet.get("publishedAt")),
        duration=payload.opt_text((raw.get("contentDetails") or {}).get("duration"), "duration"),
        tags=[payload.text(t, "video.tags[]") for t in snippet.get("tags") or []],
        thumbnail_url=_thumbnail(snippet),
        view_count=payload.count(stats.get("viewCount")),
        like_count=payload.count(stats.get("likeCount")),
        comment_count=payload.count(stats.get("commentCount")),
        raw=raw,
    )


def parse_comment_thread(raw: dict[str, Any]) -> Comment:
    snippet = raw.get("snippet") or {}
    top = payload.obj(
        (snippet.get("topLevelComment") or {}).get("snippet"), "commentThread.topLevelComment"
    )
    author = top.get("authorChannelId")
    created = _time(top.get("publishedAt"))
    if created is None:
        raise payload.bad("commentThread: topLevelComment has no publishedAt")
    return payload.build(
        Comment,
        "commentThread",
        ext_id=payload.ext_id(raw.get("id"), "commentThread"),
        post_ext_id=payload.ext_id(
            snippet.get("videoId") or top.get("videoId"), "commentThread.videoId"
        ),
        text=payload.opt_text(top.get("textOriginal"), "textOriginal")
        or payload.opt_text(top.get("textDisplay"), "textDisplay")
        or "",
        created_at=created,
        like_count=payload.count(top.get("likeCount")),
        reply_count=payload.count(snippet.get("totalReplyCount")),
        author_ext_id=payload.opt_text(author.get("value"), "authorChannelId")
        if isinstance(author, dict)
        else None,
        author_name=payload.opt_text(top.get("authorDisplayName"), "authorDisplayName"),
        author_avatar_url=payload.opt_text(top.get("authorProfileImageUrl"), "authorProfileImage"),
        raw=raw,
    )


def parse_reply(raw: dict[str, Any], video_id: str) -> Comment:
    """A reply of ``comments.list parentId=…`` (its snippet names its thread: ``parentId``)."""
    snippet = payload.obj(raw.get("snippet"), "comment.snippet")
    author = snippet.get("authorChannelId")
    created = _time(snippet.get("publishedAt"))
    if created is None:
        raise payload.bad("comment: no publishedAt")
    return payload.build(
        Comment,
        "comment",
        ext_id=payload.ext_id(raw.get("id"), "comment"),
        post_ext_id=video_id,
        parent_ext_id=payload.ext_id(snippet.get("parentId"), "comment.parentId"),
        text=payload.opt_text(snippet.get("textOriginal"), "textOriginal")
        or payload.opt_text(snippet.get("textDisplay"), "textDisplay")
        or "",
        created_at=created,
        like_count=payload.count(snippet.get("likeCount")),
        author_ext_id=payload.opt_text(author.get("value"), "authorChannelId")
        if isinstance(author, dict)
        else None,
        author_name=payload.opt_text(snippet.get("authorDisplayName"), "authorDisplayName"),
        author_avatar_url=payload.opt_text(
            snippet.get("authorProfileImageUrl"), "authorProfileImage"
        ),
        raw=raw,
    )


def _list_page(
    parse: Callable[[dict[str, Any]], Any], *, per_item: bool = True
) -> Callable[[dict[str, Any]], payload.PageParts]:
    """A list response's parser; ``per_item``: a malformed item is set aside, not fatal."""

    def page(body: dict[str, Any]) -> payload.PageParts:
        raws = payload.items_of(body, "items", body.get("kind", "list"))
        items = payload.each(raws, parse) if per_item else [parse(i) for i in raws]
        cursor = body.get("nextPageToken") or None
        return items, cursor, cursor is not None

    return page


def _threads_page(body: dict[str, Any]) -> payload.PageParts:
    """Comment threads, each followed by the replies it embeds (a few: the rest come from
    ``comments.list``)."""
    threads, cursor, more = _list_page(parse_comment_thread)(body)
    items: list[Any] = []
    for thread in threads:
        items.append(thread)
        if isinstance(thread, Comment):
            embedded = (thread.raw.get("replies") or {}).get("comments") or []
            items += payload.each(
                embedded if isinstance(embedded, list) else [],
                functools.partial(parse_reply, video_id=thread.post_ext_id),
            )
    return items, cursor, more


_PARSE: dict[YouTubeMethod, Callable[[dict[str, Any]], payload.PageParts]] = {
    "channel": _list_page(parse_channel, per_item=False),
    "uploads": _list_page(parse_upload),
    "videos": _list_page(parse_video),
    "comment_threads": _threads_page,
}


def page_parser(
    method: YouTubeMethod, params: Mapping[str, Any]
) -> Callable[[dict[str, Any]], payload.PageParts]:
    """The parser of one method's answers (``params``: the call's, as the facade passed them)."""
    if method == "comment_replies":
        video = str(params["video_id"])
        return _list_page(lambda raw: parse_reply(raw, video))
    return _PARSE[method]


def _query(method: YouTubeMethod, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if method == "channel":
        query = {"part": "snippet,statistics,contentDetails"}
        if params.get("channel_id"):
            query["id"] = params["channel_id"]
        else:
            handle = str(params["handle"])
            query["forHandle"] = handle if handle.startswith("@") else f"@{handle}"
        return "channels", query
    if method == "uploads":
        return "playlistItems", {
            "part": "snippet,contentDetails",
            "playlistId": params["playlist_id"],
            "maxResults": 50,
        }
    if method == "videos":
        return "videos", {
            "part": "snippet,statistics,contentDetails",
            "id": ",".join(params["ids"]),
        }
    if method == "comment_replies":
        return "comments", {
            "part": "snippet",
            "parentId": params["parent_id"],
            "maxResults": 100,
            "textFormat": "plainText",
        }
    return "commentThreads", {
        "part": "snippet,replies",
        "videoId": params["video_id"],
        "maxResults": 100,
        "textFormat": "plainText",
    }


class YouTubeApi:
    """The ``youtube`` provider."""

    def __init__(
        self, transport: Transport, *, base_url: str, api_key: str, name: str = "youtube"
    ) -> None:
        self.name = name
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self._key = api_key

    async def fetch(
        self, method: YouTubeMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        resource, query = _query(method, params)
        if cursor is not None:
            query["pageToken"] = cursor
        request = self.transport.client.build_request(
            "GET", f"{self.base_url}/youtube/v3/{resource}", params={**query, "key": self._key}
        )
        answer = await self.transport.request(method, request, classify)
        body = answer.payload

        def parse() -> payload.PageParts:
            parts = page_parser(method, params)(body)
            if method == "channel" and not parts[0]:
                # channels.list answers an unknown id with 200 and no items.
                raise ProviderError(ErrorKind.NOT_FOUND, "no such channel", status=200)
            return parts

        return payload.answered(
            self.name,
            method,
            body,
            parse,
            {"provider": self.name, "endpoint": resource, "params": query},
            served_at=answer.served_at,
        )


class YouTube:
    """The facade for YouTube: one provider today, the same contract as Instagram's."""

    def __init__(self, apis: Sequence[YouTubeApi]) -> None:
        self.apis = list(apis)

    async def _call(
        self,
        method: YouTubeMethod,
        params: dict[str, Any],
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Any]:
        return await call_with_failover(
            self.apis,
            lambda api: api.fetch(method, params, end_cursor),
            cursor=end_cursor,
            last_provider_name=last_provider_name,
            method=method,
        )

    async def channel(
        self, *, channel_id: str | None = None, handle: str | None = None
    ) -> Page[Channel]:
        if (channel_id is None) == (handle is None):
            raise ValueError("channel takes a channel_id or a handle")
        return await self._call("channel", {"channel_id": channel_id, "handle": handle})

    async def uploads(
        self,
        *,
        playlist_id: str,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Upload]:
        return await self._call(
            "uploads", {"playlist_id": playlist_id}, end_cursor, last_provider_name
        )

    async def videos(self, *, ids: Sequence[str]) -> Page[Video]:
        """Up to 50 videos with statistics in one call; unknown ids are left out."""
        if not ids or len(ids) > MAX_IDS:
            raise ValueError(f"videos takes 1 to {MAX_IDS} ids, got {len(ids)}")
        return await self._call("videos", {"ids": [str(i) for i in ids]})

    async def comment_threads(
        self, *, video_id: str, end_cursor: str | None = None, last_provider_name: str | None = None
    ) -> Page[Comment]:
        return await self._call(
            "comment_threads", {"video_id": video_id}, end_cursor, last_provider_name
        )

    async def comment_replies(
        self,
        *,
        video_id: str,
        parent_id: str,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Comment]:
        """Every reply of a comment thread (``parent_id``: the thread's id), 100 a page."""
        return await self._call(
            "comment_replies",
            {"video_id": video_id, "parent_id": parent_id},
            end_cursor,
            last_provider_name,
        )
