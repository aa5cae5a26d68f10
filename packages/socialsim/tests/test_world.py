"""The world model on its own: determinism, ids, follow lists, growth, the clock."""

from __future__ import annotations

import datetime as dt
import random

from socialsim.world import World, WorldConfig
from socialsim.world.clock import SIM_START, pacific_day
from socialsim.world.instagram import FollowList

SMALL = WorldConfig(seed=5, profiles=40, channels=4)


def _snapshot(world: World) -> dict[str, object]:
    ig, yt = world.instagram, world.youtube
    out: dict[str, object] = {}
    for profile in ig.profiles[:15]:
        state = ig.state(profile)
        out[profile.username] = (
            profile.pk,
            profile.is_private,
            state.followers.page(None, 50),
            state.following.live()[:20],
            [(p.pk, ig.like_count(p), ig.comment_count(p)) for p in state.posts[-5:]],
        )
    for channel in yt.channels:
        out[channel.channel_id] = [
            (v.video_id, yt.views(v), yt.comment_count(v)) for v in yt.uploads(channel)
        ]
    return out


def test_same_seed_builds_the_same_world() -> None:
    assert _snapshot(World(SMALL)) == _snapshot(World(SMALL))


def test_different_seeds_build_different_worlds() -> None:
    other = WorldConfig(seed=6, profiles=40, channels=4)
    assert _snapshot(World(SMALL)) != _snapshot(World(other))


def test_changes_do_not_depend_on_when_a_profile_was_first_used() -> None:
    """Lazy profiles replay the clock's steps: touching one before or after a step agrees."""
    early, late = World(SMALL), World(SMALL)
    for profile in early.instagram.profiles:
        early.instagram.state(profile)
    for world in (early, late):
        world.advance(30)
        world.advance(5.5)
    assert _snapshot(early) == _snapshot(late)


def test_advancing_adds_followers_unfollows_posts_and_videos() -> None:
    world = World(WorldConfig(seed=2, profiles=10, channels=3, giant_followers=5_000))
    ig, yt = world.instagram, world.youtube
    giant = ig.find_username("giant")
    assert giant is not None
    before = set(ig.state(giant).followers.live())
    posts_before = sum(len(ig.state(p).posts) for p in ig.profiles)
    videos_before = sum(len(yt.uploads(c)) for c in yt.channels)
    newest = ig.state(ig.profiles[0]).posts[-1]
    likes_before = ig.like_count(newest)
    world.advance(72)
    after = set(ig.state(giant).followers.live())
    assert after - before, "new followers arrive"
    assert before - after, "some followers leave"
    assert sum(len(ig.state(p).posts) for p in ig.profiles) > posts_before
    assert sum(len(yt.uploads(c)) for c in yt.channels) > videos_before
    assert ig.like_count(newest) > likes_before
    assert world.now == SIM_START + 72 * 3600


def test_ids_look_like_instagram_and_youtube_ids() -> None:
    world = World(WorldConfig(seed=9, profiles=200, channels=10))
    ig = world.instagram
    pks = [ig.account(i).pk for i in range(20_000)]
    assert len(set(pks)) == len(pks)
    assert all(pk.isdigit() for pk in pks)
    large = sum(int(pk) > 2**53 for pk in pks) / len(pks)
    assert 0.5 < large < 0.9, "a good share of user pks exceed 2**53, not all"
    assert {len(pk) for pk in pks} >= {17, 18, 19}
    usernames = [ig.account(i).username for i in range(20_000)]
    assert len(set(usernames)) == len(usernames)
    for profile in ig.profiles[:30]:
        for post in ig.state(profile).posts:
            assert len(str(post.pk)) == 19 and post.pk > 2**53
    assert sum(p.is_private for p in ig.profiles) in range(2, 25)
    assert ig.missing[0] == "missing_0001"
    for channel in world.youtube.channels:
        assert channel.channel_id.startswith("UC") and len(channel.channel_id) == 24
        assert channel.uploads_playlist_id == "UU" + channel.channel_id[2:]
        assert all(len(v.video_id) == 11 for v in world.youtube.uploads(channel))


def test_follower_counts_are_heavy_tailed_and_capped() -> None:
    counts = sorted(
        p.followers_target for p in World(WorldConfig(seed=3, profiles=400)).instagram.profiles
    )
    median = counts[len(counts) // 2]
    assert 50 < median < 3_000
    assert counts[-1] > 10 * median
    assert counts[-1] <= 20_000


def test_follow_list_pages_skip_unfollowed_entries_and_keep_positions() -> None:
    follows = FollowList(list(range(10)))
    first, position = follows.page(None, 4)
    assert first == [9, 8, 7, 6]
    follows.alive[5] = 0
    follows.alive_count -= 1
    follows.follow(random.Random(1), 3, pool=100, exclude=-1)  # noqa: S311
    second, position = follows.page(position, 4)
    assert second == [4, 3, 2, 1]
    third, position = follows.page(position, 4)
    assert third == [0]
    assert position is None
    assert len(follows.live()) == 12


def test_a_page_that_ends_on_the_last_live_entry_has_no_next_position() -> None:
    follows = FollowList([1, 2, 3])
    follows.alive[0] = 0
    follows.alive_count -= 1
    assert follows.page(None, 2) == ([3, 2], None)


def test_comment_pages_list_exactly_comment_count_comments() -> None:
    world = World(SMALL)
    ig = world.instagram
    post = max(
        (post for p in ig.profiles for post in ig.state(p).posts), key=lambda p: p.comments_final
    )
    seen, position = [], None
    while True:
        page, position = ig.comments_page(post, position, 20)
        seen += [c.pk for c in page]
        if position is None:
            break
    assert len(seen) == len(set(seen)) == ig.comment_count(post) > 20
    times = [ig.comment(post, k).created_at for k in range(ig.comment_count(post))]
    assert times == sorted(times) and times[-1] <= world.now


def test_pacific_day_follows_daylight_saving_time() -> None:
    assert pacific_day(SIM_START) == dt.date(2025, 12, 31)
    assert pacific_day(SIM_START + 8 * 3600) == dt.date(2026, 1, 1)
    july_midnight_pdt = int(dt.datetime(2026, 7, 1, 7, tzinfo=dt.UTC).timestamp())
    assert pacific_day(july_midnight_pdt) == dt.date(2026, 7, 1)
    assert pacific_day(july_midnight_pdt - 1) == dt.date(2026, 6, 30)
