"""SQLAlchemy 2 typed models of SM Core's tables (the seed's sections 5.1 to 5.5 and 000_…).

Every column beyond a table's natural key has a database default, so rows written by any
writer (COPY, plain SQL, another service) are valid. Row times are ``created_at`` /
``updated_at``; where the seed gives an item its own time (a comment's ``created_at``) that is
the provider's time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from devstack.migrations import NAMING


class Status(StrEnum):
    """Execution status of a JobCall or ServiceCall (000_…, note 1)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"
    SKIPPED = "skipped"


STATUSES = ", ".join(f"'{s.value}'" for s in Status)
FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.PARTIAL, Status.SKIPPED})
"""The statuses a JobCall or ServiceCall never leaves."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _text(default: str = "") -> Any:
    return mapped_column(Text, server_default=text(f"'{default}'"), nullable=False)


def _int() -> Any:
    return mapped_column(Integer, server_default=text("0"), nullable=False)


def _bigint() -> Any:
    return mapped_column(BigInteger, server_default=text("0"), nullable=False)


def _flag(default: bool = False) -> Any:
    return mapped_column(
        Boolean, server_default=text("true" if default else "false"), nullable=False
    )


def _json(default: str = "{}") -> Any:
    return mapped_column(JSONB, server_default=text(f"'{default}'::jsonb"), nullable=False)


class ProviderRateLimit(Base):
    """Shared request budget of one API provider (GCRA: the theoretical arrival time).

    Every worker, in every process and on every machine, reserves its slot here, so a
    provider's limit holds for the whole fleet.
    """

    __tablename__ = "provider_rate_limits"

    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[datetime] = _now()


class SocialProfile(Base):
    """A blogger or brand account on a platform (YouTube: a channel)."""

    __tablename__ = "social_profiles"
    __table_args__ = (UniqueConstraint("platform", "ext_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    username: Mapped[str] = _text()
    full_name: Mapped[str] = _text()
    bio: Mapped[str] = _text()
    avatar: Mapped[str] = _text()
    url: Mapped[str] = _text()
    followers_count: Mapped[int] = _int()
    follows_count: Mapped[int] = _int()
    posts_count: Mapped[int] = _int()
    views_count: Mapped[int | None] = mapped_column(BigInteger)  # YouTube: the channel's views
    engagement_rate: Mapped[float] = mapped_column(Double, server_default=text("0"), nullable=False)
    is_private: Mapped[bool] = _flag()
    is_verified: Mapped[bool] = _flag()
    sec_uid: Mapped[str | None] = mapped_column(Text)  # TikTok: what its listings are asked by
    raw_data: Mapped[dict[str, Any]] = _json()
    parser_version: Mapped[str] = _text()  # of the parser that normalized raw_data into this row
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Follower(Base):
    """An account that follows a profile or that a profile follows."""

    __tablename__ = "followers"
    __table_args__ = (UniqueConstraint("platform", "ext_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    username: Mapped[str] = _text()
    full_name: Mapped[str] = _text()
    avatar: Mapped[str] = _text()
    is_private: Mapped[bool] = _flag()
    is_verified: Mapped[bool] = _flag()
    raw_data: Mapped[dict[str, Any]] = _json()
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Subscription(Base):
    """The current follow state: ``direction`` 'follower' (the account follows the profile) or
    'following' (the profile follows the account). ``last_seen_job_call_id`` is the sync pass
    that last saw it; after a complete pass, active rows it did not see are unfollows. Every
    change is also kept as a :class:`FollowEvent`; ``followed_at`` is the current period's.

    Hash-partitioned by profile (migration 0007): the key is ``(id, social_profile_id)``."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("social_profile_id", "follower_id", "direction"),
        CheckConstraint("direction IN ('follower', 'following')", name="direction"),
        Index("ix_subscriptions_pass", "social_profile_id", "direction", "last_seen_job_call_id"),
        {"postgresql_partition_by": "HASH (social_profile_id)"},
    )

    # autoincrement: the key is composite, and the sequence still numbers rows by ``id`` alone.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    social_profile_id: Mapped[int] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    follower_id: Mapped[int] = mapped_column(
        ForeignKey("followers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    direction: Mapped[str] = _text("follower")
    active: Mapped[bool] = _flag(True)
    followed_at: Mapped[datetime] = _now()
    unfollowed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_job_call_id: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class FollowEvent(Base):
    """One follow or unfollow observation: it happened after ``not_before`` (the last
    observation that saw the other state; NULL: before monitoring began) and by
    ``observed_at``.

    Hash-partitioned by profile like :class:`Subscription` (migration 0007), so an event and
    its subscription sit in partitions of the same number."""

    __tablename__ = "follow_events"
    __table_args__ = (
        CheckConstraint("kind IN ('follow', 'unfollow')", name="kind"),
        Index("ix_follow_events_profile", "social_profile_id", "direction", "observed_at"),
        # The subscription's key includes the partition key (its profile).
        ForeignKeyConstraint(
            ["subscription_id", "social_profile_id"],
            ["subscriptions.id", "subscriptions.social_profile_id"],
            ondelete="CASCADE",
        ),
        {"postgresql_partition_by": "HASH (social_profile_id)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    social_profile_id: Mapped[int] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    direction: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    observed_at: Mapped[datetime] = _now()
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    job_call_id: Mapped[int | None] = mapped_column(BigInteger)


class FollowPass(Base):
    """One follower (or following) listing of a profile by one job, and its coverage.

    ``complete``: the listing reached the profile's own count, so what it missed has left.
    """

    __tablename__ = "follow_passes"
    __table_args__ = (UniqueConstraint("social_profile_id", "direction", "job_call_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    social_profile_id: Mapped[int] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="CASCADE"), nullable=False
    )
    direction: Mapped[str] = mapped_column(Text, nullable=False)
    job_call_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expected: Mapped[int | None] = mapped_column(BigInteger)
    reached: Mapped[int] = _bigint()
    quarantined: Mapped[int] = _bigint()
    complete: Mapped[bool] = _flag()
    unfollows: Mapped[int] = _bigint()
    finished_at: Mapped[datetime] = _now()


class HistoryFrontier(Base):
    """Where a profile's history backfill of one stream stands: resumed by the next sync."""

    __tablename__ = "history_frontiers"

    social_profile_id: Mapped[int] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(Text, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    complete: Mapped[bool] = _flag()
    pages: Mapped[int] = _bigint()
    updated_at: Mapped[datetime] = _now()


class QuarantinedItem(Base):
    """An item a provider sent malformed: kept aside with its raw payload and the reason."""

    __tablename__ = "quarantined_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_call_id: Mapped[int] = mapped_column(
        ForeignKey("job_calls.id", ondelete="CASCADE"), nullable=False, index=True
    )
    service_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_calls.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    stream: Mapped[str] = mapped_column(Text, nullable=False)
    ext_id: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    raw: Mapped[Any] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = _now()


class Post(Base):
    """A post, reel or video: one caption, many media."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("platform", "ext_id"),
        Index("ix_posts_profile_taken", "social_profile_id", "taken_at"),
        Index("ix_posts_profile_product", "social_profile_id", "product_type", "taken_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    social_profile_id: Mapped[int] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="CASCADE"), nullable=False
    )
    code: Mapped[str] = _text()
    kind: Mapped[str] = _text("photo")
    # Instagram's product type ("feed", "carousel_container", "clips" for a reel, "story"),
    # "video" for a TikTok video, "" for a YouTube video.
    product_type: Mapped[str] = _text()
    title: Mapped[str] = _text()
    caption: Mapped[str] = _text()
    taken_at: Mapped[datetime] = _now()
    likes_count: Mapped[int] = _bigint()
    comments_count: Mapped[int] = _bigint()
    views_count: Mapped[int] = _bigint()
    shares_count: Mapped[int] = _bigint()
    saves_count: Mapped[int] = _bigint()
    pinned: Mapped[bool] = _flag()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a story's
    # Coverage of the likers listing: listed by the last likers sync, of the total it reported.
    likers_listed: Mapped[int | None] = mapped_column(Integer)
    likers_total: Mapped[int | None] = mapped_column(BigInteger)
    likers_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comments_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    raw_data: Mapped[dict[str, Any]] = _json()
    parser_version: Mapped[str] = _text()  # of the parser that normalized raw_data into this row
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Fetch(StrEnum):
    """Where a media file stands (``media.fetch_status``): its CDN link expires within days."""

    PENDING = "pending"  # not downloaded yet
    STORED = "stored"  # in the object store under ``object_key``
    EXPIRED = "expired"  # the link expired before the download: waits for a fresh link
    FAILED = "failed"  # the CDN refused it for good, or every attempt failed


class Media(Base):
    """One photo or video of a post, and its file in the object store once downloaded."""

    __tablename__ = "media"
    __table_args__ = (
        UniqueConstraint("post_id", "ext_id"),
        CheckConstraint(
            "fetch_status IN (" + ", ".join(f"'{f.value}'" for f in Fetch) + ")",
            name="fetch_status",
        ),
        Index(
            "ix_media_fetch_pending",
            "post_id",
            postgresql_where=text(f"fetch_status = '{Fetch.PENDING.value}'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = _int()
    media_type: Mapped[str] = _text("photo")
    url: Mapped[str] = _text()
    video_url: Mapped[str] = _text()
    width: Mapped[int] = _int()
    height: Mapped[int] = _int()
    # When the CDN link stops working (Instagram's ``oe``, TikTok's ``x-expires``), if it says.
    url_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fetch_status: Mapped[str] = _text(Fetch.PENDING)
    fetch_attempts: Mapped[int] = _int()
    fetch_error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    object_key: Mapped[str | None] = mapped_column(Text)  # content addressed: media/ab/<sha256>.ext
    content_type: Mapped[str] = _text()
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class AnalysisStatus(StrEnum):
    """An analysis of a media file or a text (``analyses.status``): the remote job's status,
    and ``unsubmitted`` while the analysis service has not accepted it yet."""

    UNSUBMITTED = "unsubmitted"
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class Analysis(Base):
    """The Transform stage's analysis of one subject: a media file (image or video job), a
    post's caption or a comment (text jobs, many subjects to one remote job), or a post's
    forecast (prediction job; asked again by each sync that observes the post anew)."""

    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "kind"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s.value}'" for s in AnalysisStatus) + ")",
            name="status",
        ),
        Index(
            "ix_analyses_open",
            "next_check_at",
            postgresql_where=text("status IN ('unsubmitted', 'pending', 'processing')"),
        ),
        Index("ix_analyses_remote", "remote_job_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    subject_type: Mapped[str] = mapped_column(Text, nullable=False)  # media | post | comment
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)  # image | video | text | prediction
    status: Mapped[str] = _text(AnalysisStatus.UNSUBMITTED)
    remote_job_id: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = _int()
    next_check_at: Mapped[datetime] = _now()
    error_code: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    result: Mapped[dict[str, Any]] = _json()
    versions: Mapped[dict[str, Any]] = _json()  # the analysis version: producer, config hash
    job_call_id: Mapped[int | None] = mapped_column(BigInteger)  # the sync that submitted it
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Mention(Base):
    """An ``@handle`` found in a post's caption, one of its comments, or on screen, resolved to
    a stored profile of the same platform when there is one."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint(
            "post_id", "comment_id", "source", "handle", postgresql_nulls_not_distinct=True
        ),
        Index("ix_mentions_profile", "mentioned_profile_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text, nullable=False)  # caption | comment | on_screen
    handle: Mapped[str] = mapped_column(Text, nullable=False)  # lower case, without the @
    mentioned_profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _now()


class Comment(Base):
    """A comment on a post (YouTube: a comment thread's top-level comment), or a reply to one
    (``parent_id``)."""

    __tablename__ = "comments"
    __table_args__ = (
        UniqueConstraint("platform", "ext_id"),
        # A post's comments page by page, newest first (migration 0011).
        Index("ix_comments_post_time", "post_id", "created_at", "id"),
        Index("ix_comments_parent", "parent_id"),
        Index("ix_comments_author", "author_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("followers.id", ondelete="SET NULL"))
    author_ext_id: Mapped[str] = _text()
    author_username: Mapped[str] = _text()
    author_name: Mapped[str] = _text()
    text: Mapped[str] = _text()
    likes_count: Mapped[int] = _int()
    replies_count: Mapped[int] = _int()
    raw_data: Mapped[dict[str, Any]] = _json()
    parser_version: Mapped[str] = _text()  # of the parser that normalized raw_data into this row
    created_at: Mapped[datetime] = _now()  # the provider's time of the comment
    updated_at: Mapped[datetime] = _now()


class Like(Base):
    """An account that liked a post, as its likers listing showed it (``created_at``: first
    seen; ``job_call_id``: the sync that last listed it)."""

    __tablename__ = "likes"
    __table_args__ = (
        UniqueConstraint("post_id", "liker_ext_id"),
        Index("ix_likes_liker", "liker_id"),
        # A post's likers page by page, most recently seen first (migration 0011).
        Index("ix_likes_post_time", "post_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=False)
    liker_id: Mapped[int | None] = mapped_column(ForeignKey("followers.id", ondelete="SET NULL"))
    liker_ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    liker_username: Mapped[str] = _text()
    job_call_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Highlight(Base):
    """A story highlight of a profile; its stories are posts (``product_type`` "story")."""

    __tablename__ = "highlights"
    __table_args__ = (UniqueConstraint("social_profile_id", "ext_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    social_profile_id: Mapped[int] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="CASCADE"), nullable=False
    )
    ext_id: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = _text()
    media_count: Mapped[int | None] = mapped_column(Integer)
    cover_url: Mapped[str] = _text()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    raw_data: Mapped[dict[str, Any]] = _json()
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class HighlightItem(Base):
    """A story in a highlight."""

    __tablename__ = "highlight_items"
    __table_args__ = (Index("ix_highlight_items_post", "post_id"),)

    highlight_id: Mapped[int] = mapped_column(
        ForeignKey("highlights.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = _int()
    created_at: Mapped[datetime] = _now()


class MetricSnapshot(Base):
    """Metrics of a profile or post at one moment: the time series.

    Range-partitioned by month of ``captured_at`` (migration 0007). A job's snapshots carry the
    job's start as ``captured_at``: the same on every write of the job, so the time can be part
    of the unique key a partitioned table needs and a resumed page still finds its row."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (
        CheckConstraint("subject_type IN ('profile', 'post')", name="subject_type"),
        Index("ix_metric_snapshots_subject", "subject_type", "subject_id", "captured_at"),
        # One observation per subject per job: a resumed page writes it again, not twice.
        Index(
            "uq_metric_snapshots_subject_job",
            "subject_type",
            "subject_id",
            "job_call_id",
            "captured_at",
            unique=True,
        ),
        {"postgresql_partition_by": "RANGE (captured_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = _text("profile")
    subject_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    captured_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), primary_key=True
    )
    followers: Mapped[int | None] = mapped_column(BigInteger)
    follows: Mapped[int | None] = mapped_column(BigInteger)
    posts: Mapped[int | None] = mapped_column(BigInteger)
    views: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    comments: Mapped[int | None] = mapped_column(BigInteger)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    engagement_rate: Mapped[float | None] = mapped_column(Double)
    job_call_id: Mapped[int | None] = mapped_column(BigInteger)


class JobKind(StrEnum):
    """What a JobCall is (the seed's ``job_calls.kind``)."""

    SYNC = "sync"  # one profile's sync
    BATCH = "batch"  # many profile syncs: its children


class JobCall(Base):
    """One run of a job (000_…): a sync of one profile, a batch of them."""

    __tablename__ = "job_calls"
    __table_args__ = (
        CheckConstraint(f"status IN ({STATUSES})", name="status"),
        Index("ix_job_calls_parent", "parent_job_call_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_job_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_calls.id", ondelete="CASCADE")
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("social_profiles.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = _text("sync")
    status: Mapped[str] = _text(Status.PENDING)
    platform: Mapped[str] = _text()
    params: Mapped[dict[str, Any]] = _json()
    result_summary: Mapped[dict[str, Any]] = _json()
    error_message: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ServiceCall(Base):
    """One call inside a job: one provider request (one page) = one row, chained by
    ``parent_service_call_id``; ``cursor`` is where the next page starts."""

    __tablename__ = "service_calls"
    __table_args__ = (
        CheckConstraint(f"status IN ({STATUSES})", name="status"),
        Index("ix_service_calls_stream", "job_call_id", "stream", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_call_id: Mapped[int] = mapped_column(
        ForeignKey("job_calls.id", ondelete="CASCADE"), nullable=False
    )
    parent_service_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_calls.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = _text()
    status: Mapped[str] = _text(Status.PENDING)
    stream: Mapped[str] = _text()
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    cursor: Mapped[dict[str, Any]] = _json()
    result_summary: Mapped[dict[str, Any]] = _json()
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class RawPayload(Base):
    """The raw layer: what a provider was asked and answered, exactly.

    Range-partitioned by month of ``fetched_at`` (migration 0007); months older than
    ``RAW_RETENTION_DAYS`` are dropped whole by :mod:`smcore.store.retention`."""

    __tablename__ = "raw_payloads"
    __table_args__ = ({"postgresql_partition_by": "RANGE (fetched_at)"},)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    service_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_calls.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = _text()
    method: Mapped[str] = _text()
    request: Mapped[dict[str, Any]] = _json()
    response: Mapped[Any] = mapped_column(JSONB)
    fetched_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), primary_key=True
    )


class SyncSchedule(Base):
    """A monitored account of the fleet: what to sync, how often, and the dispatcher's state
    (``smcore.fleet``). Keyed by platform + external id once known: a username can change."""

    __tablename__ = "sync_schedules"
    __table_args__ = (
        CheckConstraint("username IS NOT NULL OR ext_id IS NOT NULL", name="account"),
        Index(
            "uq_sync_schedules_ext_id",
            "platform",
            "ext_id",
            unique=True,
            postgresql_where=text("ext_id IS NOT NULL"),
        ),
        Index(
            "uq_sync_schedules_username",
            "platform",
            "username",
            unique=True,
            postgresql_where=text("ext_id IS NULL"),
        ),
        Index(
            "ix_sync_schedules_due",
            "platform",
            "next_due_at",
            postgresql_where=text("enabled AND running_job_call_id IS NULL"),
        ),
        Index(
            "ix_sync_schedules_running",
            "running_job_call_id",
            postgresql_where=text("running_job_call_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    platform: Mapped[str] = mapped_column(Text, nullable=False)
    username: Mapped[str | None] = mapped_column(Text)
    ext_id: Mapped[str | None] = mapped_column(Text)  # Instagram pk, YouTube channel id
    scope: Mapped[str] = _text("all")
    interval_seconds: Mapped[int] = mapped_column(
        Integer, server_default=text("86400"), nullable=False
    )
    refresh_days: Mapped[float | None] = mapped_column(Double)  # None: the default window
    enabled: Mapped[bool] = _flag(True)
    next_due_at: Mapped[datetime] = _now()
    running_job_call_id: Mapped[int | None] = mapped_column(BigInteger)
    last_job_call_id: Mapped[int | None] = mapped_column(BigInteger)
    last_status: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_lag_s: Mapped[float | None] = mapped_column(Double)  # how late the last sync started
    failures: Mapped[int] = _int()  # failed syncs in a row (the backoff)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
