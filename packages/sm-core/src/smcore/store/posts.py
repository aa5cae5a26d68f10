"""Reading a profile's posts for the API: newest first or most engaging first, page by page.

Pages are keyset pages: a page ends at its last post's sort key and id, and the next page starts
after it, so a post written meanwhile never shifts a page (no OFFSET)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

Sort = Literal["time", "engagement"]
COLUMNS = (
    "id", "platform", "ext_id", "code", "kind", "product_type", "title", "caption", "taken_at",
    "likes_count", "comments_count", "views_count", "shares_count", "saves_count", "pinned",
)  # fmt: skip
"""The post columns a page carries."""

# The sort key as a bigint: microseconds since the epoch, or likes + comments.
_KEYS: dict[Sort, str] = {
    "time": "(EXTRACT(EPOCH FROM taken_at) * 1000000)::bigint",
    "engagement": "(likes_count + comments_count)",
}


def _query(sort: Sort) -> str:
    key = _KEYS[sort]
    return f"""
SELECT {", ".join(COLUMNS)}, {key} AS sort_key
FROM posts
WHERE social_profile_id = :profile_id
  AND (CAST(:since AS timestamptz) IS NULL OR taken_at >= :since)
  AND (CAST(:until AS timestamptz) IS NULL OR taken_at < :until)
  AND (CAST(:after_key AS bigint) IS NULL OR ({key}, id) < (:after_key, :after_id))
ORDER BY {key} DESC, id DESC
LIMIT :limit
"""  # noqa: S608 - the key is one of _KEYS; every value is bound


async def page(
    conn: AsyncConnection,
    profile_id: int,
    *,
    sort: Sort = "time",
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to ``limit`` posts published in ``[since, until)``, sorted by ``sort`` (descending,
    ties by id), after ``after`` (the previous page's last ``(sort_key, id)``)."""
    rows = await conn.execute(
        text(_query(sort)),
        {
            "profile_id": profile_id,
            "since": since,
            "until": until,
            "after_key": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [dict(row._mapping) for row in rows]
