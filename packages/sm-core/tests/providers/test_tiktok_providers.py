"""The TikTok providers against socialsim: every method walked to the truth on each provider,
the follower cap with its real total, failover, cursors, the Research API's quota and expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from smcore.providers import Providers, paginate
from smcore.providers.errors import ErrorKind, ProviderConfigError
from smcore.providers.models import Comment, Page, Post
from smcore.providers.tiktok import AccountsPage, TikTokUser
from smcore.providers.transport import RetryPolicy
from smcore.settings import Settings
from socialsim.testing import RunningSim, serve

FAST = RetryPolicy(base_delay_s=0.02, max_delay_s=0.2)
RAPID = ("tikapi23", "tikwm")
ALL = (*RAPID, "research")


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSim]:
    with serve(seed=0, profiles=5, channels=1, tiktok_accounts=20) as running:
        yield running


def truth(sim: RunningSim, path: str) -> Any:
    response = httpx.get(f"{sim.url}/_sim/truth/{path}", timeout=60)
    response.raise_for_status()
    return response.json()


def stats(sim: RunningSim) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{sim.url}/_sim/stats", timeout=30).json()
    return result


def reset_stats(sim: RunningSim) -> None:
    httpx.post(f"{sim.url}/_sim/stats/reset", timeout=30).raise_for_status()


def requests_to(sim: RunningSim, prefix: str) -> int:
    """Requests the simulator answered on endpoints whose stats key (``<api> <endpoint>``)
    starts with ``prefix``."""
    by_endpoint = stats(sim)["by_endpoint"]
    return sum(sum(s.values()) for key, s in by_endpoint.items() if key.startswith(prefix))


def research_requests(sim: RunningSim) -> int:
    """Requests that cost Research API quota (its token endpoint costs none)."""
    return requests_to(sim, "research ") - requests_to(sim, "research oauth/")


def providers(
    sim: RunningSim,
    *,
    priority: str = "tikapi23,tikwm",
    policy: RetryPolicy = FAST,
    **overrides: Any,
) -> Providers:
    values: dict[str, Any] = {
        "tikapi23_api_host": sim.url,
        "tikapi23_api_key": sim.api_key,
        "tikwm_api_host": sim.url,
        "tikwm_api_key": sim.api_key,
        "tiktok_research_api_host": sim.url,
        "tiktok_research_client_key": "sm-core",
        "tiktok_research_client_secret": sim.api_key,
        "tiktok_provider_priority": priority,
        **overrides,
    }
    return Providers.from_settings(Settings(**values), policy=policy)


def user_of(expected: dict[str, Any]) -> TikTokUser:
    profile = expected["profile"]
    return TikTokUser(profile["ext_id"], profile["username"], profile["sec_uid"])


def creator(
    sim: RunningSim, *, pinned: bool = False, min_videos: int = 8, nul: str | None = None
) -> dict[str, Any]:
    """A public creator (not the giant) with enough videos, pinned ones when asked, and NUL
    characters in its nickname (``nul="nickname"``) or in a video's desc (``nul="desc"``)."""
    for entry in truth(sim, "tiktok")["accounts"]:
        if not entry["exists"] or entry["is_private"] or entry["username"] == "tt_giant":
            continue
        full: dict[str, Any] = truth(sim, f"tiktok/{entry['username']}")
        videos = full["videos"]
        texts = {
            None: [""],
            "nickname": [full["profile"]["nickname"]],
            "desc": [v["desc"] for v in videos],
        }[nul]
        if (
            len(videos) >= min_videos
            and (not pinned or any(v["pinned"] for v in videos))
            and (nul is None or any("\x00" in t for t in texts))
        ):
            return full
    raise LookupError("no such creator at this seed")


def threads(sim: RunningSim, expected: dict[str, Any]) -> dict[str, Any]:
    """The truth of the creator's video with the most replies under one comment."""
    username = expected["profile"]["username"]
    best: dict[str, Any] | None = None
    for video in sorted(expected["videos"], key=lambda v: -v["comment_count"])[:6]:
        full = truth(sim, f"tiktok/{username}/videos/{video['ext_id']}")
        most = max((len(c["replies"]) for c in full["comments"]), default=0)
        if best is None or most > best["most"]:
            best = {**full, "most": most}
    assert best is not None and best["most"] > 0, "a video with replies"
    return best


async def all_items(call: Any, **kwargs: Any) -> tuple[list[Any], list[Page[Any]]]:
    """Every page of a listing; one that never ends (a repeated cursor followed) fails."""
    pages: list[Page[Any]] = []
    async for page in paginate(call, **kwargs):
        pages.append(page)
        assert len(pages) <= 500, "the listing does not end"
    assert all(page.success for page in pages), [p.error for p in pages if p.error]
    return [item for page in pages for item in page.items], pages


# --------------------------------------------------------------------------- every method
@pytest.mark.parametrize("provider", RAPID)
async def test_user_info_matches_the_truth(sim: RunningSim, provider: str) -> None:
    expected = creator(sim, nul="nickname")["profile"]
    async with providers(sim, priority=provider) as p:
        page = await p.tiktok.user_info(username=expected["username"])
    assert page.success and page.api_provider == provider and page.item is not None
    profile = page.item
    assert (profile.ext_id, profile.sec_uid) == (expected["ext_id"], expected["sec_uid"])
    assert "\x00" in expected["nickname"] and "\x00" not in profile.full_name
    assert profile.full_name == expected["nickname"].replace("\x00", "")
    # Exact counts on both: tikapi23's statsV2 (its stats are rounded), tikwm's stats.
    assert profile.followers_count == expected["follower_count"]
    assert profile.follows_count == expected["following_count"]
    assert profile.posts_count == expected["video_count"]
    assert profile.likes_total == expected["heart_count"]
    assert (profile.is_private, profile.is_verified) == (
        expected["is_private"],
        expected["is_verified"],
    )


async def test_user_info_by_id_skips_providers_that_cannot(sim: RunningSim) -> None:
    expected = creator(sim)["profile"]
    reset_stats(sim)
    async with providers(sim) as p:
        page = await p.tiktok.user_info(user_id=expected["ext_id"])
    assert page.success and page.api_provider == "tikwm" and not page.failures
    assert page.item is not None and page.item.username == expected["username"]
    assert requests_to(sim, "tikapi23") == 0, "tikapi23 looks up by username only"
    async with providers(sim, priority="tikapi23") as p:
        with pytest.raises(ProviderConfigError):
            await p.tiktok.user_info(user_id=expected["ext_id"])


async def test_missing_and_private_are_final_answers(sim: RunningSim) -> None:
    index = truth(sim, "tiktok")["accounts"]
    missing = next(a for a in index if not a["exists"])
    private = next(a for a in index if a["exists"] and a["is_private"])
    reset_stats(sim)
    async with providers(sim) as p:
        gone = await p.tiktok.user_info(username=missing["username"])
        info = await p.tiktok.user_info(username=private["username"])
        user = TikTokUser(private["ext_id"], private["username"], private["sec_uid"])
        posts = await p.tiktok.user_posts(user=user)
    assert gone.error is not None and gone.error.kind is ErrorKind.NOT_FOUND
    assert stats(sim)["total"] == 3, "not found is final: no retry, no second provider"
    assert info.item is not None and info.item.is_private
    assert posts.success and not posts.items and not posts.has_more, "TikTok lists nothing"


@pytest.mark.parametrize("provider", ALL)
async def test_a_full_posts_walk_equals_the_truth(sim: RunningSim, provider: str) -> None:
    expected = creator(sim, pinned=True, nul="desc")
    want = {v["ext_id"]: v for v in expected["videos"]}
    reset_stats(sim)
    async with providers(sim, priority=provider) as p:
        posts, pages = await all_items(p.tiktok.user_posts, user=user_of(expected))
    assert all(page.api_provider == provider for page in pages)
    ids = [post.ext_id for post in posts]
    assert len(ids) == len(set(ids)) == len(want), "every video, once"
    assert set(ids) == set(want)
    for post in posts:
        video = want[post.ext_id]
        assert int(post.taken_at.timestamp()) == video["create_time"]
        assert post.caption == (video["desc"].replace("\x00", "") or None)
        assert post.play_count == video["play_count"]
        assert post.comment_count == video["comment_count"]
        assert post.share_count == video["share_count"]
        assert post.save_count == video["collect_count"]
        if post.like_count is not None or provider != "research":  # it may leave fields out
            assert post.like_count == video["like_count"]
        assert post.duration_s == video["duration"]
        assert post.owner_ext_id == expected["profile"]["ext_id"]
    if provider == "research":
        # One request for the user info, one per page; the walk stopped at the window that
        # holds the oldest video, not at the account's creation or TikTok's launch.
        assert research_requests(sim) == len(pages) + 1
        oldest = datetime.fromtimestamp(expected["videos"][-1]["create_time"], UTC).date()
        last = pages[-1].request["body"]
        first_day = date.fromisoformat(last["start_date"])
        assert first_day <= oldest <= date.fromisoformat(last["end_date"])
        return
    pinned = [v["ext_id"] for v in expected["videos"] if v["pinned"]]
    assert [post.ext_id for post in posts if post.pinned] == pinned
    assert ids[: len(pinned)] == pinned, "pinned first on the first page"
    rest = [v["ext_id"] for v in expected["videos"] if not v["pinned"]]
    assert ids[len(pinned) :] == rest, "then newest first"


@pytest.mark.parametrize("provider", RAPID)
async def test_followers_of_the_giant_stop_at_the_cap_with_the_real_total(
    sim: RunningSim, provider: str
) -> None:
    expected = truth(sim, "tiktok/tt_giant")
    cap, real = expected["list_cap"], expected["profile"]["follower_count"]
    assert real > cap
    async with providers(sim, priority=provider) as p:
        followers, pages = await all_items(p.tiktok.followers, user=user_of(expected))
    assert [a.ext_id for a in followers] == expected["followers"][:cap], "newest first, once"
    assert not pages[-1].has_more, "TikTok's cap ends the listing"
    assert all(isinstance(page, AccountsPage) and page.total == real for page in pages)
    assert pages[0].to_json()["total"] == real


@pytest.mark.parametrize("provider", RAPID)
async def test_followings_equal_the_truth(sim: RunningSim, provider: str) -> None:
    expected = creator(sim)
    async with providers(sim, priority=provider) as p:
        followings, pages = await all_items(p.tiktok.followings, user=user_of(expected))
    assert [a.ext_id for a in followings] == expected["followings"]
    assert isinstance(pages[0], AccountsPage)
    assert pages[0].total == expected["profile"]["following_count"]


@pytest.mark.parametrize("provider", ALL)
async def test_comments_and_replies_equal_the_truth(sim: RunningSim, provider: str) -> None:
    expected = creator(sim, min_videos=10)
    video = threads(sim, expected)
    post_id = video["video"]["ext_id"]
    async with providers(sim, priority=provider) as p:
        comments, _ = await all_items(p.tiktok.post_comments, post_id=post_id)
        top: list[Comment] = [c for c in comments if c.parent_ext_id is None]
        assert [c.ext_id for c in top] == [c["ext_id"] for c in video["comments"]]
        assert all(c.post_ext_id == post_id and "\x00" not in c.text for c in comments)
        parent = max(video["comments"], key=lambda c: len(c["replies"]))
        if provider == "research":
            # Its comment list holds the replies, right after their comment.
            replies = [c for c in comments if c.parent_ext_id == parent["ext_id"]]
        else:
            replies, _ = await all_items(
                p.tiktok.comment_replies, post_id=post_id, comment_id=parent["ext_id"]
            )
    by_id = {c.ext_id: c for c in top}
    for want in video["comments"]:
        got = by_id[want["ext_id"]]
        assert int(got.created_at.timestamp()) == want["create_time"]
        assert (got.like_count, got.reply_count) == (want["like_count"], want["reply_count"])
        if provider != "research":
            assert got.author_ext_id == want["author_ext_id"]
    assert [r.ext_id for r in replies] == [r["ext_id"] for r in parent["replies"]]
    assert all(r.parent_ext_id == parent["ext_id"] for r in replies)


# --------------------------------------------------------------------------- failover, cursors
async def test_failover_from_tikapi23_to_tikwm_and_the_cursor_stays_there(sim: RunningSim) -> None:
    expected = truth(sim, "tiktok/tt_giant")
    user = user_of(expected)
    reset_stats(sim)
    async with providers(sim, tikapi23_api_key="revoked") as p:
        first = await p.tiktok.followers(user=user)
        assert first.success and first.api_provider == "tikwm"
        assert [(f.provider, f.kind) for f in first.failures] == [("tikapi23", ErrorKind.AUTH)]
        second = await p.tiktok.followers(
            user=user, end_cursor=first.end_cursor, last_provider_name=first.api_provider
        )
        assert second.success and second.api_provider == "tikwm" and not second.failures
        with pytest.raises(ValueError, match="last_provider_name"):
            await p.tiktok.followers(user=user, end_cursor=first.end_cursor)
    assert [a.ext_id for a in first.items + second.items] == expected["followers"][:400]
    assert requests_to(sim, "tikapi23") == 1, "AUTH is not retried, and the cursor skips it"
    assert requests_to(sim, "tikwm") == 2


async def test_a_cursor_goes_back_only_to_its_provider(sim: RunningSim) -> None:
    """tikapi23 healthy and first: its cursor is followed on tikapi23 alone, even with tikwm
    listed first for the next call; a cursor claimed for another provider goes to that one."""
    expected = creator(sim, min_videos=36)
    user = user_of(expected)
    reset_stats(sim)
    async with providers(sim, priority="tikapi23,tikwm") as p:
        first = await p.tiktok.user_posts(user=user)
    async with providers(sim, priority="tikwm,tikapi23") as p:
        second = await p.tiktok.user_posts(
            user=user, end_cursor=first.end_cursor, last_provider_name="tikapi23"
        )
    assert first.api_provider == second.api_provider == "tikapi23"
    assert requests_to(sim, "tikwm") == 0
    ids = [post.ext_id for post in first.items + second.items]
    assert len(ids) == len(set(ids)) == min(70, len(expected["videos"]))


# --------------------------------------------------------------------------- Research API
async def test_research_refuses_locally_once_the_configured_quota_is_spent(
    sim: RunningSim,
) -> None:
    expected = creator(sim)
    reset_stats(sim)
    async with providers(sim, priority="research", tiktok_research_daily_requests=3) as p:
        user = user_of(expected)
        pages = [await p.tiktok.user_posts(user=user, count=1)]  # user info + the first query
        pages.append(
            await p.tiktok.user_posts(
                user=user, count=1, end_cursor=pages[0].end_cursor, last_provider_name="research"
            )
        )
        refused = await p.tiktok.post_comments(post_id=expected["videos"][0]["ext_id"])
    assert [page.success for page in pages] == [True, True]
    assert refused.error is not None and refused.error.kind is ErrorKind.QUOTA_EXHAUSTED
    assert "not sent" in refused.error.message
    assert refused.error.retry_after_s is not None and 0 < refused.error.retry_after_s <= 86400
    assert research_requests(sim) == 3


async def test_research_quota_429_is_quota_exhausted_until_utc_midnight() -> None:
    with serve(seed=2, profiles=2, channels=1, tiktok_accounts=5, research_daily_requests=2) as s:
        expected = creator(s, min_videos=3)
        post_id = expected["videos"][0]["ext_id"]
        async with providers(s, priority="research") as p:
            pages = [await p.tiktok.post_comments(post_id=post_id) for _ in range(4)]
        seen = stats(s)
    assert [page.success for page in pages] == [True, True, False, False]
    error = pages[2].error
    assert error is not None and error.kind is ErrorKind.QUOTA_EXHAUSTED
    # The simulator's clock starts at midnight UTC: the quota comes back a day later.
    assert error.retry_after_s is not None and 86000 < error.retry_after_s <= 86400
    assert pages[3].error is not None and "not sent" in pages[3].error.message
    assert seen["faults"]["quota"] == 1, "the API was asked once past its quota, not twice"


async def test_research_search_id_expiry_and_token_renewal_after_the_clock_moves() -> None:
    with serve(seed=3, profiles=2, channels=1, tiktok_accounts=8) as s:
        # Ten days on: the giant posts about two videos a day, so today's window has pages.
        httpx.post(f"{s.url}/_sim/clock", json={"advance_hours": 240}).raise_for_status()
        expected = truth(s, "tiktok/tt_giant")
        user = user_of(expected)
        async with providers(s, priority="research") as p:
            first = await p.tiktok.user_posts(user=user, count=1)
            assert first.success and first.has_more
            httpx.post(f"{s.url}/_sim/clock", json={"advance_hours": 3}).raise_for_status()
            stale = await p.tiktok.user_posts(
                user=user, count=1, end_cursor=first.end_cursor, last_provider_name="research"
            )
            again, _ = await all_items(p.tiktok.user_posts, user=user)
        tokens = requests_to(s, "research oauth/")
        expected = truth(s, "tiktok/tt_giant")
    # The token outlived its 2 hours: renewed on its 401, then the search_id had expired.
    assert stale.error is not None and stale.error.kind is ErrorKind.CURSOR_EXPIRED
    assert tokens == 2
    posts: list[Post] = again
    assert {post.ext_id for post in posts} == {v["ext_id"] for v in expected["videos"]}
