"""Normalized records the providers return, and the page that carries them.

Every record has ``ext_id`` (a string: Instagram ids exceed 2^53) and ``raw``, the provider's
payload for that record exactly as received.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from smcore.providers.errors import ErrorKind


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ext_id: str = Field(min_length=1)
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Profile(Record):
    """An Instagram account, as user_info returns it."""

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


class Account(Record):
    """A follower or followed account (the short user shape)."""

    username: str
    full_name: str = ""
    avatar_url: str | None = None
    is_private: bool = False
    is_verified: bool = False


class Media(Record):
    """One photo or video of a post."""

    media_type: Literal["photo", "video"]
    url: str | None = None
    width: int | None = None
    height: int | None = None
    video_url: str | None = None


class Post(Record):
    """A post (feed item or reel): one caption, one or many media."""

    code: str | None = None
    taken_at: datetime
    kind: Literal["photo", "video", "carousel"]
    product_type: str | None = None
    caption: str | None = None
    like_count: int | None = None
    comment_count: int | None = None
    play_count: int | None = None
    owner_ext_id: str | None = None
    media: list[Media] = Field(default_factory=list)


class Comment(Record):
    """A comment on a post or video (YouTube: the top-level comment of a thread)."""

    post_ext_id: str
    text: str
    created_at: datetime
    like_count: int | None = None
    reply_count: int | None = None
    author_ext_id: str | None = None
    author_username: str | None = None
    author_name: str | None = None
    author_avatar_url: str | None = None


class Highlight(Record):
    title: str
    media_count: int | None = None
    created_at: datetime | None = None
    cover_url: str | None = None


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


class Upload(Record):
    """An entry of an uploads playlist: ``ext_id`` is the video id."""

    playlist_item_id: str
    channel_ext_id: str | None = None
    title: str = ""
    published_at: datetime | None = None
    position: int | None = None


class Video(Record):
    """A YouTube video with its statistics (None where the response had no statistics)."""

    channel_ext_id: str | None = None
    title: str = ""
    description: str = ""
    published_at: datetime | None = None
    duration: str | None = None
    tags: list[str] = Field(default_factory=list)
    thumbnail_url: str | None = None
    view_count: int | None = None
    like_count: int | None = None
    comment_count: int | None = None


class Failure(BaseModel):
    """Why a page could not be fetched."""

    model_config = ConfigDict(frozen=True)

    kind: ErrorKind
    message: str
    provider: str | None = None
    status: int | None = None
    retry_after_s: float | None = None


T = TypeVar("T", bound=Record)


class Page(BaseModel, Generic[T]):
    """One provider request's outcome: the seed's Insteon result.

    ``end_cursor`` belongs to ``api_provider``: pass both back for the next page.
    """

    success: bool
    items: list[T] = Field(default_factory=list)
    end_cursor: str | None = None
    has_more: bool = False
    api_provider: str | None = None
    error: Failure | None = None
    # Every provider tried, in order, when failover happened (the last one is `error`).
    failures: list[Failure] = Field(default_factory=list)
    # What was asked and answered, for the raw layer (keys never included).
    request: dict[str, Any] = Field(default_factory=dict, repr=False)
    response: Any = Field(default=None, repr=False)

    @property
    def item(self) -> T | None:
        """The single item of a one-record call (user_info, channel)."""
        return self.items[0] if self.items else None
