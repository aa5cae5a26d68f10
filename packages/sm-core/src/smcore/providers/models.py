"""Normalized records the providers return, and the page that carries them.

Every record has ``ext_id`` (a string: Instagram ids exceed 2^53) and ``raw``, the provider's
payload for that record exactly as received. Records are plain frozen dataclasses: the parsers
in ``payload`` / ``instagram`` / ``youtube`` check every field on the way in, once, and a page of
50 followers costs microseconds, not a second validation pass. (Not frozen: a frozen
dataclass's ``__init__`` costs three times as much, and nothing mutates a record anyway.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from smcore.providers.errors import ErrorKind


@dataclass(slots=True, kw_only=True)
class Record:
    ext_id: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(slots=True, kw_only=True)
class Profile(Record):
    """An account with its public page (Instagram, TikTok), as user_info returns it."""

    username: str
    full_name: str = ""
    biography: str = ""
    avatar_url: str | None = None
    external_url: str | None = None
    is_private: bool = False
    is_verified: bool = False
    followers_count: int | None = None
    follows_count: int | None = None
    posts_count: int | None = None
    likes_total: int | None = None  # TikTok: likes of all its videos ("heartCount")
    sec_uid: str | None = None  # TikTok: the secure id its listings are asked by


@dataclass(slots=True, kw_only=True)
class Account(Record):
    """A follower or followed account (the short user shape)."""

    username: str
    full_name: str = ""
    avatar_url: str | None = None
    is_private: bool = False
    is_verified: bool = False


@dataclass(slots=True, kw_only=True)
class Media(Record):
    """One photo or video of a post."""

    media_type: Literal["photo", "video"]
    url: str | None = None
    width: int | None = None
    height: int | None = None
    video_url: str | None = None


@dataclass(slots=True, kw_only=True)
class Post(Record):
    """A post (feed item, reel, story, TikTok video): one caption, one or many media."""

    code: str | None = None
    taken_at: datetime
    kind: Literal["photo", "video", "carousel"]
    product_type: str | None = None
    caption: str | None = None
    like_count: int | None = None
    comment_count: int | None = None
    play_count: int | None = None
    share_count: int | None = None
    save_count: int | None = None  # TikTok: "collectCount"
    expires_at: datetime | None = None  # a story: when it vanishes
    duration_s: float | None = None
    owner_ext_id: str | None = None
    pinned: bool = False  # pinned to the top of the owner's feed, whatever its age
    media: list[Media] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Comment(Record):
    """A comment on a post or video (YouTube: the top-level comment of a thread), or a reply
    to one (``parent_ext_id``: the comment it answers)."""

    post_ext_id: str
    text: str
    created_at: datetime
    like_count: int | None = None
    reply_count: int | None = None
    author_ext_id: str | None = None
    author_username: str | None = None
    author_name: str | None = None
    author_avatar_url: str | None = None
    parent_ext_id: str | None = None


@dataclass(slots=True, kw_only=True)
class Highlight(Record):
    title: str
    media_count: int | None = None
    created_at: datetime | None = None
    cover_url: str | None = None


@dataclass(slots=True, kw_only=True)
class Channel(Record):
    """A YouTube channel with its statistics."""

    title: str
    handle: str | None = None
    description: str = ""
    published_at: datetime | None = None
    country: str | None = None
    thumbnail_url: str | None = None
    uploads_playlist_id: str | None = None
    subscriber_count: int | None = None
    view_count: int | None = None
    video_count: int | None = None
    hidden_subscriber_count: bool = False


@dataclass(slots=True, kw_only=True)
class Upload(Record):
    """An entry of an uploads playlist: ``ext_id`` is the video id."""

    playlist_item_id: str
    channel_ext_id: str | None = None
    title: str = ""
    published_at: datetime | None = None
    position: int | None = None


@dataclass(slots=True, kw_only=True)
class Video(Record):
    """A YouTube video with its statistics (None where the response had no statistics)."""

    channel_ext_id: str | None = None
    title: str = ""
    description: str = ""
    published_at: datetime | None = None
    duration: str | None = None
    tags: list[str] = field(default_factory=list)
    thumbnail_url: str | None = None
    view_count: int | None = None
    like_count: int | None = None
    comment_count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a page could not be fetched."""

    kind: ErrorKind
    message: str
    provider: str | None = None
    status: int | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """An item of a page that did not parse: kept aside (quarantined), not fatal to its page."""

    raw: Any
    reason: str
    ext_id: str | None = None


T = TypeVar("T", bound=Record)


@dataclass(slots=True, kw_only=True)
class Page(Generic[T]):
    """One provider request's outcome: the seed's Insteon result.

    ``end_cursor`` belongs to ``api_provider``: pass both back for the next page.
    """

    success: bool
    items: list[T] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    end_cursor: str | None = None
    has_more: bool = False
    api_provider: str | None = None
    error: Failure | None = None
    # Every provider tried, in order, when failover happened (the last one is `error`).
    failures: list[Failure] = field(default_factory=list)
    # What was asked and answered, for the raw layer (keys never included).
    request: dict[str, Any] = field(default_factory=dict, repr=False)
    response: Any = field(default=None, repr=False)
    # When the provider answered, by its own clock (its Date header).
    served_at: datetime | None = None

    @property
    def item(self) -> T | None:
        """The single item of a one-record call (user_info, channel)."""
        return self.items[0] if self.items else None

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        """The seed's fields as JSON-ready data; items without their raw payload unless asked."""
        return {
            "success": self.success,
            "items": [jsonable(item, raw=raw) for item in self.items],
            "rejected": [jsonable(r) for r in self.rejected],
            "end_cursor": self.end_cursor,
            "has_more": self.has_more,
            "api_provider": self.api_provider,
            "error": jsonable(self.error) if self.error else None,
            "failures": [jsonable(f) for f in self.failures],
        }


def jsonable(record: Any, *, raw: bool = True) -> dict[str, Any]:
    """A record or failure as a JSON-ready dict (datetimes ISO 8601, enums their value)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name == "raw" and not raw:
            continue
        value = getattr(record, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, ErrorKind):
            value = value.value
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            value = [jsonable(v, raw=raw) for v in value]
        out[f.name] = value
    return out
