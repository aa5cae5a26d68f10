"""Bulk upserts of synced records (``INSERT … ON CONFLICT``): one statement per table per page.

Functions take ``conn`` and never commit. Rows with the same key inside one page are merged
first: PostgreSQL refuses to update one row twice in a single statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.providers import models as dto
from smcore.store.models import (
    Comment,
    Follower,
    FollowEvent,
    FollowPass,
    HistoryFrontier,
    Media,
    MetricSnapshot,
    Post,
    QuarantinedItem,
    SocialProfile,
    Subscription,
)
from smcore.sync.models import Platform


def _unique(rows: Iterable[dict[str, Any]], key: str = "ext_id") -> list[dict[str, Any]]:
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        merged[row[key]] = row
    return list(merged.values())


def _updates(table: Any, excluded: Any, columns: Sequence[str]) -> dict[str, Any]:
    values = {c: getattr(excluded, c) for c in columns}
    values["updated_at"] = func.now()
    return values


# ---------------------------------------------------------------------------------- statements
# Built once: each page executes the same statement with new rows (SQLAlchemy batches them into
# multi-row INSERTs), instead of compiling a new statement whose text holds the rows (~20 ms).
_FOLLOWER = pg_insert(Follower)
_FOLLOWER_UPSERT = _FOLLOWER.on_conflict_do_update(
    index_elements=[Follower.platform, Follower.ext_id],
    set_=_updates(
        Follower,
        _FOLLOWER.excluded,
        ["username", "full_name", "avatar", "is_private", "is_verified", "raw_data"],
    ),
).returning(Follower.id, sort_by_parameter_order=True)
_SUBSCRIPTION = pg_insert(Subscription)
_SUBSCRIPTION_UPSERT: Any = _SUBSCRIPTION.on_conflict_do_update(
    index_elements=[
        Subscription.social_profile_id,
        Subscription.follower_id,
        Subscription.direction,
    ],
    set_={
        "active": True,
        "unfollowed_at": None,
        "last_seen_job_call_id": _SUBSCRIPTION.excluded.last_seen_job_call_id,
        "last_seen_at": func.now(),
        "updated_at": func.now(),
        # A re-follow starts a new follow period (the earlier one stays in follow_events).
        "followed_at": case((Subscription.active, Subscription.followed_at), else_=func.now()),
    },
    # PostgreSQL 18: old.active is NULL for an inserted row, false for a re-follow.
).returning(Subscription.id, literal_column("old.active"), sort_by_parameter_order=True)
_SUBSCRIPTION_UPSERT = _SUBSCRIPTION_UPSERT.values(last_seen_at=func.now())
_POST_COLUMNS = [
    "code",
    "kind",
    "title",
    "caption",
    "taken_at",
    "likes_count",
    "comments_count",
    "views_count",
    "pinned",
    "raw_data",
]
_POST = pg_insert(Post)
_POST_UPSERT = _POST.on_conflict_do_update(
    index_elements=[Post.platform, Post.ext_id], set_=_updates(Post, _POST.excluded, _POST_COLUMNS)
).returning(Post.id, Post.ext_id, sort_by_parameter_order=True)
# Outside the refresh window a stored post stays as it is: only posts new to the store go in.
_POST_INSERT_NEW = _POST.on_conflict_do_nothing(
    index_elements=[Post.platform, Post.ext_id]
).returning(Post.id, Post.ext_id)
_MEDIA = pg_insert(Media)
_MEDIA_UPSERT = _MEDIA.on_conflict_do_update(
    index_elements=[Media.post_id, Media.ext_id],
    set_=_updates(
        Media, _MEDIA.excluded, ["position", "media_type", "url", "video_url", "width", "height"]
    ),
)
_COMMENT = pg_insert(Comment)
_COMMENT_UPSERT = _COMMENT.on_conflict_do_update(
    index_elements=[Comment.platform, Comment.ext_id],
    set_=_updates(
        Comment,
        _COMMENT.excluded,
        ["text", "likes_count", "replies_count", "raw_data", "author_username", "author_name"],
    ),
)


# ---------------------------------------------------------------------------------- profiles
async def upsert_profile(conn: AsyncConnection, platform: str, row: dict[str, Any]) -> int:
    """Insert or refresh a profile; returns its id."""
    stmt = pg_insert(SocialProfile).values(platform=platform, last_synced_at=func.now(), **row)
    upsert = stmt.on_conflict_do_update(
        index_elements=[SocialProfile.platform, SocialProfile.ext_id],
        set_={
            **_updates(SocialProfile, stmt.excluded, list(row)),
            "last_synced_at": func.now(),
        },
    ).returning(SocialProfile.id)
    profile_id: int = await conn.scalar(upsert)  # type: ignore[assignment]  # RETURNING id
    return profile_id


def instagram_profile_row(profile: dto.Profile) -> dict[str, Any]:
    return {
        "ext_id": profile.ext_id,
        "username": profile.username,
        "full_name": profile.full_name,
        "bio": profile.biography,
        "avatar": profile.avatar_url or "",
        "url": f"https://www.instagram.com/{profile.username}/",
        "followers_count": profile.followers_count or 0,
        "follows_count": profile.follows_count or 0,
        "posts_count": profile.posts_count or 0,
        "is_private": profile.is_private,
        "is_verified": profile.is_verified,
        "raw_data": profile.raw,
    }


def youtube_channel_row(channel: dto.Channel) -> dict[str, Any]:
    handle = (channel.handle or "").lstrip("@")
    return {
        "ext_id": channel.ext_id,
        "username": handle,
        "full_name": channel.title,
        "bio": channel.description,
        "avatar": channel.thumbnail_url or "",
        "url": f"https://www.youtube.com/channel/{channel.ext_id}",
        "followers_count": channel.subscriber_count or 0,
        "follows_count": 0,
        "posts_count": channel.video_count or 0,
        "views_count": channel.view_count,
        "raw_data": channel.raw,
    }


_METRICS = ("followers", "follows", "posts", "views", "likes", "comments", "engagement_rate")
_SNAPSHOT = pg_insert(MetricSnapshot)
_SNAPSHOT_UPSERT = _SNAPSHOT.on_conflict_do_update(
    index_elements=[
        MetricSnapshot.subject_type,
        MetricSnapshot.subject_id,
        MetricSnapshot.job_call_id,
    ],
    set_={**{m: getattr(_SNAPSHOT.excluded, m) for m in _METRICS}, "captured_at": func.now()},
)


async def snapshot(conn: AsyncConnection, rows: list[dict[str, Any]], *, job_id: int) -> None:
    """Metric snapshots, one per subject per job (``subject_type``, ``subject_id``, metrics).

    Every row carries every metric column (None where the provider gave none); a subject seen
    again by the same job (a resumed page) has its snapshot replaced, not doubled.
    """
    if rows:
        await conn.execute(
            _SNAPSHOT_UPSERT,
            [{**dict.fromkeys(_METRICS), **r, "job_call_id": job_id} for r in rows],
        )


async def profile_of(conn: AsyncConnection, profile_id: int) -> Any:
    return (await conn.execute(select(SocialProfile).where(SocialProfile.id == profile_id))).one()


# ---------------------------------------------------------------------------------- followers
async def upsert_accounts(
    conn: AsyncConnection,
    platform: str,
    profile_id: int,
    direction: str,
    accounts: Sequence[dto.Account],
    *,
    job_id: int,
    previous_pass: datetime | None,
) -> int:
    """Followers (or followings) of a profile: accounts and their subscriptions, seen by this pass.

    A follow observed after monitoring began (a subscription new since ``previous_pass``, the
    profile's last complete pass, or seen again after an unfollow) gets a ``follow`` event whose
    window opens at that pass. The first pass records the state it finds, not events: when
    those accounts followed is unknown. Returns how many follows this page observed.
    """
    rows = _unique(
        {
            "platform": platform,
            "ext_id": a.ext_id,
            "username": a.username,
            "full_name": a.full_name,
            "avatar": a.avatar_url or "",
            "is_private": a.is_private,
            "is_verified": a.is_verified,
            "raw_data": a.raw,
        }
        for a in accounts
    )
    if not rows:
        return 0
    result = await conn.execute(_FOLLOWER_UPSERT, rows)
    follower_ids = [row[0] for row in result]
    subs = [
        {
            "social_profile_id": profile_id,
            "follower_id": fid,
            "direction": direction,
            "last_seen_job_call_id": job_id,
        }
        for fid in follower_ids
    ]
    returned = (await conn.execute(_SUBSCRIPTION_UPSERT, subs)).all()
    # was_active: None for a new subscription, False for a re-follow.
    follows = [
        sub_id
        for sub_id, was_active in returned
        if was_active is False or (was_active is None and previous_pass is not None)
    ]
    if follows:
        await conn.execute(
            insert(FollowEvent),
            [
                {
                    "subscription_id": sub_id,
                    "social_profile_id": profile_id,
                    "direction": direction,
                    "kind": "follow",
                    "not_before": previous_pass,
                    "job_call_id": job_id,
                }
                for sub_id in follows
            ],
        )
    return len(follows)


async def last_complete_pass(
    conn: AsyncConnection, profile_id: int, direction: str
) -> datetime | None:
    """When the profile's newest complete pass of ``direction`` ended (None: never)."""
    value: datetime | None = await conn.scalar(
        select(func.max(FollowPass.finished_at)).where(
            FollowPass.social_profile_id == profile_id,
            FollowPass.direction == direction,
            FollowPass.complete.is_(True),
        )
    )
    return value


async def seen_in_pass(conn: AsyncConnection, profile_id: int, direction: str, job_id: int) -> int:
    count: int = await conn.scalar(  # type: ignore[assignment]  # count(*) is never NULL
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.social_profile_id == profile_id,
            Subscription.direction == direction,
            Subscription.last_seen_job_call_id == job_id,
        )
    )
    return count


_UNFOLLOW = text(
    """
    WITH gone AS (
        UPDATE subscriptions SET active = false, unfollowed_at = now(), updated_at = now()
        WHERE social_profile_id = :profile AND direction = :direction AND active
          AND coalesce(last_seen_job_call_id, -1) <> :job
        RETURNING id, last_seen_at
    )
    INSERT INTO follow_events
        (subscription_id, social_profile_id, direction, kind, not_before, job_call_id)
    SELECT id, :profile, :direction, 'unfollow', last_seen_at, :job FROM gone
    """
)


async def record_pass(
    conn: AsyncConnection,
    profile_id: int,
    direction: str,
    job_id: int,
    *,
    expected: int | None,
    reached: int,
    quarantined: int,
    complete: bool,
) -> int:
    """Record a pass's coverage; after a complete one, the active subscriptions it did not see
    end with an ``unfollow`` event (window: last seen → now). Returns the unfollows."""
    unfollows = 0
    if complete:
        result = await conn.execute(
            _UNFOLLOW, {"profile": profile_id, "direction": direction, "job": job_id}
        )
        unfollows = result.rowcount or 0
    await conn.execute(
        pg_insert(FollowPass)
        .values(
            social_profile_id=profile_id,
            direction=direction,
            job_call_id=job_id,
            expected=expected,
            reached=reached,
            quarantined=quarantined,
            complete=complete,
            unfollows=unfollows,
        )
        .on_conflict_do_nothing()
    )
    return unfollows


# ---------------------------------------------------------------------------------- posts
def _post_row(platform: str, profile_id: int, post: dto.Post) -> dict[str, Any]:
    return {
        "platform": platform,
        "ext_id": post.ext_id,
        "social_profile_id": profile_id,
        "code": post.code or "",
        "kind": post.kind,
        "title": "",
        "caption": post.caption or "",
        "taken_at": post.taken_at,
        "likes_count": post.like_count or 0,
        "comments_count": post.comment_count or 0,
        "views_count": post.play_count or 0,
        "pinned": post.pinned,
        "raw_data": post.raw,
    }


def _video_row(profile_id: int, video: dto.Video) -> dict[str, Any]:
    return {
        "platform": Platform.YOUTUBE,
        "ext_id": video.ext_id,
        "social_profile_id": profile_id,
        "code": video.ext_id,
        "kind": "video",
        "title": video.title,
        "caption": video.description,
        "taken_at": video.published_at or datetime.now().astimezone(),
        "likes_count": video.like_count or 0,
        "comments_count": video.comment_count or 0,
        "views_count": video.view_count or 0,
        "pinned": False,
        "raw_data": video.raw,
    }


def post_rows(platform: str, profile_id: int, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of ``posts`` for provider records (Instagram posts or YouTube videos)."""
    if platform == Platform.YOUTUBE:
        return [_video_row(profile_id, v) for v in items]
    return [_post_row(platform, profile_id, p) for p in items]


def _media_rows(ids: dict[str, int], posts: Sequence[Any]) -> list[dict[str, Any]]:
    media = [
        {
            "post_id": ids[p.ext_id],
            "ext_id": m.ext_id,
            "position": i,
            "media_type": m.media_type,
            "url": m.url or "",
            "video_url": m.video_url or "",
            "width": m.width or 0,
            "height": m.height or 0,
        }
        for p in posts
        if p.ext_id in ids
        for i, m in enumerate(getattr(p, "media", ()))
    ]
    return list({(m["post_id"], m["ext_id"]): m for m in media}.values())


async def store_posts(
    conn: AsyncConnection,
    platform: str,
    profile_id: int,
    items: Sequence[Any],
    *,
    job_id: int,
    refresh: Sequence[Any] = (),
) -> dict[str, int]:
    """Posts (or videos) of a page with their media and a metric snapshot each.

    ``refresh`` (inside the refresh window): inserted or updated with their counts now.
    ``items`` (outside it): inserted when new to the store; a stored one stays as it is.
    Returns ext_id → post id of the posts written, each with this job's snapshot.
    """
    refreshed = {p.ext_id: p for p in refresh}
    older = [p for p in {p.ext_id: p for p in items}.values() if p.ext_id not in refreshed]
    ids: dict[str, int] = {}
    if refreshed:
        rows = post_rows(platform, profile_id, list(refreshed.values()))
        ids.update({ext: pid for pid, ext in (await conn.execute(_POST_UPSERT, rows)).all()})
    if older:
        rows = post_rows(platform, profile_id, older)
        ids.update({ext: pid for pid, ext in (await conn.execute(_POST_INSERT_NEW, rows)).all()})
    written = [p for p in (*refreshed.values(), *older) if p.ext_id in ids]
    media = _media_rows(ids, written)
    if media:
        await conn.execute(_MEDIA_UPSERT, media)
    await snapshot(
        conn,
        [
            {
                "subject_type": "post",
                "subject_id": ids[p.ext_id],
                "likes": p.like_count,
                "comments": p.comment_count,
                "views": getattr(p, "play_count", None)
                if platform != Platform.YOUTUBE
                else getattr(p, "view_count", None),
            }
            for p in written
        ],
        job_id=job_id,
    )
    return ids


async def newest_post_time(conn: AsyncConnection, profile_id: int) -> datetime | None:
    """The newest stored post of a profile, pinned ones aside."""
    value: datetime | None = await conn.scalar(
        select(func.max(Post.taken_at)).where(
            Post.social_profile_id == profile_id, Post.pinned.is_(False)
        )
    )
    return value


@dataclass(frozen=True)
class Frontier:
    """Where a profile's history backfill stands (``history_frontiers``)."""

    cursor: str | None
    provider: str | None
    complete: bool


async def frontier(conn: AsyncConnection, profile_id: int, stream: str) -> Frontier | None:
    row = (
        await conn.execute(
            select(
                HistoryFrontier.cursor, HistoryFrontier.provider, HistoryFrontier.complete
            ).where(
                HistoryFrontier.social_profile_id == profile_id, HistoryFrontier.stream == stream
            )
        )
    ).first()
    return Frontier(row.cursor, row.provider, row.complete) if row else None


async def set_frontier(
    conn: AsyncConnection,
    profile_id: int,
    stream: str,
    *,
    cursor: str | None,
    provider: str | None,
    complete: bool,
) -> None:
    """Move the history frontier (in the transaction of the page that reached it)."""
    stmt = pg_insert(HistoryFrontier).values(
        social_profile_id=profile_id,
        stream=stream,
        cursor=cursor,
        provider=provider,
        complete=complete,
        pages=1,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[HistoryFrontier.social_profile_id, HistoryFrontier.stream],
            set_={
                "cursor": stmt.excluded.cursor,
                "provider": stmt.excluded.provider,
                "complete": stmt.excluded.complete,
                "pages": HistoryFrontier.pages + 1,
                "updated_at": func.now(),
            },
        )
    )


# ---------------------------------------------------------------------------------- comments
async def upsert_comments(
    conn: AsyncConnection, platform: str, post_id: int, comments: Sequence[dto.Comment]
) -> int:
    rows = _unique(
        {
            "platform": platform,
            "ext_id": c.ext_id,
            "post_id": post_id,
            "author_ext_id": c.author_ext_id or "",
            "author_username": c.author_username or "",
            "author_name": c.author_name or "",
            "text": c.text,
            "likes_count": c.like_count or 0,
            "replies_count": c.reply_count or 0,
            "raw_data": c.raw,
            "created_at": c.created_at,
        }
        for c in comments
    )
    if not rows:
        return 0
    await conn.execute(_COMMENT_UPSERT, rows)
    return len(rows)


@dataclass(frozen=True)
class CommentTarget:
    """A post whose comments a sync fetches, and when they were last fetched (the provider's
    time of that sync; None: never)."""

    post_id: int
    ext_id: str
    comments_count: int
    synced_at: datetime | None


async def comment_targets(
    conn: AsyncConnection, profile_id: int, *, refreshed_since: datetime | None
) -> list[CommentTarget]:
    """Posts whose comments to fetch, newest first: those inside the refresh window
    (``refreshed_since``; None: every post) and those whose comments were never fetched."""
    query = select(Post.id, Post.ext_id, Post.comments_count, Post.comments_synced_at).where(
        Post.social_profile_id == profile_id
    )
    if refreshed_since is not None:
        query = query.where((Post.taken_at >= refreshed_since) | Post.comments_synced_at.is_(None))
    rows = (await conn.execute(query.order_by(Post.taken_at.desc(), Post.id.desc()))).all()
    return [CommentTarget(r.id, r.ext_id, r.comments_count, r.comments_synced_at) for r in rows]


async def comments_synced(conn: AsyncConnection, post_ids: Sequence[int], at: datetime) -> None:
    """The posts' comments are fetched as of ``at`` (the provider's time of this sync)."""
    if post_ids:
        await conn.execute(update(Post).where(Post.id.in_(post_ids)).values(comments_synced_at=at))


# ---------------------------------------------------------------------------------- quarantine
async def quarantine(
    conn: AsyncConnection,
    rejected: Sequence[dto.Rejected],
    *,
    job_id: int,
    service_call_id: int,
    platform: str,
    stream: str,
) -> int:
    """Set malformed items aside with their raw payload and the reason; returns how many."""
    if rejected:
        await conn.execute(
            insert(QuarantinedItem),
            [
                {
                    "job_call_id": job_id,
                    "service_call_id": service_call_id,
                    "platform": platform,
                    "stream": stream,
                    "ext_id": r.ext_id,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for r in rejected
            ],
        )
    return len(rejected)


async def quarantined_in_job(conn: AsyncConnection, job_id: int, stream: str | None) -> int:
    """Distinct items a job (one of its streams, or all: None) set aside; a page asked again
    sets its items aside again."""
    query = select(func.count(func.distinct(QuarantinedItem.raw))).where(
        QuarantinedItem.job_call_id == job_id
    )
    if stream is not None:
        query = query.where(QuarantinedItem.stream == stream)
    count: int = await conn.scalar(query)  # type: ignore[assignment]  # count() is never NULL
    return count


# ---------------------------------------------------------------------------------- the profile
async def observe_profile(conn: AsyncConnection, profile_id: int, *, job_id: int) -> float:
    """The sync's one profile observation: engagement rate from the 12 newest posts (pinned
    ones aside, counts as refreshed by this sync), then one metric snapshot carrying every
    metric the provider gave."""
    recent = (
        select(Post.likes_count, Post.comments_count)
        .where(Post.social_profile_id == profile_id, Post.pinned.is_(False))
        .order_by(Post.taken_at.desc())
        .limit(12)
        .subquery()
    )
    avg = await conn.scalar(select(func.avg(recent.c.likes_count + recent.c.comments_count)))
    profile = await profile_of(conn, profile_id)
    rate = float(avg or 0) / profile.followers_count if profile.followers_count else 0.0
    await conn.execute(
        update(SocialProfile)
        .where(SocialProfile.id == profile_id)
        .values(engagement_rate=rate, updated_at=func.now())
    )
    await snapshot(
        conn,
        [
            {
                "subject_type": "profile",
                "subject_id": profile_id,
                "followers": profile.followers_count,
                "follows": None if profile.platform == Platform.YOUTUBE else profile.follows_count,
                "posts": profile.posts_count,
                "views": profile.views_count,
                "engagement_rate": rate,
            }
        ],
        job_id=job_id,
    )
    return rate
