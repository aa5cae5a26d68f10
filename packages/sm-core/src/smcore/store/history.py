"""Metric history: a profile's or a post's snapshots over time, oldest first.

A snapshot's time is the provider's clock when its sync read the account (the job's
``observed_at``), else the job's start, as in :mod:`smcore.store.exports`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store import keyset, profiles

Subject = profiles.Subject
Metric = Literal[
    "followers", "follows", "posts", "views", "likes", "comments", "shares", "engagement_rate"
]
"""The columns of a metric snapshot (a profile's or a post's; those a platform lacks are null)."""
METRICS: tuple[Metric, ...] = get_args(Metric)

OBSERVED_AT = "COALESCE((j.params->>'observed_at')::timestamptz, s.captured_at)"
"""A snapshot's time in SQL: the provider's clock when its job read the account, else the
snapshot's capture (``s``: ``metric_snapshots``, ``j``: its ``job_calls`` row, left-joined)."""


def followers_at(profile_id: str, moment: str) -> str:
    """SQL: a ``LEFT JOIN LATERAL`` giving ``f.followers``, the account's followers at its
    latest observation at or before ``moment`` (what a forecast of a post published then may
    know). ``profile_id`` and ``moment`` are column expressions of the enclosing query."""
    return f"""
    LEFT JOIN LATERAL (
        SELECT s.followers
        FROM metric_snapshots s LEFT JOIN job_calls j ON j.id = s.job_call_id
        WHERE s.subject_type = 'profile' AND s.subject_id = {profile_id}
          AND {OBSERVED_AT} <= {moment}
        ORDER BY {OBSERVED_AT} DESC
        LIMIT 1
    ) f ON true"""  # noqa: S608 - column expressions from this package's constant statements


_HISTORY = f"""
SELECT observed_at, id, followers, follows, posts, views, likes, comments, shares,
       engagement_rate, {keyset.micros("observed_at")} AS sort_key
FROM (
    SELECT {OBSERVED_AT} AS observed_at,
           s.id, s.followers, s.follows, s.posts, s.views, s.likes, s.comments, s.shares,
           s.engagement_rate
    FROM metric_snapshots s LEFT JOIN job_calls j ON j.id = s.job_call_id
    WHERE s.subject_type = :subject_type AND s.subject_id = :subject_id
) h
WHERE (CAST(:since AS timestamptz) IS NULL OR observed_at >= :since)
  AND (CAST(:until AS timestamptz) IS NULL OR observed_at < :until)
  AND {keyset.after_time("observed_at", "id", "asc")}
ORDER BY observed_at, id
LIMIT :limit
"""  # noqa: S608 - constant fragments (OBSERVED_AT, keyset's); every value is bound


async def metric_history(
    conn: AsyncConnection,
    subject_type: Subject,
    subject_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Up to ``limit`` snapshots observed in ``[since, until)`` and after ``after`` (a page's
    last ``(observed_at in microseconds since the epoch, id)``), oldest first (ties by id):
    ``observed_at``, ``id``, ``sort_key`` (``observed_at`` in microseconds) and every metric
    in :data:`METRICS`."""
    rows = await conn.execute(
        text(_HISTORY),
        {
            "subject_type": subject_type,
            "subject_id": subject_id,
            "since": since,
            "until": until,
            "limit": limit,
        }
        | keyset.params(after),
    )
    return [dict(row._mapping) for row in rows]
