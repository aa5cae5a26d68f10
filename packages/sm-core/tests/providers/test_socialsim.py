"""The provider clients against socialsim: every method, failover, cursors, every fault kind."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smcore.providers import Providers, paginate
from smcore.providers.errors import ErrorKind
from smcore.providers.models import Page
from smcore.providers.transport import RetryPolicy
from smcore.settings import Settings
from socialsim.testing import RunningSim, serve

FAST = RetryPolicy(base_delay_s=0.02, max_delay_s=0.2)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with serve(seed=0, profiles=60, channels=4, giant_followers=1200, giant_posts=30) as running:
        yield running


def truth(sim: RunningSim, path: str) -> Any:
    return httpx.get(f"{sim.url}/_sim/truth/{path}", timeout=30).json()


def stats(sim: RunningSim) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{sim.url}/_sim/stats", timeout=30).json()
    return result


def reset_stats(sim: RunningSim) -> None:
    httpx.post(f"{sim.url}/_sim/stats/reset", timeout=30).raise_for_status()


def providers(sim: RunningSim, *, policy: RetryPolicy = FAST, **overrides: Any) -> Providers:
    values: dict[str, Any] = {
        "rocket_api_host": sim.url,
        "rocket_api_key": sim.api_key,
        "rapid_scraper_api_host": sim.url,
        "rapid_api_key": sim.api_key,
        "youtube_api_host": sim.url,
        "youtube_api_key": sim.api_key,
    }
    values.update(overrides)
    return Providers.from_settings(Settings(**values), policy=policy)


def public_profile(sim: RunningSim, low: int, high: int) -> dict[str, Any]:
    for entry in truth(sim, "instagram")["profiles"]:
        if not entry["exists"] or entry["is_private"] or entry["username"] == "giant":
            continue
        full = truth(sim, f"instagram/{entry['username']}")
        if low <= full["profile"]["followers_count"] <= high and full["posts"]:
            return full
    raise LookupError(f"no public profile with {low}..{high} followers at this seed")


async def all_items(call: Any, **kwargs: Any) -> tuple[list[Any], list[Page[Any]]]:
    pages = [page async for page in paginate(call, **kwargs)]
    return [item for page in pages for item in page.items], pages


@pytest.mark.parametrize("provider", ["rocket", "scraper"])
async def test_every_instagram_method_matches_the_truth(sim: RunningSim, provider: str) -> None:
    expected = public_profile(sim, 60, 2000)
    username = expected["profile"]["username"]
    async with providers(sim, instagram_provider_priority=provider) as p:
        ig = p.instagram
        info = await ig.user_info(username=username)
        assert info.success and info.api_provider == provider and info.item is not None
        profile = info.item
        assert profile.ext_id == expected["profile"]["ext_id"]
        assert profile.followers_count == expected["profile"]["followers_count"]
        assert profile.posts_count == expected["profile"]["posts_count"]
        by_id = await ig.user_info(user_id=profile.ext_id)
        assert by_id.item is not None and by_id.item.username == username

        followers, pages = await all_items(ig.followers, user_id=profile.ext_id)
        assert [f.ext_id for f in followers] == expected["followers"], (
            "every follower, in order, once"
        )
        assert all(p.api_provider == provider for p in pages)
        followings, _ = await all_items(ig.followings, user_id=profile.ext_id)
        assert {f.ext_id for f in followings} == set(expected["followings"])

        posts, _ = await all_items(ig.user_posts, user_id=profile.ext_id)
        assert [post.ext_id for post in posts] == [post["ext_id"] for post in expected["posts"]]
        for post, want in zip(posts, expected["posts"], strict=True):
            assert post.code == want["code"]
            assert post.comment_count == want["comment_count"]
            assert len(post.media) == want["media_count"]
            assert int(post.taken_at.timestamp()) == want["taken_at"]
        busiest = max(expected["posts"], key=lambda post: post["comment_count"])
        comments, _ = await all_items(ig.post_comments, post_id=busiest["ext_id"])
        assert len(comments) == busiest["comment_count"]
        assert len({c.ext_id for c in comments}) == len(comments)

        reels = await ig.user_reels(user_id=profile.ext_id)
        highlights = await ig.user_highlights(user_id=profile.ext_id)
        assert reels.success and highlights.success
        assert all(r.ext_id and r.taken_at for r in reels.items)


async def test_private_and_missing_are_final_answers(sim: RunningSim) -> None:
    index = truth(sim, "instagram")["profiles"]
    private = next(p for p in index if p["exists"] and p["is_private"])
    missing = next(p for p in index if not p["exists"])
    reset_stats(sim)
    async with providers(sim) as p:
        info = await p.instagram.user_info(username=private["username"])
        followers = await p.instagram.followers(user_id=private["ext_id"])
        gone = await p.instagram.user_info(username=missing["username"])
    assert info.success and info.item is not None and info.item.is_private
    assert followers.error is not None and followers.error.kind is ErrorKind.PRIVATE
    assert gone.error is not None and gone.error.kind is ErrorKind.NOT_FOUND
    # Final answers: no retry, no failover to the second provider.
    assert stats(sim)["total"] == 3


async def test_failover_by_priority_and_cursors_stay_with_their_provider(sim: RunningSim) -> None:
    expected = public_profile(sim, 120, 2000)
    user_id = expected["profile"]["ext_id"]
    reset_stats(sim)
    async with providers(sim, rocket_api_key="revoked") as p:
        first = await p.instagram.followers(user_id=user_id)
        assert first.success and first.api_provider == "scraper"
        assert [f.kind for f in first.failures] == [ErrorKind.AUTH]
        assert first.failures[0].provider == "rocket"
        second = await p.instagram.followers(
            user_id=user_id, end_cursor=first.end_cursor, last_provider_name=first.api_provider
        )
        assert second.success and second.api_provider == "scraper"
        assert not second.failures, "the cursor went straight to the scraper"
        with pytest.raises(ValueError, match="last_provider_name"):
            await p.instagram.followers(user_id=user_id, end_cursor=first.end_cursor)
    requests = stats(sim)["by_endpoint"]
    assert sum(requests["rocket user/get_followers"].values()) == 1
    assert sum(requests["scraper /followers"].values()) == 2


async def test_youtube_channel_uploads_videos_and_comments(sim: RunningSim) -> None:
    channel_id = truth(sim, "youtube")["channels"][0]["channel_id"]
    expected = truth(sim, f"youtube/{channel_id}")
    async with providers(sim) as p:
        yt = p.youtube
        channel = await yt.channel(channel_id=channel_id)
        assert channel.item is not None and channel.item.uploads_playlist_id
        assert channel.item.video_count == expected["channel"]["video_count"]
        uploads, _ = await all_items(yt.uploads, playlist_id=channel.item.uploads_playlist_id)
        assert {u.ext_id for u in uploads} == {v["ext_id"] for v in expected["videos"]}
        ids = [u.ext_id for u in uploads][:50]
        videos = await yt.videos(ids=ids)
        want = {v["ext_id"]: v for v in expected["videos"]}
        for video in videos.items:
            assert video.view_count == want[video.ext_id]["view_count"]
            assert video.title == want[video.ext_id]["title"]
        open_video = next(v for v in expected["videos"] if not v["comments_disabled"])
        threads, _ = await all_items(yt.comment_threads, video_id=open_video["ext_id"])
        assert len(threads) == open_video["comment_thread_count"]
        closed = [v for v in expected["videos"] if v["comments_disabled"]]
        if closed:
            page = await yt.comment_threads(video_id=closed[0]["ext_id"])
            assert page.error is not None and page.error.kind is ErrorKind.PRIVATE
        unknown = await yt.channel(channel_id="UC" + "x" * 22)
        assert unknown.error is not None and unknown.error.kind is ErrorKind.NOT_FOUND


async def test_youtube_quota_exhaustion_is_typed() -> None:
    with serve(seed=2, profiles=5, channels=2, quota=3) as quota_sim:
        channel_id = truth(quota_sim, "youtube")["channels"][0]["channel_id"]
        async with providers(quota_sim) as p:
            pages = [await p.youtube.channel(channel_id=channel_id) for _ in range(4)]
    assert [page.success for page in pages] == [True, True, True, False]
    error = pages[-1].error
    assert error is not None and error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert error.retry_after_s is not None and error.retry_after_s > 0


async def test_transport_faults_are_retried_to_an_exact_listing() -> None:
    """5xx, dropped connections, malformed bodies, timeouts and 429s: nothing lost or doubled."""
    options = {
        "seed": 5,
        "profiles": 5,
        "giant_followers": 2500,
        "fault_rate": 0.3,
        "rate_limit": 40,
        "timeout_fault_s": 5,
    }
    policy = RetryPolicy(base_delay_s=0.02, max_delay_s=0.3)
    with serve(**options) as faulty:
        expected = truth(faulty, "instagram/giant")
        async with providers(
            faulty, policy=policy, provider_read_timeout_s=0.5, instagram_provider_priority="rocket"
        ) as p:
            followers, pages = await all_items(
                p.instagram.followers, user_id=expected["profile"]["ext_id"]
            )
        seen = stats(faulty)
    assert all(page.success for page in pages)
    assert [f.ext_id for f in followers] == expected["followers"]
    for kind in ("5xx", "timeout", "drop", "malformed", "rate_limited"):
        assert seen["faults"][kind] > 0, f"the run went through {kind}"


async def test_every_attempt_failing_ends_transient_after_the_budget() -> None:
    with serve(seed=1, profiles=5, fault_rate=1.0, timeout_fault_s=1) as broken:
        async with providers(
            broken,
            policy=RetryPolicy(max_attempts=3, base_delay_s=0.01),
            provider_read_timeout_s=0.3,
            instagram_provider_priority="rocket",
        ) as p:
            page = await p.instagram.user_info(username="user_0001")
        assert stats(broken)["total"] == 3
    assert page.error is not None and page.error.kind is ErrorKind.TRANSIENT


async def test_truncated_lists_and_expired_cursors_are_reported_not_hidden() -> None:
    with serve(seed=4, profiles=5, giant_followers=1500, truncate_rate=1.0) as truncating:
        expected = truth(truncating, "instagram/giant")
        async with providers(truncating, instagram_provider_priority="rocket") as p:
            followers, pages = await all_items(
                p.instagram.followers, user_id=expected["profile"]["ext_id"]
            )
    assert len(pages) == 1 and pages[0].success and not pages[0].has_more
    assert len(followers) < expected["profile"]["followers_count"], "the provider ended early"

    with serve(
        seed=4, profiles=5, giant_followers=500, expire_cursors=True, cursor_ttl_s=0.2
    ) as expiring:
        user_id = truth(expiring, "instagram/giant")["profile"]["ext_id"]
        async with providers(expiring, instagram_provider_priority="scraper") as p:
            first = await p.instagram.followers(user_id=user_id)
            await asyncio.sleep(0.5)
            stale = await p.instagram.followers(
                user_id=user_id, end_cursor=first.end_cursor, last_provider_name=first.api_provider
            )
    assert stale.error is not None and stale.error.kind is ErrorKind.CURSOR_EXPIRED


def test_cli_follows_every_page_through_faults(tmp_path: Path) -> None:
    """The issue's check: `providers call … followers --all --json` equals the truth."""
    with serve(
        seed=3, fault_rate=0.2, rate_limit=20, giant_followers=1500, timeout_fault_s=3
    ) as faulty:
        expected = truth(faulty, "instagram/giant")
        env = {
            **os.environ,
            "ROCKET_API_HOST": faulty.url,
            "ROCKET_API_KEY": faulty.api_key,
            "RAPID_SCRAPER_API_HOST": faulty.url,
            "RAPID_API_KEY": faulty.api_key,
            "PROVIDER_READ_TIMEOUT_S": "1",
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "smcore",
                "providers",
                "call",
                "instagram",
                "followers",
                "--user-id",
                expected["profile"]["ext_id"],
                "--all",
                "--json",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        seen = stats(faulty)
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.splitlines()[-1])
    assert output["success"] and not output["has_more"]
    assert sorted(item["ext_id"] for item in output["items"]) == sorted(expected["followers"])
    assert len(output["items"]) == 1500 and output["pages"] == 30
    assert seen["faults"]["rate_limited"] > 0 and seen["faults"]["5xx"] > 0
    statuses = seen["by_endpoint"]["rocket user/get_followers"]
    assert statuses.get("429", 0) > 0
