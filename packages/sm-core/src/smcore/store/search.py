"""Blogger search over the database's own index, built to stay fast at millions of profiles.

- Words are matched through the full-text index (``search_document``: username parts and full
  name weighted A, bio C; accents and case ignored). The last word may be a prefix, as the user
  is typing it. Results rank by text rank (an exact ``@handle`` first, whole words before prefix
  expansions, name words before bio words), then followers.
- When nothing matches the words as typed, each word that is not a known name word is replaced
  by the known words within two edits of it (``search_words``, kept by a trigger), and the
  search runs again: two swapped letters in a name still find the profile.
- With no words, profiles are listed by followers.

How a search runs depends on the planner's estimate of its matches (``sm_search_estimate``):

- Up to ``FEW`` matches: every match is ranked, and the total is exact.
- More (a common first name, a short prefix: tens of thousands at a million profiles): ranking
  them all cost 50 to 500 ms. The page is ranked among pools of the most-followed matches
  instead, one pool per tier (the exact handle; whole words in names; any words in names; whole
  words anywhere; any match), each read in the followers index's order and stopped after
  ``offset + limit`` rows, so no more than a page or so of rows per pool is visited. Within a
  tier the page is the same as full ranking whenever the tier's best rows are among its most
  followed (they are, by definition, when rank ties; a profile named "Anna Anna" with few
  followers may rank lower than full ranking would put it). The total is the planner's
  estimate (``total_exact`` false).

Listing without words counts up to ``TOTAL_CAP`` and says when it stopped there (``total_exact``
false).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

TOTAL_CAP = 10_000
# Above this many estimated matches, a search reads pools of the most-followed matches instead
# of ranking them all: at a million profiles ranking 2,000 rows costs about what reading a page
# of a common word in followers order does.
FEW = 2_000
MAX_EDITS = 2
ALTERNATIVES = 8
_COLUMNS = (
    "id, platform, ext_id, username, full_name, bio, avatar, url, followers_count, "
    "follows_count, posts_count, engagement_rate, is_private, is_verified, last_synced_at"
)
_RANKING = "handle DESC, whole DESC, rank DESC, followers_count DESC, id"
_RANK_KEYS = frozenset({"handle", "whole", "rank", "seen", "total"})
# Name words are a small table (tens of thousands of words for a million profiles): a scan
# with a cheap length filter beats a trigram index, which misses short words with a swap.
_NEAR = text(
    "SELECT word FROM search_words "
    "WHERE length(word) BETWEEN length(:word) - :edits AND length(:word) + :edits "
    "AND levenshtein_less_equal(word, :word, :edits) <= :edits"
)
# The query's words as the index has them: the same parser, accents removed, in typed order;
# and this transaction's settings, in the same round trip. Planning is cheap, JIT compiling is
# not: it costs more than these queries themselves. Plans are made for the values at hand: a
# generic plan cannot tell a rare word (the index) from a common one (the followers order).
_PREPARE = text(
    "SELECT set_config('jit', 'off', true), set_config('work_mem', '16MB', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true),"
    " ARRAY(SELECT lexeme FROM unnest(to_tsvector('simple',"
    "   sm_unaccent(translate(:q, '._-', '   ')))) ORDER BY positions[1]) AS words"
)
_ESTIMATES = text(
    "SELECT sm_search_estimate(false, to_tsquery('simple', :tsq)) AS everywhere,"
    " sm_search_estimate(false, to_tsquery('simple', :whole)) AS whole,"
    " sm_search_estimate(true, to_tsquery('simple', :tsq)) AS names,"
    " sm_search_estimate(true, to_tsquery('simple', :whole)) AS names_whole"
)


@dataclass(frozen=True, slots=True)
class Result:
    items: list[dict[str, Any]]
    total: int
    total_exact: bool
    corrected: str | None  # the words searched instead, when the typed ones matched nothing


def tsquery(words: list[list[str]], *, prefix_last: bool, weight: str = "") -> str:
    """``[["anna"], ["pet"]]`` → ``anna & pet:*``; alternatives of one word are OR-ed;
    ``weight="A"`` matches only words of that weight (``anna:A & pet:*A``)."""
    parts = []
    for i, alternatives in enumerate(words):
        last = prefix_last and i == len(words) - 1
        marks = [("*" if last and len(w) >= 2 else "") + weight for w in alternatives]
        terms = [
            _quote(w) + (":" + m if m else "") for w, m in zip(alternatives, marks, strict=True)
        ]
        parts.append(terms[0] if len(terms) == 1 else "(" + " | ".join(terms) + ")")
    return " & ".join(parts)


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


async def search(
    conn: AsyncConnection, *, q: str, platform: str | None, limit: int, offset: int
) -> Result:
    """One page of matching profiles with the total number of matches (or its estimate)."""
    words = list((await conn.execute(_PREPARE, {"q": q})).one().words)
    if not words:
        return await _browse(conn, platform=platform, limit=limit, offset=offset)
    found = await _find(
        conn,
        words=[[w] for w in words],
        prefix_last=True,
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
    result = await _find(
        conn,
        words=corrected,
        prefix_last=False,
        handle="",
        platform=platform,
        limit=limit,
        offset=offset,
    )
    shown = " ".join("|".join(alternatives) for alternatives in corrected)
    return Result(result.items, result.total, result.total_exact, shown if result.total else None)


async def _find(
    conn: AsyncConnection,
    *,
    words: list[list[str]],
    prefix_last: bool,
    handle: str,
    platform: str | None,
    limit: int,
    offset: int,
) -> Result:
    queries = {
        "tsq": tsquery(words, prefix_last=prefix_last),
        "whole": tsquery(words, prefix_last=False),
        "tsq_names": tsquery(words, prefix_last=prefix_last, weight="A"),
        "whole_names": tsquery(words, prefix_last=False, weight="A"),
    }
    estimates = (await conn.execute(_ESTIMATES, queries)).one()
    if estimates.everywhere <= FEW:
        return await _match(
            conn,
            tsq=queries["tsq"],
            whole=queries["whole"],
            handle=handle,
            platform=platform,
            limit=limit,
            offset=offset,
        )
    pools: list[str] = []
    for query, estimate in (("whole", estimates.names_whole), ("tsq", estimates.names)):
        if query == "whole" and queries["whole"] == queries["tsq"]:
            continue
        # Few name matches: their own index finds them (a word rare in names may be common in
        # bios, and a walk in followers order would pass every bio match to reach them). Many:
        # the walk stops soon, checking the stored document with the names' weight.
        pools.append(
            f"sm_name_document(username, full_name) @@ to_tsquery('simple', :{query})"
            if estimate <= FEW
            else f"search_document @@ to_tsquery('simple', :{query}_names)"
        )
    if queries["whole"] != queries["tsq"]:
        pools.append("search_document @@ to_tsquery('simple', :whole)")
    pools.append("search_document @@ to_tsquery('simple', :tsq)")  # last: `seen` counts it
    sql = text(_pooled_sql(pools))
    params = {
        **queries,
        "handle": handle,
        "platform": platform,
        "pool": offset + limit,
        "limit": limit,
        "offset": offset,
    }
    rows = (await conn.execute(sql, params)).mappings().all()
    items = [{k: v for k, v in row.items() if k not in _RANK_KEYS} for row in rows]
    if not rows:  # past the last match: fewer than offset + limit, counted in their index
        return Result([], await _count_to(conn, queries["tsq"], platform, offset), True, None)
    seen = int(rows[0]["seen"])
    if seen < offset + limit:  # the pool of any match holds every match
        return Result(items, seen, True, None)
    return Result(items, max(int(estimates.everywhere), seen), False, None)


_PLATFORM = "(CAST(:platform AS text) IS NULL OR platform = :platform)"


def _pooled_sql(pools: list[str]) -> str:
    """Each pool's most-followed matches (in followers order, stopped at ``:pool`` rows) and
    the exact handle, ranked like a full search; ``seen``: the size of the last pool."""
    ctes = "".join(
        f"p{i} AS MATERIALIZED (SELECT id FROM social_profiles WHERE {cond} AND {_PLATFORM} "  # noqa: S608 - fixed fragments
        "ORDER BY followers_count DESC, id LIMIT :pool), "
        for i, cond in enumerate(pools)
    )
    union = "".join(f" UNION SELECT id FROM p{i}" for i in range(len(pools)))  # noqa: S608 - fixed
    return (
        f"WITH {ctes}pool AS ("  # noqa: S608 - fixed fragments, values bound
        "  SELECT id FROM social_profiles WHERE lower(username) = :handle"
        f"  AND search_document @@ to_tsquery('simple', :tsq) AND {_PLATFORM}{union}"
        f") SELECT {_COLUMNS}, lower(username) = :handle AS handle,"
        "  ts_rank(search_document, to_tsquery('simple', :whole)) AS whole,"
        "  ts_rank(search_document, to_tsquery('simple', :tsq)) AS rank,"
        f"  (SELECT count(*) FROM p{len(pools) - 1}) AS seen"
        f" FROM social_profiles JOIN pool USING (id) ORDER BY {_RANKING}"
        " LIMIT :limit OFFSET :offset"
    )


async def _match(
    conn: AsyncConnection,
    *,
    tsq: str,
    whole: str,
    handle: str,
    platform: str | None,
    limit: int,
    offset: int,
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
        "whole": whole,
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
