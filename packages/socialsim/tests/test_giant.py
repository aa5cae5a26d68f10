"""The giant profile: 100,000 followers generated lazily and paged quickly."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from socialsim.world import World, WorldConfig

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis


def test_the_giant_paginates_completely_and_matches_the_truth(apis: Apis) -> None:
    truth = apis.truth("giant")
    assert truth["profile"]["followers_count"] == len(truth["followers"]) == 100_000
    assert truth["profile"]["posts_count"] == len(truth["posts"]) == 30
    user_id = truth["profile"]["ext_id"]
    seen: list[str] = []
    cursor = None
    started = time.perf_counter()
    while True:
        body = {"id": user_id, "count": 50} | ({"max_id": cursor} if cursor else {})
        page = apis.rocket("user/get_followers", **body).json()["response"]["body"]
        seen += [user["pk"] for user in page["users"]]
        cursor = page.get("next_max_id")
        if cursor is None:
            break
    elapsed = time.perf_counter() - started
    assert len(seen) == len(set(seen)) == 100_000
    assert seen == truth["followers"]
    assert elapsed < 20, f"2,000 pages took {elapsed:.1f} s"


def test_the_giant_is_generated_only_when_first_used() -> None:
    started = time.perf_counter()
    world = World(WorldConfig(seed=1, profiles=200, giant_followers=100_000, giant_posts=5))
    assert time.perf_counter() - started < 1.5
    giant = world.instagram.find_username("giant")
    assert giant is not None
    assert world.instagram._states == {}
    assert world.instagram.state(giant).followers.alive_count == 100_000


def test_a_deep_page_costs_no_more_than_the_first() -> None:
    world = World(WorldConfig(seed=1, profiles=10, giant_followers=100_000))
    giant = world.instagram.find_username("giant")
    assert giant is not None
    followers = world.instagram.state(giant).followers

    def cost(position: int | None) -> float:
        started = time.perf_counter()
        for _ in range(200):
            followers.page(position, 50)
        return time.perf_counter() - started

    assert cost(100) < 3 * cost(None) + 0.005
