"""Blogger search over the database's own index, built to stay fast at millions of profiles.

- Words are matched through the full-text index (``search_document``: username parts and full
  name weighted A, bio C; accents and case ignored). The last word may be a prefix, as the user
  is typing it. Results rank by text rank (an exact ``@handle`` first), then followers.
- When nothing matches the words as typed, each word that is not a known name word is replaced
  by the known words within two edits of it (``search_words``, kept by a trigger), and the
  search runs again: two swapped letters in a name still find the profile.
- With no words, profiles are listed by followers.

Totals of searches are exact (ranking visits every match anyway); listing without words counts
up to ``TOTAL_CAP`` and says when it stopped there (``total_exact`` false).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

TOTAL_CAP = 10_000
MAX_EDITS = 2
ALTERNATIVES = 8
_COLUMNS = (
    "id, platform, ext_id, username, full_name, bio, avatar, url, followers_count, "
    "follows_count, posts_count, engagement_rate, is_private, is_verified, last_synced_at"
)
_RANKING = "handle DESC, whole DESC, rank DESC, followers_count DESC, id"
# Name words are a small table (tens of thousands of words for a million profiles): a scan
# with a cheap length filter beats a trigram index, which misses short words with a swap.
_NEAR = text(
    "SELECT word FROM search_words "
    "WHERE length(word) BETWEEN length(:word) - :edits AND length(:word) + :edits "
    "AND levenshtein_less_equal(word, :word, :edits) <= :edits"
)
# The query's words as the index has them: the same parser, accents removed, in typed order.
_LEXEMES = text(
    "SELECT lexeme FROM unnest(to_tsvector('simple', sm_unaccent(translate(:q, '._-', '   ')))) "
    "ORDER BY positions[1]"
)


@dataclass(frozen=True, slots=True)
class Result:
    items: list[dict[str, Any]]
    total: int
    total_exact: bool
    corrected: str | None  # the words searched instead, when the typed ones matched nothing


def tsquery(words: list[list[str]], *, prefix_last: bool) -> str:
    """``[["anna"], ["pet"]]`` → ``anna & pet:*``; alternatives of one word are OR-ed."""
    parts = []
    for i, alternatives in enumerate(words):
        last = prefix_last and i == len(words) - 1
        terms = [_quote(w) + (":*" if last and len(w) >= 2 else "") for w in alternatives]
        parts.append(terms[0] if len(terms) == 1 else "(" + " | ".join(terms) + ")")
    return " & ".join(parts)


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


async def search(
    conn: AsyncConnection, *, q: str, platform: str | None, limit: int, offset: int
) -> Result:
    """One page of matching profiles with the total number of matches."""
    # Planning is cheap, JIT compiling is not: it costs more than these queries themselves.
    await conn.execute(text("SET LOCAL jit = off"))
    await conn.execute(text("SET LOCAL work_mem = '16MB'"))
    words = list(await conn.scalars(_LEXEMES, {"q": q}))
    if not words:
        return await _browse(conn, platform=platform, limit=limit, offset=offset)
    found = await _match(
        conn,
        tsq=tsquery([[w] for w in words], prefix_last=True),
        handle=q.strip().lstrip("@").lower(),
        platform=platform,
        limit=limit,
        offset=offset,
    )
    if found.total or offset:
        return found
    corrected = await _corrections(conn, words)
    if corrected is None:
        return found
    result = await _match(
        conn,
        tsq=tsquery(corrected, prefix_last=False),
        handle="",
        platform=platform,
        limit=limit,
        offset=offset,
    )
    shown = " ".join("|".join(alternatives) for alternatives in corrected)
    return Result(result.items, result.total, result.total_exact, shown if result.total else None)


async def _match(
    conn: AsyncConnection, *, tsq: str, handle: str, platform: str | None, limit: int, offset: int
) -> Result:
    # Ranking needs every match, so the exact total comes with it. Matches are ranked on narrow
    # rows (no spill to disk at tens of thousands of matches); only the page's rows are fetched
    # whole. Whole-word matches rank above prefix expansions ("west" before "westbrook").
    sql = text(
        "WITH matches AS ("  # noqa: S608 - fixed fragments, values bound
        "  SELECT id, followers_count, lower(username) = :handle AS handle,"
        "    ts_rank(search_document, to_tsquery('simple', :whole)) AS whole,"
        "    ts_rank(search_document, query) AS rank"
        "  FROM social_profiles, to_tsquery('simple', :tsq) AS query"
        "  WHERE search_document @@ query"
        "  AND (CAST(:platform AS text) IS NULL OR platform = :platform)"
        "), page AS ("
        "  SELECT *, count(*) OVER () AS total FROM matches"
        f"  ORDER BY {_RANKING} LIMIT :limit OFFSET :offset"
        f") SELECT {_COLUMNS}, total FROM page JOIN social_profiles USING (id, followers_count) "
        f"ORDER BY {_RANKING}"
    )
    params = {
        "tsq": tsq,
        "whole": tsq.removesuffix(":*"),
        "handle": handle,
        "platform": platform,
        "limit": limit,
        "offset": offset,
    }
    rows = (await conn.execute(sql, params)).mappings().all()
    total = int(rows[0]["total"]) if rows else await _count_to(conn, tsq, platform, offset)
    items = [{k: v for k, v in row.items() if k != "total"} for row in rows]
    return Result(items, total, True, None)


async def _count_to(conn: AsyncConnection, tsq: str, platform: str | None, offset: int) -> int:
    """The total when a page past the end came back empty."""
    if not offset:
        return 0
    return int(
        await conn.scalar(
            text(
                "SELECT count(*) FROM social_profiles, to_tsquery('simple', :tsq) AS query "
                "WHERE search_document @@ query "
                "AND (CAST(:platform AS text) IS NULL OR platform = :platform)"
            ),
            {"tsq": tsq, "platform": platform},
        )
        or 0
    )


async def _corrections(conn: AsyncConnection, words: list[str]) -> list[list[str]] | None:
    """Each word as typed if it is a known name word, else the known words nearest to it (a
    swap of two neighbouring letters counts as one edit); None when some word has nothing
    near it, since no correction could match then."""
    corrected: list[list[str]] = []
    for word in words:
        known = await conn.scalar(text("SELECT 1 FROM search_words WHERE word = :w"), {"w": word})
        if known or len(word) < 3:
            corrected.append([word])
            continue
        near = (await conn.execute(_NEAR, {"word": word, "edits": MAX_EDITS})).scalars().all()
        # Nearest first; among equals, the same letters rearranged (a swap) first.
        ranked = sorted((osa_distance(word, w), sorted(w) != sorted(word), w) for w in near)
        best = [w for d, _, w in ranked if d == ranked[0][0]] if ranked else []
        if not best:
            return None
        corrected.append(best[:ALTERNATIVES])
    return corrected


def osa_distance(a: str, b: str) -> int:
    """Edits between two words, where swapping two neighbouring letters is one edit
    (optimal string alignment). PostgreSQL's levenshtein counts a swap as two."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


async def _browse(
    conn: AsyncConnection, *, platform: str | None, limit: int, offset: int
) -> Result:
    params = {"platform": platform, "limit": limit, "offset": offset, "cap": TOTAL_CAP + 1}
    where = "(CAST(:platform AS text) IS NULL OR platform = :platform)"
    rows = (
        (
            await conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM social_profiles WHERE {where} "  # noqa: S608 - fixed fragments, values bound
                    "ORDER BY followers_count DESC, id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        )
        .mappings()
        .all()
    )
    counted = int(
        await conn.scalar(
            text(f"SELECT count(*) FROM (SELECT 1 FROM social_profiles WHERE {where} LIMIT :cap)"),  # noqa: S608
            params,
        )
        or 0
    )
    return Result([dict(r) for r in rows], min(counted, TOTAL_CAP), counted <= TOTAL_CAP, None)
