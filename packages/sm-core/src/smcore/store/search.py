"""Blogger search over the database's own index, built to stay fast at millions of profiles.

- Words are matched through the full-text index (``search_document``: username parts and full
  name weighted A, bio C; accents and case ignored). The last word may be a prefix, as the user
  is typing it: one of two or three letters is a word of the index (each name word carries its
  first two and three letters, ``ma*`` and ``mar*``; bio words do not), a longer one expands
  to the words it starts. Results rank by text rank (an exact ``@handle`` first, whole words
  before prefix expansions, name words before bio words), then followers.
- When nothing matches the words as typed, each word that is not a known name word is replaced
  by the known words within two edits of it (``search_words``, kept by a trigger), and the
  search runs again: two swapped letters in a name still find the profile.
- With no words, profiles are listed by followers.

How a search runs depends on its estimated matches E: the share of profiles holding each word
as ANALYZE last found it (``pg_stats``, read once per analysis and kept per process; the
planner's own figures, without planning anything), words AND-ed as if independent, a prefix
counting the name words it expands to (``search_words``, counted in the round trip that parses
the words) unless it is indexed. P is ``offset + limit``, N the profiles. Reading the matches
from their index costs E row visits, plus a tenth of one per index entry of an expanded
prefix's words ("mari:*" reads every entry of each word it starts, even in "john & mari:*");
walking the followers order until P matches, P * N / E.

- Reading every match costs no more than the pools below together (or E is at most ``FEW``):
  every match is ranked, and the total is exact.
- Else (a common first name, a short prefix: tens of thousands at a million profiles; ranking
  them all cost 50 to 500 ms), the page is ranked among pools of the most-followed matches, one
  pool per tier (the exact handle; whole words in names; any words in names; whole words
  anywhere; any match), each stopped after P rows and each read or walked, whichever is
  cheaper for that tier (a word common in bios may be rare in names:
  ``sm_name_document`` has an index of its own). A walk stops after twice the rows it should
  visit (at most what reading would) and then reads the index instead: estimates of words
  together can be far off ("иван & ca:*": Cyrillic and Latin names rarely meet), and a walk
  past rare matches visits the table.
  Within a tier the page is the same as full ranking whenever the tier's best rows are among
  its most followed (they are, by definition, when rank ties; a profile named "Anna Anna" with
  few followers may rank lower than full ranking would put it). The total is the estimate
  (``total_exact`` false).

Listing without words counts up to ``TOTAL_CAP`` and says when it stopped there (``total_exact``
false).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

TOTAL_CAP = 10_000
# Up to this many estimated matches, a search ranks them all, however small the table (above
# it, when reading them costs less than walking the followers order: see the module docstring).
FEW = 2_000
# Index entries of a prefix's words read in the time of one row: a prefix's bitmap holds every
# profile with any word it expands to, whatever else the query asks.
PREFIX_ENTRIES_PER_ROW = 10
# A walk in followers order stops after WALK times the rows it is expected to visit (or the rows
# reading the index would, if fewer: reading is what follows a walk stopped short).
WALK = 2
# Name words carry their first two and three letters as words of their own (``ma*``, ``mar*``):
# a prefix that short is one index entry; a longer one expands to the words it starts.
INDEXED_PREFIX = 3
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


# The query's words as the index has them (the same parser, accents removed, in typed order);
# what the estimates need: the table's size, when it was last analysed (which tells cached
# statistics apart, see ``_common_words``), how many name words start with the last word (a
# prefix); and this transaction's settings; in one round trip. Planning is cheap, JIT compiling
# is not: it costs more than these queries themselves. Plans are made for the values at hand:
# a generic plan cannot tell a rare word (the index) from a common one (the followers order).
# A parallel plan only adds start-up time to these short queries.
_PREPARE = text(
    "WITH parsed AS (SELECT ARRAY(SELECT lexeme FROM unnest(to_tsvector('simple',"
    "   sm_unaccent(translate(:q, '._-', '   ')))) ORDER BY positions[1]) AS words),"
    " last AS (SELECT CASE WHEN length(words[cardinality(words)]) > :indexed_prefix"
    "   THEN words[cardinality(words)] END AS prefix FROM parsed)"
    " SELECT set_config('jit', 'off', true), set_config('work_mem', '16MB', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('max_parallel_workers_per_gather', '0', true), words,"
    " (SELECT reltuples FROM pg_class WHERE oid = 'social_profiles'::regclass) AS profiles,"
    " ARRAY[inet_server_addr()::text, inet_server_port()::text, current_database(),"
    "   'social_profiles'::regclass::oid::text,"
    "   pg_stat_get_last_analyze_time('social_profiles'::regclass)::text,"
    "   pg_stat_get_last_autoanalyze_time('social_profiles'::regclass)::text] AS analysed,"
    " (SELECT count(*) FROM search_words"
    "   WHERE word >= prefix AND word < prefix || chr(1114111)) AS prefixed"
    " FROM parsed, last"
)
# The most common words of the full-text index and of the name index, with the share of
# profiles that holds each, as ANALYZE found them: the planner's own figures.
_COMMON_WORDS = text(
    "SELECT s.tablename = 'social_profiles' AS everywhere,"
    " s.most_common_elems::text::text[] AS words, s.most_common_elem_freqs AS shares"
    " FROM pg_stats AS s WHERE s.schemaname = current_schema()"
    " AND (s.tablename, s.attname) IN"
    " (('social_profiles', 'search_document'), ('ix_social_profiles_names', 'sm_name_document'))"
)


@dataclass(frozen=True, slots=True)
class Shares:
    """The share of profiles holding each of an index's most common words; ``floor`` for any
    other word (half the least common one's share, as the planner takes it)."""

    words: dict[str, float]
    floor: float


# Reading pg_stats costs 5 to 10 ms (a view over the catalogue, a thousand words cast from
# text); it changes only when the table is analysed, so each process keeps the last few reads,
# keyed by server, database, table and analysis time.
_COMMON: dict[tuple[str | None, ...], tuple[Shares | None, Shares | None]] = {}


async def _common_words(
    conn: AsyncConnection, analysed: list[str | None]
) -> tuple[Shares | None, Shares | None]:
    """(everywhere, names) as last analysed; None before any ANALYZE."""
    key = tuple(analysed)
    if key not in _COMMON:
        found: dict[bool, Shares] = {}
        for row in (await conn.execute(_COMMON_WORDS)).all():
            n = len(row.words or [])
            if n:  # the shares list ends with the least and greatest share, and nulls
                shares = dict(zip(row.words, row.shares[:n], strict=True))
                found[row.everywhere] = Shares(shares, float(row.shares[n]) / 2)
        if len(_COMMON) >= 16:
            _COMMON.clear()
        _COMMON[key] = (found.get(True), found.get(False))
    return _COMMON[key]


@dataclass(frozen=True, slots=True)
class Statistics:
    """What the planner knows of the words searched: profiles, and per index (everywhere,
    names) its most common words; how many name words start with the last word."""

    profiles: float
    everywhere: Shares | None
    names: Shares | None
    prefixed: int = 0  # name words that start with the last word, when it is a prefix

    def estimate(self, words: list[list[str]], *, prefix_last: bool, names: bool) -> float:
        """The planner's estimate of the matches of ``tsquery(words, prefix_last=...)``:
        alternatives of a word OR-ed, words AND-ed as if independent; 0 before any ANALYZE."""
        stats = self.names if names else self.everywhere
        if not stats or self.profiles <= 0:
            return 0.0
        shares, floor = stats.words, stats.floor
        selectivity = 1.0
        for i, alternatives in enumerate(words):
            none = 1.0
            for word in alternatives:
                if prefix_last and i == len(words) - 1 and len(word) >= 2:
                    if indexed := indexed_prefix(word):
                        share = shares.get(indexed, 0.0)
                    else:
                        common = [v for k, v in shares.items() if k.startswith(word)]
                        # The less common words a prefix expands to count too ("bel": a few
                        # common words, 30,000 profiles in all); rare ones, half the floor each.
                        share = sum(common) + max(0, self.prefixed - len(common)) * floor / 2
                    if any(w.startswith(word) for ws in words[:-1] for w in ws):
                        share = 1.0  # "maría ma": every María matches "ma*" already
                else:
                    share = shares.get(word, 0.0)
                none *= 1 - max(share, floor)
            selectivity *= 1 - none
        return selectivity * self.profiles


@dataclass(frozen=True, slots=True)
class Result:
    items: list[dict[str, Any]]
    total: int
    total_exact: bool
    corrected: str | None  # the words searched instead, when the typed ones matched nothing


def indexed_prefix(word: str) -> str | None:
    """The word a prefix of two or three letters is indexed as (``ma`` → ``ma*``: every name
    word starting with "ma" carries it); None for a prefix the index expands."""
    return word + "*" if 2 <= len(word) <= INDEXED_PREFIX else None


def tsquery(words: list[list[str]], *, prefix_last: bool, weight: str = "") -> str:
    """``[["anna"], ["petr"]]`` → ``'anna' & 'petr':*``, ``[["anna"], ["pe"]]`` → ``'anna' &
    'pe*'`` (an indexed prefix); alternatives of one word are OR-ed; ``weight="A"`` matches
    only words of that weight (``'anna':A & 'petr':*A``). Read with ``CAST(… AS tsquery)``:
    the words are the index's own, and ``pe*`` must not be parsed again."""
    parts = []
    for i, alternatives in enumerate(words):
        last = prefix_last and i == len(words) - 1
        terms = []
        for word in alternatives:
            indexed = indexed_prefix(word) if last else None
            mark = ("*" if last and len(word) >= 2 and indexed is None else "") + weight
            terms.append(_quote(indexed or word) + (":" + mark if mark else ""))
        parts.append(terms[0] if len(terms) == 1 else "(" + " | ".join(terms) + ")")
    return " & ".join(parts)


def _quote(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


async def search(
    conn: AsyncConnection, *, q: str, platform: str | None, limit: int, offset: int
) -> Result:
    """One page of matching profiles with the total number of matches (or its estimate)."""
    prepared = (await conn.execute(_PREPARE, {"q": q, "indexed_prefix": INDEXED_PREFIX})).one()
    words = list(prepared.words)
    if not words:
        return await _browse(conn, platform=platform, limit=limit, offset=offset)
    everywhere, names = await _common_words(conn, prepared.analysed)
    statistics = Statistics(prepared.profiles, everywhere, names, prepared.prefixed)
    found = await _find(
        conn,
        words=[[w] for w in words],
        prefix_last=True,
        statistics=statistics,
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
        statistics=replace(statistics, prefixed=0),
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
    statistics: Statistics,
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
    everywhere = statistics.estimate(words, prefix_last=prefix_last, names=False)
    pool = offset + limit

    def costs(*, prefix: bool, names: bool) -> tuple[float, float]:
        """Rows visited reading the matches from their index and sorting them, and walking the
        followers order until ``pool`` of them: the walk visits pool / E of the table; the
        index E rows, plus, for a prefix, the index entries of every word it expands to, a tenth
        of a row each ("mari:*" reads the entries of every word it starts)."""
        estimate = statistics.estimate(words, prefix_last=prefix, names=names)
        read = estimate
        if prefix and len(words[-1][0]) >= 2 and not indexed_prefix(words[-1][0]):
            expanded = statistics.estimate(words[-1:], prefix_last=True, names=names)
            read += expanded / PREFIX_ENTRIES_PER_ROW
        return read, pool * statistics.profiles / max(estimate, 1)

    # Per tier: (the condition its own index answers, the same on the stored document, how
    # many rows to walk in followers order, 0 to read the index and sort instead): a walk is
    # stopped after twice the rows it should visit, or the rows reading would, if fewer.
    pools: list[tuple[str, str, int]] = []
    pooled = 0.0  # the rows all pools visit
    for names, query in itertools.product((True, False), ("whole", "tsq")):
        if query == "whole" and queries["whole"] == queries["tsq"]:
            continue
        read, walked = costs(prefix=prefix_last and query == "tsq", names=names)
        pooled += min(read, walked)
        walk = 0 if read <= max(FEW, walked) else round(min(WALK * walked, read))
        if names:
            # Names have their own index: a word rare in names may be common in bios, and a
            # walk in followers order would pass every bio match to reach them. The walk checks
            # the stored document with the names' weight.
            indexed = f"sm_name_document(username, full_name) @@ CAST(:{query} AS tsquery)"
            pools.append((indexed, f"search_document @@ CAST(:{query}_names AS tsquery)", walk))
        else:  # the last, any match, is the one `seen` counts
            condition = f"search_document @@ CAST(:{query} AS tsquery)"
            pools.append((condition, condition, walk))

    read, _ = costs(prefix=prefix_last, names=False)
    if read <= max(FEW, pooled):  # ranking every match costs no more than the pools
        return await _match(
            conn,
            tsq=queries["tsq"],
            whole=queries["whole"],
            handle=handle,
            platform=platform,
            limit=limit,
            offset=offset,
        )
    sql = text(_pooled_sql(pools))
    params = {
        **queries,
        "handle": handle,
        "platform": platform,
        "pool": pool,
        **{f"walk{i}": rows for i, (_, _, rows) in enumerate(pools)},
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
    return Result(items, max(round(everywhere), seen), False, None)


_PLATFORM = "(CAST(:platform AS text) IS NULL OR platform = :platform)"


def _pooled_sql(pools: list[tuple[str, str, int]]) -> str:
    """Each pool's most-followed matches, stopped at ``:pool`` rows, and the exact handle,
    ranked like a full search; ``seen``: the size of the last pool.

    A pool is read from its condition's index and sorted, or walks the followers order, as
    ``pools`` says. The walk is the estimate's bet that matches are common; estimates of words
    together can be far off ("иван & ca:*": Cyrillic and Latin names rarely meet), so a walk
    stops after ``:walk<i>`` profiles, and when that did not fill the pool, the index is read."""
    ctes = []
    for i, (indexed, stored, walk) in enumerate(pools):
        # ``followers_count + 0``: no index has that order, so the planner reads the matches
        # from the condition's own index and sorts them.
        read = (
            f"SELECT id FROM social_profiles WHERE {indexed} AND {_PLATFORM}"  # noqa: S608 - fixed fragments
            " ORDER BY followers_count + 0 DESC, id LIMIT :pool"
        )
        if not walk:
            ctes.append(f"p{i} AS MATERIALIZED ({read}), ")
            continue
        unfilled = f"(SELECT count(*) FROM w{i}) < :pool AND "  # noqa: S608 - fixed fragments
        ctes.append(
            f"w{i} AS MATERIALIZED (SELECT id FROM (SELECT id, followers_count, platform,"  # noqa: S608 - fixed fragments
            "  search_document FROM social_profiles ORDER BY followers_count DESC, id"
            f"  LIMIT :walk{i}) AS walked WHERE {stored} AND {_PLATFORM}"
            "  ORDER BY followers_count DESC, id LIMIT :pool), "
            f"p{i} AS MATERIALIZED (SELECT id FROM w{i} UNION"
            f" ({read.replace(' WHERE ', ' WHERE ' + unfilled, 1)})), "
        )
    union = "".join(f" UNION SELECT id FROM p{i}" for i in range(len(pools)))  # noqa: S608 - fixed
    return (
        f"WITH {''.join(ctes)}pool AS ("  # noqa: S608 - fixed fragments, values bound
        "  SELECT id FROM social_profiles WHERE lower(username) = :handle"
        f"  AND search_document @@ CAST(:tsq AS tsquery) AND {_PLATFORM}{union}"
        f") SELECT {_COLUMNS}, lower(username) = :handle AS handle,"
        "  ts_rank(search_document, CAST(:whole AS tsquery)) AS whole,"
        "  ts_rank(search_document, CAST(:tsq AS tsquery)) AS rank,"
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
        "    ts_rank(search_document, CAST(:whole AS tsquery)) AS whole,"
        "    ts_rank(search_document, query) AS rank"
        "  FROM social_profiles, CAST(:tsq AS tsquery) AS query"
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
                "SELECT count(*) FROM social_profiles, CAST(:tsq AS tsquery) AS query "
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
