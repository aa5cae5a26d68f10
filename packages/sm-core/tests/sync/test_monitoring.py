"""Monitoring over time: the same accounts synced again after the simulator's clock moved.

Rolling refresh of a window of posts, pinned posts, a backfill that continues, malformed items
quarantined, follow history that survives truncated listings.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from socialsim.testing import serve

WINDOW_DAYS = 400.0


def stored_posts(s: Any, username: str) -> dict[str, dict[str, Any]]:
    rows = s.rows(
        "SELECT p.ext_id, p.id, p.likes_count, p.comments_count, p.pinned, "
        "(SELECT count(*) FROM metric_snapshots m WHERE m.subject_type = 'post' "
        " AND m.subject_id = p.id) FROM posts p JOIN social_profiles sp "
        "ON sp.id = p.social_profile_id WHERE sp.username = %s AND p.product_type <> 'story'",
        username,
    )
    return {
        r[0]: {"id": r[1], "likes": r[2], "comments": r[3], "pinned": r[4], "snapshots": r[5]}
        for r in rows
    }


def stored_comments(s: Any, post_id: int) -> set[str]:
    return {
        r[0]
        for r in s.rows(
            "SELECT ext_id FROM comments WHERE post_id = %s AND parent_id IS NULL", post_id
        )
    }


async def test_two_syncs_72_hours_apart_refresh_the_window_and_leave_the_rest(
    syncer: Any,
) -> None:
    # seed 9: user_0001 is public, has 31 posts over years and one from the last three days.
    with serve(seed=9, profiles=30, channels=0) as sim:
        s = syncer(sim)
        username = "user_0001"
        async with s.worker():
            first = await s.sync(
                platform="instagram", scope="all", username=username, refresh_days=WINDOW_DAYS
            )
            assert first.status == "succeeded", first.summary
            before = s.truth(f"instagram/{username}")
            before_comments = {
                p["ext_id"]: {
                    c["ext_id"]
                    for c in s.truth(f"instagram/{username}/posts/{p['ext_id']}")["comments"]
                }
                for p in before["posts"]
            }
            s.advance(72)
            second = await s.sync(
                platform="instagram", scope="all", username=username, refresh_days=WINDOW_DAYS
            )
            assert second.status == "succeeded", second.summary
        after = s.truth(f"instagram/{username}")
        clock = int(
            datetime.fromisoformat(
                s.scalar("SELECT params->>'observed_at' FROM job_calls ORDER BY id DESC LIMIT 1")
            ).timestamp()
        )
        window_start = clock - WINDOW_DAYS * 86400
        stored = stored_posts(s, username)
        assert set(stored) == {p["ext_id"] for p in after["posts"]}
        old = {p["ext_id"] for p in before["posts"]}
        inside = outside = grew = 0
        for post in after["posts"]:
            row = stored[post["ext_id"]]
            if post["taken_at"] >= window_start:
                inside += 1
                expected = s.truth(f"instagram/{username}/posts/{post['ext_id']}")
                assert (row["likes"], row["comments"]) == (
                    post["like_count"],
                    post["comment_count"],
                ), post["ext_id"]
                assert stored_comments(s, row["id"]) == {c["ext_id"] for c in expected["comments"]}
                assert row["snapshots"] == (2 if post["ext_id"] in old else 1)
                previous = next((p for p in before["posts"] if p["ext_id"] == post["ext_id"]), None)
                grew += bool(previous and previous["like_count"] < post["like_count"])
            else:
                outside += 1
                was = next(p for p in before["posts"] if p["ext_id"] == post["ext_id"])
                assert (row["likes"], row["comments"]) == (was["like_count"], was["comment_count"])
                assert stored_comments(s, row["id"]) == before_comments[post["ext_id"]]
                assert row["snapshots"] == 1
        assert inside >= 3 and outside >= 3 and grew >= 1, (inside, outside, grew)
        # One profile observation per sync, every metric in it.
        snapshots = s.rows(
            "SELECT followers, follows, posts, engagement_rate FROM metric_snapshots "
            "WHERE subject_type = 'profile'"
        )
        assert len(snapshots) == 2
        assert all(None not in row for row in snapshots)
        # The engagement rate: the 12 newest posts' likes and comments (pinned ones and
        # stories aside) on average, per follower, as the sync last saw them.
        ((followers, rate, latest),) = s.rows(
            "SELECT p.followers_count, p.engagement_rate, s.engagement_rate "
            "FROM social_profiles p JOIN metric_snapshots s ON s.subject_id = p.id "
            "AND s.subject_type = 'profile' AND s.job_call_id = %s WHERE p.username = %s",
            second.job_call_id,
            username,
        )
        newest = s.rows(
            "SELECT likes_count + comments_count FROM posts p JOIN social_profiles sp "
            "ON sp.id = p.social_profile_id WHERE sp.username = %s AND NOT p.pinned "
            "AND p.product_type <> 'story' ORDER BY p.taken_at DESC LIMIT 12",
            username,
        )
        assert len(newest) == 12 and followers > 0
        assert rate == latest == pytest.approx(sum(r[0] for r in newest) / 12 / followers)


async def test_youtube_refresh_updates_statistics_and_new_comment_threads(syncer: Any) -> None:
    with serve(seed=9, profiles=1, channels=2) as sim:
        s = syncer(sim)
        channel = s.truth("youtube")["channels"][0]["channel_id"]
        async with s.worker():
            first = await s.sync(
                platform="youtube", scope="all", ext_id=channel, refresh_days=WINDOW_DAYS
            )
            assert first.status == "succeeded", first.summary
            s.advance(72)
            second = await s.sync(
                platform="youtube", scope="all", ext_id=channel, refresh_days=WINDOW_DAYS
            )
            assert second.status == "succeeded", second.summary
        after = s.truth(f"youtube/{channel}")
        clock = datetime.fromisoformat(
            s.scalar("SELECT params->>'observed_at' FROM job_calls ORDER BY id DESC LIMIT 1")
        )
        rows = {
            r[0]: r[1:] for r in s.rows("SELECT ext_id, views_count, likes_count, id FROM posts")
        }
        refreshed = 0
        for video in after["videos"]:
            published = datetime.fromisoformat(video["published_at"].replace("Z", "+00:00"))
            if published < clock - timedelta(days=WINDOW_DAYS):
                continue
            refreshed += 1
            views, likes, post_id = rows[video["ext_id"]]
            assert (views, likes) == (video["view_count"], video["like_count"])
            threads = s.truth(f"youtube/{channel}/videos/{video['ext_id']}")["comments"]
            assert stored_comments(s, post_id) == {t["ext_id"] for t in threads}
        assert refreshed >= 1
        views = s.rows(
            "SELECT views FROM metric_snapshots WHERE subject_type = 'profile' ORDER BY id"
        )
        assert all(v[0] is not None and v[0] > 0 for v in views) and len(views) == 2
        assert s.scalar("SELECT views_count FROM social_profiles") == after["channel"]["view_count"]


async def test_pinned_posts_never_end_the_scan_for_new_ones(syncer: Any) -> None:
    with serve(seed=7, profiles=10, channels=0) as sim:
        s = syncer(sim)
        username = "user_0006"
        pinned = [p for p in s.truth(f"instagram/{username}")["posts"] if p["pinned"]]
        assert pinned, "this world pins a post of user_0006"
        async with s.worker():
            result = await s.sync(platform="instagram", scope="posts", username=username)
            assert result.status == "succeeded", result.summary
            known = {p["ext_id"] for p in s.truth(f"instagram/{username}")["posts"]}
            for _ in range(60):  # until more new posts than a page holds
                s.advance(24)
                new = {p["ext_id"] for p in s.truth(f"instagram/{username}")["posts"]} - known
                if len(new) > 14:
                    break
            result = await s.sync(platform="instagram", scope="posts", username=username)
            assert result.status == "succeeded", result.summary
        truth = s.truth(f"instagram/{username}")["posts"]
        stored = stored_posts(s, username)
        assert new <= set(stored)
        assert set(stored) == {p["ext_id"] for p in truth}
        assert {k for k, v in stored.items() if v["pinned"]} == {p["ext_id"] for p in pinned}


async def test_an_interrupted_first_backfill_is_completed_by_the_next_ordinary_sync(
    syncer: Any,
) -> None:
    with serve(seed=3, profiles=2, channels=0, giant_posts=420, latency_ms=20) as sim:
        s = syncer(sim)
        async with s.worker():
            first = await s.job(platform="instagram", scope="posts", username="giant")
            handle = await s.start(first)
            running_seen = False
            while True:
                running_seen |= bool(
                    s.scalar(
                        "SELECT count(*) FROM service_calls WHERE status = 'running' "
                        "AND finished_at IS NULL"
                    )
                )
                pages = s.scalar(
                    "SELECT count(*) FROM service_calls WHERE stream = 'posts_history' "
                    "AND status = 'succeeded'"
                )
                if pages >= 4:
                    break
                await asyncio.sleep(0.02)
            await handle.terminate("test: the backfill is interrupted")
            assert running_seen, "a page's ServiceCall exists while its request runs"
            stored_then = s.scalar("SELECT count(*) FROM posts WHERE product_type <> 'story'")
            frontier = s.rows("SELECT cursor, complete FROM history_frontiers")
            assert frontier and frontier[0][0] and not frontier[0][1]
            await asyncio.sleep(0.5)  # the terminated activity notices at its next heartbeat
            result = await s.sync(platform="instagram", scope="posts", username="giant")
            assert result.status == "succeeded", result.summary
        truth = s.truth("instagram/giant")["posts"]
        feed = s.rows("SELECT ext_id FROM posts WHERE product_type <> 'story'")
        assert {r[0] for r in feed} == {p["ext_id"] for p in truth}
        assert s.rows("SELECT complete FROM history_frontiers") == [(True,)]
        history = result.summary["streams"]["posts_history"]
        # It went on from the frontier: only the pages not read before, not the whole feed.
        assert history["items"] <= len(truth) - stored_then + 12
        assert stored_then < len(truth)
        # The terminated backfill's activity, if it had not ended yet, is cancelled at its
        # next heartbeat: the request it left in flight is closed then.
        await until_no_running_calls(s)


async def until_no_running_calls(s: Any, *, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while s.scalar("SELECT count(*) FROM service_calls WHERE status = 'running'"):
        assert asyncio.get_running_loop().time() < deadline, "a ServiceCall stays running"
        await asyncio.sleep(0.1)


async def test_a_page_in_flight_when_its_workflow_is_terminated_is_closed_as_interrupted(
    syncer: Any,
) -> None:
    # Slow pages: the activity is still paging when its next heartbeat hears of the end.
    with serve(seed=3, profiles=2, channels=0, giant_posts=420, latency_ms=400) as sim:
        s = syncer(sim)
        async with s.worker():
            job = await s.job(platform="instagram", scope="posts", username="giant")
            handle = await s.start(job)
            while not s.scalar(
                "SELECT count(*) FROM service_calls WHERE stream = 'posts_history' "
                "AND status = 'running'"
            ):
                await asyncio.sleep(0.05)
            await handle.terminate("test: the operator stopped it")
            await until_no_running_calls(s)
            interrupted = s.rows(
                "SELECT stream, error_message FROM service_calls WHERE status = 'failed'"
            )
            assert interrupted == [
                ("posts_history", "interrupted: the worker stopped during this request")
            ]
            # The pages before it stay committed, and the frontier stays where they left it.
            assert (
                s.scalar(
                    "SELECT count(*) FROM service_calls WHERE stream = 'posts_history' "
                    "AND status = 'succeeded'"
                )
                >= 1
            )
            assert s.rows("SELECT complete FROM history_frontiers") == [(False,)]


async def test_malformed_items_are_quarantined_and_everything_else_is_stored(
    syncer: Any,
) -> None:
    with serve(
        seed=5, profiles=6, channels=2, giant_followers=1500, giant_posts=150, bad_item_rate=0.01
    ) as sim:
        s = syncer(sim)
        channel = s.truth("youtube")["channels"][0]["channel_id"]
        async with s.worker():
            ig = await s.sync(platform="instagram", scope="all", username="giant", full=True)
            yt = await s.sync(platform="youtube", scope="all", ext_id=channel, full=True)
        for result in (ig, yt):
            assert result.status == "succeeded", result.summary
            assert all(v["status"] == "succeeded" for v in result.summary["streams"].values())
        truth = s.truth("instagram/giant")
        good_posts = {p["ext_id"] for p in truth["posts"] if not p["malformed"]}
        stored = stored_posts(s, "giant")
        assert set(stored) == good_posts
        followers = set(truth["followers"]) - set(truth["malformed_followers"])
        active = {
            r[0]
            for r in s.rows(
                "SELECT f.ext_id FROM subscriptions su JOIN followers f ON f.id = su.follower_id "
                "WHERE su.direction = 'follower' AND su.active"
            )
        }
        assert active == followers
        bad_comments = 0
        for ext_id in good_posts:
            comments = s.truth(f"instagram/giant/posts/{ext_id}")["comments"]
            good = {c["ext_id"] for c in comments if not c["malformed"]}
            bad_comments += sum(c["malformed"] for c in comments)
            assert stored_comments(s, stored[ext_id]["id"]) == good
        quarantined = Counter(
            r[0]
            for r in s.rows(
                "SELECT DISTINCT stream, raw FROM quarantined_items WHERE platform = 'instagram'"
            )
        )
        expected = {
            "posts": len(truth["posts"]) - len(good_posts),
            "followers": len(truth["malformed_followers"]),
            "followings": len(truth["malformed_followings"]),
            "comments": bad_comments,
        }
        assert {k: quarantined.get(k, 0) for k in expected} == expected
        assert sum(expected.values()) > 0
        for reason, raw in s.rows("SELECT reason, raw FROM quarantined_items"):
            assert reason and isinstance(raw, dict)
        assert ig.summary["quarantined"] == sum(quarantined[k] for k in expected)
        videos = s.truth(f"youtube/{channel}")["videos"]
        good_videos = {
            v["ext_id"] for v in videos if not v["malformed"] and not v["malformed_playlist_item"]
        }
        assert {
            r[0] for r in s.rows("SELECT ext_id FROM posts WHERE platform = 'youtube'")
        } == good_videos


@pytest.mark.parametrize("moves", [False, True], ids=["no-unfollows", "real-unfollows"])
async def test_truncated_follower_lists_never_invent_unfollows(syncer: Any, moves: bool) -> None:
    with serve(seed=6, profiles=3, channels=0, giant_followers=900, truncate_rate=0.2) as sim:
        s = syncer(sim)
        expected_gone: dict[str, int] = {}
        async with s.worker():
            previous = set(s.truth("instagram/giant")["followers"])
            for round_ in range(4):
                if moves and round_:
                    s.advance(24)
                    now = set(s.truth("instagram/giant")["followers"])
                    expected_gone.update(dict.fromkeys(previous - now, round_))
                    previous = now
                result = await s.sync(platform="instagram", scope="subscriptions", username="giant")
                assert result.status == "succeeded", result.summary
        events = s.rows(
            "SELECT f.ext_id, e.not_before, e.observed_at, e.job_call_id "
            "FROM follow_events e JOIN subscriptions su ON su.id = e.subscription_id "
            "JOIN followers f ON f.id = su.follower_id "
            "WHERE e.kind = 'unfollow' AND e.direction = 'follower'"
        )
        refills = s.scalar("SELECT count(*) FROM service_calls WHERE kind LIKE '%%_refill'")
        assert refills > 0, "the simulator truncated some listings"
        if not moves:
            assert events == []
            return
        assert expected_gone, "the simulated days had unfollows"
        assert {e[0] for e in events} == set(expected_gone)
        jobs = [r[0] for r in s.rows("SELECT id FROM job_calls ORDER BY id")]
        for ext_id, not_before, observed_at, job in events:
            # Seen by the sync before the unfollow, gone by the one after it.
            assert job == jobs[expected_gone[ext_id]]
            assert not_before is not None and not_before < observed_at
        assert set(s.truth("instagram/giant")["followers"]) == {
            r[0]
            for r in s.rows(
                "SELECT f.ext_id FROM subscriptions su JOIN followers f ON f.id = su.follower_id "
                "WHERE su.direction = 'follower' AND su.active"
            )
        }
