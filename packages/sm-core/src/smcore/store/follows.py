"""Reading a profile's follower changes for the API: follow and unfollow events, newest first.

An event happened after ``not_before`` (the last observation that saw the other state; None:
before monitoring began) and by ``observed_at``; pages are keyset pages on
``(observed_at, id)``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store import keyset

Direction = Literal["follower", "following"]
Kind = Literal["follow", "unfollow"]

_EVENTS = f"""
SELECT e.id, e.kind, e.direction, e.observed_at, e.not_before, e.job_call_id,
       {keyset.micros("e.observed_at")} AS sort_key,
       f.ext_id, f.username, f.full_name
FROM follow_events e
JOIN subscriptions s ON s.id = e.subscription_id AND s.social_profile_id = e.social_profile_id
JOIN followers f ON f.id = s.follower_id
WHERE e.social_profile_id = :profile_id AND e.direction = :direction
  AND (CAST(:kind AS text) IS NULL OR e.kind = :kind)
  AND (CAST(:since AS timestamptz) IS NULL OR e.observed_at >= :since)
  AND (CAST(:until AS timestamptz) IS NULL OR e.observed_at < :until)
  AND {keyset.after_time("e.observed_at", "e.id")}
ORDER BY e.observed_at DESC, e.id DESC
LIMIT :limit
"""  # noqa: S608 - keyset's constant fragments; every value is bound


async def events(
    conn: AsyncConnection,
    profile_id: int,
    *,
    direction: Direction = "follower",
    kind: Kind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Up to ``limit`` events observed in ``[since, until)``, newest first, after ``after``
    (the previous page's last ``(observed_at in microseconds, id)``), with the account."""
    rows = await conn.execute(
        text(_EVENTS),
        {
            "profile_id": profile_id,
            "direction": direction,
            "kind": kind,
            "since": since,
            "until": until,
            "limit": limit,
        }
        | keyset.params(after),
    )
    return [dict(row._mapping) for row in rows]
