"""Bulk upserts of synced records (``INSERT … ON CONFLICT``): one statement per table per page.

Functions take ``conn`` and never commit. Rows with the same key inside one page are merged
first: PostgreSQL refuses to update one row twice in a single statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.providers import models as dto
from smcore.store.models import (
    Comment,
    Follower,
    Media,
    MetricSnapshot,
    Post,
    SocialProfile,
    Subscription,
)


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
        "updated_at": func.now(),
        # A re-follow starts a new follow period.
        "followed_at": case((Subscription.active, Subscription.followed_at), else_=func.now()),
    },
).returning(literal_column("xmax = 0"), sort_by_parameter_order=True)  # true: inserted
_POST_COLUMNS = [
    "code",
    "kind",
    "title",
    "caption",
    "taken_at",
    "likes_count",
    "comments_count",
    "views_count",
    "raw_data",
]
_POST = pg_insert(Post)
_POST_UPSERT = _POST.on_conflict_do_update(
    index_elements=[Post.platform, Post.ext_id], set_=_updates(Post, _POST.excluded, _POST_COLUMNS)
).returning(Post.id, Post.ext_id, sort_by_parameter_order=True)
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
        "raw_data": channel.raw,
    }


async def snapshot(
    conn: AsyncConnection, rows: list[dict[str, Any]], *, job_id: int | None = None
) -> None:
    """Metric snapshots (``subject_type``, ``subject_id`` and the metrics) in one statement."""
    if rows:
        await conn.execute(insert(MetricSnapshot), [{**r, "job_call_id": job_id} for r in rows])


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
) -> int:
    """Followers (or followings) of a profile: accounts and their subscriptions, seen by this pass.

    A subscription seen again after an unfollow becomes active again. Returns how many
    subscriptions this page created (new follows).
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
    created = await conn.execute(_SUBSCRIPTION_UPSERT, subs)
    return sum(1 for row in created if row[0])


async def seen_in_pass(conn: AsyncConnection, profile_id: int, direction: str, job_id: int) -> int:
    count: int = await conn.scalar(  # type: ignore[assignment]
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.social_profile_id == profile_id,
            Subscription.direction == direction,
            Subscription.last_seen_job_call_id == job_id,
        )
    )
    return count


async def mark_unfollows(
    conn: AsyncConnection, profile_id: int, direction: str, job_id: int
) -> int:
    """After a complete pass: active subscriptions the pass did not see ended."""
    result = await conn.execute(
        update(Subscription)
        .where(
            Subscription.social_profile_id == profile_id,
            Subscription.direction == direction,
            Subscription.active.is_(True),
            func.coalesce(Subscription.last_seen_job_call_id, -1) != job_id,
        )
        .values(active=False, unfollowed_at=func.now(), updated_at=func.now())
    )
    return result.rowcount or 0


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
        "raw_data": post.raw,
    }


def _video_row(profile_id: int, video: dto.Video) -> dict[str, Any]:
    return {
        "platform": "youtube",
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
        "raw_data": video.raw,
    }


async def _upsert_posts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[str, int]:
    rows = _unique(rows)
    if not rows:
        return {}
    return {ext: pid for pid, ext in (await conn.execute(_POST_UPSERT, rows)).all()}


async def upsert_posts(
    conn: AsyncConnection, platform: str, profile_id: int, posts: Sequence[dto.Post], *, job_id: int
) -> dict[str, int]:
    """Posts with their media and a metric snapshot each; returns ext_id → post id."""
    ids = await _upsert_posts(conn, [_post_row(platform, profile_id, p) for p in posts])
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
        for i, m in enumerate(p.media)
    ]
    media = list({(m["post_id"], m["ext_id"]): m for m in media}.values())
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
                "views": p.play_count,
            }
            for p in {p.ext_id: p for p in posts}.values()
        ],
        job_id=job_id,
    )
    return ids


async def upsert_videos(
    conn: AsyncConnection, profile_id: int, videos: Sequence[dto.Video], *, job_id: int
) -> dict[str, int]:
    ids = await _upsert_posts(conn, [_video_row(profile_id, v) for v in videos])
    await snapshot(
        conn,
        [
            {
                "subject_type": "post",
                "subject_id": ids[v.ext_id],
                "likes": v.like_count,
                "comments": v.comment_count,
                "views": v.view_count,
            }
            for v in {v.ext_id: v for v in videos}.values()
        ],
        job_id=job_id,
    )
    return ids


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


async def posts_for_comments(
    conn: AsyncConnection, profile_id: int, *, since: datetime | None
) -> list[tuple[int, str, int]]:
    """(post id, ext_id, expected comment count) of a profile's posts, newest first."""
    query = select(Post.id, Post.ext_id, Post.comments_count).where(
        Post.social_profile_id == profile_id
    )
    if since is not None:
        query = query.where(Post.taken_at > since)
    rows = (await conn.execute(query.order_by(Post.taken_at.desc(), Post.id.desc()))).all()
    return [(r.id, r.ext_id, r.comments_count) for r in rows]


async def newest_post_time(conn: AsyncConnection, profile_id: int) -> datetime | None:
    value: datetime | None = await conn.scalar(
        select(func.max(Post.taken_at)).where(Post.social_profile_id == profile_id)
    )
    return value


async def refresh_engagement(conn: AsyncConnection, profile_id: int, *, job_id: int) -> float:
    """Engagement rate from the 12 newest posts, then a profile metric snapshot."""
    recent = (
        select(Post.likes_count, Post.comments_count)
        .where(Post.social_profile_id == profile_id)
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
                "follows": profile.follows_count,
                "posts": profile.posts_count,
                "engagement_rate": rate,
            }
        ],
        job_id=job_id,
    )
    return rate
