"""Reading a profile's posts for the API: newest first or most engaging first, page by page.

Pages are keyset pages: a page ends at its last post's sort key and id, and the next page starts
after it, so a post written meanwhile never shifts a page (no OFFSET)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store import keyset

Sort = Literal["time", "engagement"]
COLUMNS = (
    "id", "platform", "ext_id", "code", "kind", "product_type", "title", "caption", "taken_at",
    "likes_count", "comments_count", "views_count", "shares_count", "saves_count", "pinned",
)  # fmt: skip
"""The post columns a page carries."""

# The sort key as a bigint: microseconds since the epoch, or likes + comments; the order and
# the after-condition on the column itself where there is one (its index serves the page).
_KEYS: dict[Sort, str] = {
    "time": keyset.micros("taken_at"),
    "engagement": "(likes_count + comments_count)",
}
_ORDER: dict[Sort, str] = {"time": "taken_at", "engagement": _KEYS["engagement"]}
_AFTER: dict[Sort, str] = {
    "time": keyset.after_time("taken_at", "id"),
    "engagement": keyset.after(_KEYS["engagement"], "id"),
}


def _query(sort: Sort) -> str:
    return f"""
SELECT {", ".join(COLUMNS)}, {_KEYS[sort]} AS sort_key
FROM posts
WHERE social_profile_id = :profile_id
  AND (CAST(:since AS timestamptz) IS NULL OR taken_at >= :since)
  AND (CAST(:until AS timestamptz) IS NULL OR taken_at < :until)
  AND {_AFTER[sort]}
ORDER BY {_ORDER[sort]} DESC, id DESC
LIMIT :limit
"""  # noqa: S608 - the key, order and condition are constants chosen by sort; values are bound


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
            "limit": limit,
        }
        | keyset.params(after),
    )
    return [dict(row._mapping) for row in rows]


async def one(conn: AsyncConnection, post_id: int) -> dict[str, Any] | None:
    """A post's columns (:data:`COLUMNS`) and its profile id, or None."""
    row = (
        await conn.execute(
            text(f"SELECT {', '.join(COLUMNS)}, social_profile_id FROM posts WHERE id = :id"),  # noqa: S608 - constant columns
            {"id": post_id},
        )
    ).first()
    return dict(row._mapping) if row else None


async def media(conn: AsyncConnection, post_id: int) -> list[dict[str, Any]]:
    """A post's media in order, with where each file stands and its analysis (if any)."""
    rows = await conn.execute(
        text(
            """
            SELECT m.id, m.ext_id, m.position, m.media_type, m.width, m.height,
                   m.fetch_status, m.object_key, m.content_type, m.bytes,
                   a.kind AS analysis_kind, a.status AS analysis_status,
                   a.result AS analysis_result, a.error_code AS analysis_error
            FROM media m
            LEFT JOIN analyses a ON a.subject_type = 'media' AND a.subject_id = m.id
            WHERE m.post_id = :id
            ORDER BY m.position, m.id
            """
        ),
        {"id": post_id},
    )
    return [dict(row._mapping) for row in rows]


async def caption_analysis(conn: AsyncConnection, post_id: int) -> dict[str, Any] | None:
    """The text analysis of a post's caption, if any."""
    return await _post_analysis(conn, post_id, "text")


async def prediction(conn: AsyncConnection, post_id: int) -> dict[str, Any] | None:
    """The post's forecast from the analysis service, if one was asked for (its ``result``
    is the last forecast made, kept while a newer one is asked)."""
    return await _post_analysis(conn, post_id, "prediction")


async def _post_analysis(conn: AsyncConnection, post_id: int, kind: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            text(
                "SELECT kind, status, result, versions, error_code FROM analyses "
                "WHERE subject_type = 'post' AND subject_id = :id AND kind = :kind"
            ),
            {"id": post_id, "kind": kind},
        )
    ).first()
    return dict(row._mapping) if row else None


_COMMENTS = f"""
SELECT id, ext_id, author_ext_id, author_username, author_name, text, likes_count,
       replies_count, created_at, {keyset.micros("created_at")} AS sort_key
FROM comments
WHERE post_id = :post_id AND parent_id IS NULL
  AND {keyset.after_time("created_at", "id")}
ORDER BY created_at DESC, id DESC
LIMIT :limit
"""  # noqa: S608 - keyset's constant fragments; every value is bound

_REPLIES = """
SELECT id, ext_id, parent_id, author_ext_id, author_username, author_name, text, likes_count,
       created_at
FROM comments
WHERE parent_id = ANY(:parents)
ORDER BY parent_id, created_at, id
"""


async def comments(
    conn: AsyncConnection, post_id: int, *, after: tuple[int, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` top-level comments, newest first, each with ``replies`` (oldest first)."""
    params = {"post_id": post_id, "limit": limit} | keyset.params(after)
    top = [dict(r._mapping) for r in await conn.execute(text(_COMMENTS), params)]
    replies: dict[int, list[dict[str, Any]]] = {c["id"]: [] for c in top}
    if top:
        for row in await conn.execute(text(_REPLIES), {"parents": list(replies)}):
            replies[row.parent_id].append(dict(row._mapping))
    return [{**c, "replies": replies[c["id"]]} for c in top]


_LIKERS = f"""
SELECT id, liker_ext_id, liker_username, created_at, job_call_id,
       {keyset.micros("created_at")} AS sort_key
FROM likes
WHERE post_id = :post_id
  AND {keyset.after_time("created_at", "id")}
ORDER BY created_at DESC, id DESC
LIMIT :limit
"""  # noqa: S608 - keyset's constant fragments; every value is bound


async def likers(
    conn: AsyncConnection, post_id: int, *, after: tuple[int, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` accounts that liked the post, first seen most recently first."""
    params = {"post_id": post_id, "limit": limit} | keyset.params(after)
    return [dict(r._mapping) for r in await conn.execute(text(_LIKERS), params)]


async def likers_coverage(conn: AsyncConnection, post_id: int) -> dict[str, Any]:
    """What the last likers sync listed of the total it reported, and when."""
    row = (
        await conn.execute(
            text("SELECT likers_listed, likers_total, likers_synced_at FROM posts WHERE id = :id"),
            {"id": post_id},
        )
    ).one()
    return dict(row._mapping)
