"""Blogger search: full-text (accents and case ignored, prefixes) plus trigram word similarity
for typos, ranked text first, then similarity, then followers. The index lives in the database
(a generated column and expression indexes), so rows from any writer are searchable."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

SIMILARITY = 0.45
_WORD = re.compile(r"\w+", re.UNICODE)
_NAME = "sm_unaccent(lower(username || ' ' || full_name))"
_COLUMNS = (
    "id, platform, ext_id, username, full_name, bio, avatar, url, followers_count, "
    "follows_count, posts_count, engagement_rate, is_private, is_verified, last_synced_at"
)


def normalize(q: str) -> str:
    """``@handle`` and stray punctuation reduced to the words that are searched."""
    return " ".join(_WORD.findall(q.strip().lstrip("@"))).lower()


def prefix_query(q: str) -> str:
    """A tsquery in which every word may be a prefix: ``ann pet`` → ``ann:* & pet:*``."""
    return " & ".join(f"{word}:*" for word in _WORD.findall(q))


async def search(
    conn: AsyncConnection, *, q: str, platform: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of matching profiles and the total number of matches."""
    words = normalize(q)
    where = ["(CAST(:platform AS text) IS NULL OR platform = :platform)"]
    order = "followers_count DESC, id"
    rank = "0.0 AS rank"
    params: dict[str, Any] = {"platform": platform, "limit": limit, "offset": offset}
    if words:
        params.update(words=words, tsq=prefix_query(words))
        where.append(
            f"(search_document @@ to_tsquery('simple', sm_unaccent(:tsq)) "
            f"OR sm_unaccent(:words) <% {_NAME})"
        )
        rank = (
            "ts_rank(search_document, to_tsquery('simple', sm_unaccent(:tsq))) AS rank, "
            f"word_similarity(sm_unaccent(:words), {_NAME}) AS similarity"
        )
        order = "rank DESC, similarity DESC, followers_count DESC, id"
    sql = text(
        f"SELECT {_COLUMNS}, {rank}, count(*) OVER () AS total FROM social_profiles "  # noqa: S608 - fixed fragments, values bound
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT :limit OFFSET :offset"
    )
    # Two swapped letters in a full name score about 0.5 against the name; the default 0.6
    # would miss them. Transaction-local: other queries keep the default.
    await conn.execute(text(f"SET LOCAL pg_trgm.word_similarity_threshold = {SIMILARITY}"))
    rows = (await conn.execute(sql, params)).mappings().all()
    total = int(rows[0]["total"]) if rows else 0
    drop = {"total", "rank", "similarity"}
    return [{k: v for k, v in row.items() if k not in drop} for row in rows], total
