"""Pinned posts: old posts some profiles pin, listed first on the feed's first page, once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socialsim.world import World, WorldConfig
from socialsim.world.instagram import NEVER_PINNED_NEWEST, PINNING_MIN_POSTS, Instagram, Profile

if TYPE_CHECKING:  # the fixture's class, for readers and editors (pytest injects it)
    from conftest import Apis


def _feed(ig: Instagram, profile: Profile, count: int) -> list[list[int]]:
    """Every page of the feed, as post pks."""
    state = ig.state(profile)
    pages, position = [], None
    while True:
        posts, position = ig.posts_page(state, position, count)
        pages.append([p.pk for p in posts])
        if position is None:
            return pages


def test_a_public_profile_among_the_first_ten_of_seed_7_pins_posts() -> None:
    ig = World(WorldConfig(seed=7, profiles=10)).instagram
    pinning = [p for p in ig.profiles if not p.is_private and ig.pinned(p)]
    assert pinning, "tests rely on one"
    assert all(p.username <= "user_0010" for p in pinning)


def test_about_one_in_four_profiles_with_six_posts_pins_one_to_three_old_ones() -> None:
    ig = World(WorldConfig(seed=3, profiles=400)).instagram
    eligible = [p for p in ig.profiles if len(ig.state(p).posts) >= PINNING_MIN_POSTS]
    pinning = [p for p in ig.profiles if ig.pinned(p)]
    assert set(pinning) <= set(eligible)
    assert 0.17 < len(pinning) / len(eligible) < 0.33
    assert {len(ig.pinned(p)) for p in pinning} == {1, 2, 3}
    for profile in pinning:
        newest = ig.state(profile).posts[-NEVER_PINNED_NEWEST:]
        pinned = ig.pinned(profile)
        assert not set(pinned) & set(newest)
        assert [p.taken_at for p in pinned] == sorted((p.taken_at for p in pinned), reverse=True)


def test_the_feed_lists_pinned_posts_first_then_every_other_post_once() -> None:
    world = World(WorldConfig(seed=3, profiles=400))
    ig = world.instagram
    profile = next(p for p in ig.profiles if len(ig.pinned(p)) >= 2)
    state = ig.state(profile)
    pinned = [p.pk for p in ig.pinned(profile)]
    others = [p.pk for p in reversed(state.posts) if p.pk not in pinned]
    for count in (1, 2, 5, 12):
        pages = _feed(ig, profile, count)
        assert [pk for page in pages for pk in page] == pinned + others, count
        assert all(len(page) == max(count, len(pinned)) for page in pages[:1])
        assert all(len(page) == count for page in pages[1:-1])


def test_feed_positions_survive_new_posts() -> None:
    world = World(WorldConfig(seed=3, profiles=400))
    ig = world.instagram
    profile = next(p for p in ig.profiles if ig.pinned(p) and p.posts_per_day > 0.8)
    state = ig.state(profile)
    before = [p.pk for p in state.posts]
    first, position = ig.posts_page(state, None, 12)
    world.advance(24 * 10)
    state = ig.state(profile)
    assert len(state.posts) > len(before), "new posts arrived"
    seen = [p.pk for p in first]
    while position is not None:
        page, position = ig.posts_page(state, position, 12)
        seen += [p.pk for p in page]
    assert sorted(seen) == sorted(before), "the old posts, each once, no new one"


def _rocket_feed(apis: Apis, user_id: str) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        body = {"id": user_id, "count": 12} | ({"max_id": cursor} if cursor else {})
        status, page = apis.rocket_body("user/get_media", **body)
        assert status == 200, page
        pages.append(page)
        cursor = page.get("next_max_id")
        if cursor is None:
            return pages


def test_rocket_and_scraper_feeds_mark_pinned_posts_on_the_first_page(apis: Apis) -> None:
    for entry in apis.profiles():
        truth = apis.truth(entry["username"])
        if not entry["is_private"] and sum(p["pinned"] for p in truth["posts"]) >= 2:
            break
    else:
        raise AssertionError("no public profile pins two posts")
    user_id = truth["profile"]["ext_id"]
    pinned = [p["ext_id"] for p in truth["posts"] if p["pinned"]]
    pages = _rocket_feed(apis, user_id)
    items = [item for page in pages for item in page["items"]]
    assert [i["pk"] for i in items] == apis.feed_order(truth)
    assert [i["pk"] for i in items[: len(pinned)]] == pinned
    assert pages[0]["num_results"] == 12
    for item in items:
        if item["pk"] in pinned:
            assert item["timeline_pinned_user_ids"] == [int(user_id)]
        else:
            assert "timeline_pinned_user_ids" not in item
    scraper = apis.scraper("/user-feeds", id=user_id, count=12).json()
    assert [i["pk"] for i in scraper["items"]] == [i["pk"] for i in pages[0]["items"]]
    assert scraper["items"][0]["timeline_pinned_user_ids"] == [int(user_id)]
    status, reels = apis.rocket_body("user/get_clips", id=user_id)
    assert status == 200
    assert not any("timeline_pinned_user_ids" in i["media"] for i in reels["items"])
