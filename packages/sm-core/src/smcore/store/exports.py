"""Exports: the stored history as flat rows, for tools outside SM Core (TrendFlow's targets).

``post_metrics`` is every metric snapshot of every post: one row per observation of a post's
counts. A snapshot's time is the provider's clock when its sync read the profile (the job's
``observed_at``; a simulated provider runs on simulated time), or the job's start when the job
never read it. ``channel_followers`` is the account's follower count at its latest observation
at or before the post's publication (None when SM Core had not seen the account by then):
what a model may know about the channel when the post appears.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store.history import OBSERVED_AT, followers_at

POST_METRICS_COLUMNS: Sequence[str] = (
    "platform",
    "video_id",
    "channel",
    "published_at",
    "observed_at",
    "views",
    "likes",
    "channel_followers",
    "caption",
)
"""The columns of :func:`post_metrics`, in order (TrendFlow's snapshot table)."""

# A snapshot's time is OBSERVED_AT: the provider's clock when its job read the account
# (``job_calls.params.observed_at``), else the job's start.

_POST_METRICS = f"""
WITH chosen AS (
    SELECT p.id, p.platform, p.ext_id, p.taken_at, p.caption, p.social_profile_id,
           sp.username
    FROM posts p JOIN social_profiles sp ON sp.id = p.social_profile_id
    WHERE (CAST(:platform AS text) IS NULL OR p.platform = :platform)
      AND (CAST(:since AS timestamptz) IS NULL OR p.taken_at >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR p.taken_at < :until)
),
followers AS (
    SELECT c.id, f.followers
    FROM chosen c
    {followers_at("c.social_profile_id", "c.taken_at")}
)
SELECT c.platform, c.ext_id AS video_id, c.username AS channel, c.taken_at AS published_at,
       {OBSERVED_AT} AS observed_at,
       s.views, s.likes, f.followers AS channel_followers, c.caption
FROM chosen c
JOIN followers f ON f.id = c.id
JOIN metric_snapshots s ON s.subject_type = 'post' AND s.subject_id = c.id
LEFT JOIN job_calls j ON j.id = s.job_call_id
ORDER BY c.id, observed_at
"""  # noqa: S608 - only the constant OBSERVED_AT is formatted in; every value is bound


async def post_metrics(
    conn: AsyncConnection,
    *,
    platform: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncIterator[Sequence[Any]]:
    """Every post's metric snapshots, post by post, oldest observation first.

    Args:
        conn: an open connection (rows are streamed through a server-side cursor).
        platform: only this platform's posts (None: all).
        since: only posts published at or after this.
        until: only posts published before this.

    Yields:
        Rows in :data:`POST_METRICS_COLUMNS` order.
    """
    result = await conn.stream(
        text(_POST_METRICS), {"platform": platform, "since": since, "until": until}
    )
    async for row in result:
        yield tuple(row)
