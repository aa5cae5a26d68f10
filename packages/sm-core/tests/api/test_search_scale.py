"""Search when a word is common: more matches than ``search.FEW``, read in followers order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from smcore.api.app import create_app
from smcore.settings import Settings
from smcore.store import search

COMMON = search.FEW + 400

# The full ranking every search had before pooling: the oracle for pooled pages.
FULL_RANKING = """
    SELECT username FROM social_profiles, CAST(%(tsq)s AS tsquery) AS query
    WHERE search_document @@ query
    AND (CAST(%(platform)s AS text) IS NULL OR platform = %(platform)s)
    ORDER BY lower(username) = %(handle)s DESC,
        ts_rank(search_document, CAST(%(whole)s AS tsquery)) DESC,
        ts_rank(search_document, query) DESC, followers_count DESC, id
    LIMIT %(limit)s OFFSET %(offset)s
"""


@pytest.fixture
def crowded(database_url: str) -> str:
    """Thousands of Annas (each once, in the name), the exact handle ``anna`` with no followers,
    prefix expansions and bio mentions of "anna" with far more followers than any Anna; bios
    full of "west" and three people named West with few followers."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO social_profiles "
            "(platform, ext_id, username, full_name, bio, followers_count) "
            "SELECT CASE WHEN i %% 5 = 0 THEN 'youtube' ELSE 'instagram' END, 'a' || i, "
            "'user' || i, 'Anna Test' || i, 'west coast', (i * 7919) %% 100003 "
            "FROM generate_series(1, %s) AS i",
            (COMMON,),
        )
        rows = [
            ("anna", "Handle Person", "", 0),
            *[(f"belle{i}", f"Annabelle Big{i}", "", 10**8 + i) for i in range(5)],
            *[(f"fan{i}", f"Bio Person{i}", "anna fan", 10**9 + i) for i in range(5)],
            *[(f"kanye{i}", f"Kanye{i} West", "", i) for i in range(3)],
        ]
        for username, name, bio, followers in rows:
            conn.execute(
                "INSERT INTO social_profiles "
                "(platform, ext_id, username, full_name, bio, followers_count) "
                "VALUES ('instagram', %s, %s, %s, %s, %s)",
                (username, username, name, bio, followers),
            )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE social_profiles")
    return database_url


@pytest_asyncio.fixture
async def api(crowded: str, temporal_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    address = temporal_env.client.service_client.config.target_host
    app = create_app(Settings(api_keys="k1"), database_url=crowded, temporal_address=address)  # type: ignore[arg-type]  # api_keys: parsed from a string
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def page(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get("/api/v1/bloggers", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def full_ranking(url: str, q: str, *, per_page: int, page: int = 1, **extra: Any) -> list[str]:
    params = {
        "tsq": search.tsquery([[q]], prefix_last=True),
        "whole": search.tsquery([[q]], prefix_last=False),
        "handle": q,
        "platform": extra.get("platform"),
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(FULL_RANKING, params)]


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 10},
        {"per_page": 10, "page": 3},
        {"per_page": 7, "platform": "youtube"},
        {"per_page": 100, "page": 2},
    ],
)
async def test_a_common_word_pages_like_full_ranking(
    api: httpx.AsyncClient, crowded: str, params: dict[str, Any]
) -> None:
    """The exact handle first, whole name words before prefix expansions and bio mentions with
    far more followers, then followers: the page full ranking gives."""
    found = await page(api, q="anna", **params)
    expected = full_ranking(crowded, "anna", **params)
    assert [i["username"] for i in found["items"]] == expected
    if "platform" not in params:
        assert (params.get("page", 1) == 1) == (expected[0] == "anna")
    assert found["total_exact"] is False
    assert COMMON / 2 <= found["total"] <= COMMON * 2, "the planner's estimate"


async def test_name_matches_come_before_a_crowd_of_bio_matches(api: httpx.AsyncClient) -> None:
    """ "west" is in thousands of bios and three names: the names, with the fewest followers,
    still come first."""
    found = await page(api, q="west", per_page=5)
    assert [i["username"] for i in found["items"]][:3] == ["kanye2", "kanye1", "kanye0"]
    assert found["total_exact"] is False


async def test_past_the_last_match_the_total_is_exact(api: httpx.AsyncClient) -> None:
    """When the pool of every match ends before the page does, the total is exact."""
    matches = COMMON + 1 + 5 + 5  # the Annas, the handle, the Annabelles, the fans
    last = await page(api, q="anna", per_page=100, page=COMMON // 100 + 1)
    assert (last["total"], last["total_exact"]) == (matches, True)
    assert len(last["items"]) == matches % 100
    past = await page(api, q="anna", per_page=100, page=30)
    assert (past["items"], past["total"], past["total_exact"]) == ([], matches, True)


def test_weighted_queries_keep_prefixes_and_alternatives() -> None:
    words = [["anna", "ana"], ["petr"]]
    assert search.tsquery(words, prefix_last=True, weight="A") == "('anna':A | 'ana':A) & 'petr':*A"
    assert search.tsquery([["p"]], prefix_last=True, weight="A") == "'p':A"
    # Two or three letters: the prefix is a word of the index.
    assert search.tsquery([["anna"], ["pe"]], prefix_last=True) == "'anna' & 'pe*'"
    assert search.tsquery([["pet"]], prefix_last=True, weight="A") == "'pet*':A"
    assert search.tsquery([["pet"]], prefix_last=False) == "'pet'"


def test_estimates_follow_the_planners_statistics() -> None:
    everywhere = search.Shares(
        {"anna": 0.05, "maria": 0.03, "mark": 0.01, "ma*": 0.04}, floor=0.0005
    )

    def estimate(*words: str, prefix_last: bool = False, prefixed: int = 0) -> float:
        stats = search.Statistics(1_000_000, everywhere, None, prefixed=prefixed)
        return stats.estimate([[w] for w in words], prefix_last=prefix_last, names=False)

    assert estimate("anna") == pytest.approx(50_000)
    assert estimate("zzz") == pytest.approx(500), "any other word: the floor"
    assert estimate("anna", prefix_last=True, prefixed=1) == pytest.approx(50_000)
    # A short prefix is a word of its own; a longer one counts its common words, and the rest
    # of the name words it expands to (39 here).
    assert estimate("ma", prefix_last=True) == pytest.approx(40_000)
    assert estimate("mar", prefix_last=True) == pytest.approx(500), "an uncommon one: the floor"
    assert estimate("mari", prefix_last=True, prefixed=40) == pytest.approx(30_000 + 39 * 250)
    # Words together as if independent, but "maria ma" is every Maria.
    assert estimate("anna", "maria") == pytest.approx(1_500)
    assert estimate("anna", "ma", prefix_last=True) == pytest.approx(2_000)
    assert estimate("maria", "ma", prefix_last=True) == pytest.approx(30_000)
    assert search.Statistics(0, None, None).estimate([["anna"]], prefix_last=True, names=False) == 0
