"""TikTok's streams: profile, followers, followings, videos (refresh, history) with their
metric snapshots, comments and their replies.

TikTok lists at most about 5,000 followers (or followings) of anyone, whatever the count: a
pass of a bigger account records its coverage and never unfollows, and is not asked again.
Comments are listed by TikTok's own order, not newest first: a video's comments are read whole.
"""

from __future__ import annotations

from typing import Any

from smcore.providers.models import Page
from smcore.providers.tiktok import TikTokUser
from smcore.store import rows
from smcore.sync import listings
from smcore.sync.engine import Fetch
from smcore.sync.models import Platform, Scope, StreamOutcome
from smcore.sync.streams import Run, Sizes, Stream, pages, register

PLATFORM = Platform.TIKTOK
LIST_CAP = 5_000
"""About where TikTok stops listing followers and followings (PROVIDERS.md)."""


def _user(account: Any) -> TikTokUser:
    return TikTokUser(ext_id=account.ext_id, username=account.username, sec_uid=account.sec_uid)


async def profile(run: Run) -> StreamOutcome:
    api = run.engine.providers.tiktok
    target = run.job.params

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        if target.get("username"):
            return await api.user_info(username=target["username"])
        return await api.user_info(user_id=target["ext_id"])

    return await listings.profile(run, "profile", fetch=fetch, row=rows.tiktok_profile_row)


async def _subscriptions(run: Run, direction: str) -> StreamOutcome:
    api = run.engine.providers.tiktok
    method = api.followers if direction == "follower" else api.followings

    def fetch_for(account: Any) -> Fetch:
        user = _user(account)

        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await method(user=user, end_cursor=cursor, last_provider_name=provider)

        return fetch

    return await listings.subscriptions(
        run,
        direction,
        fetch_for=fetch_for,
        refill=False,
        short=f"TikTok lists about {LIST_CAP:,} at most",
    )


async def followers(run: Run) -> StreamOutcome:
    return await _subscriptions(run, "follower")


async def followings(run: Run) -> StreamOutcome:
    return await _subscriptions(run, "following")


async def _feed(run: Run) -> Fetch:
    user = _user(await run.engine.profile(run.job))
    api = run.engine.providers.tiktok

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        return await api.user_posts(user=user, end_cursor=cursor, last_provider_name=provider)

    return fetch


async def videos(run: Run) -> StreamOutcome:
    return await listings.posts(run, "videos", kind="videos_page", fetch=await _feed(run))


async def videos_history(run: Run) -> StreamOutcome:
    return await listings.history(run, "videos_history", kind="videos_page", fetch=await _feed(run))


async def comments(run: Run) -> StreamOutcome:
    api = run.engine.providers.tiktok

    def fetch_for(ext_id: str) -> Fetch:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.post_comments(
                post_id=ext_id, end_cursor=cursor, last_provider_name=provider
            )

        return fetch

    return await listings.comments(
        run, "comments", kind="comments_page", fetch_for=fetch_for, newest_first=False
    )


async def replies(run: Run) -> StreamOutcome:
    api = run.engine.providers.tiktok

    def fetch_for(target: rows.ReplyTarget) -> Fetch:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.comment_replies(
                post_id=target.post_ext_id,
                comment_id=target.ext_id,
                end_cursor=cursor,
                last_provider_name=provider,
            )

        return fetch

    return await listings.replies(run, "replies", kind="replies_page", fetch_for=fetch_for)


def _list_cost(count: int, sizes: Sizes, per_page: float) -> float:
    return 0.0 if sizes.private else pages(min(count, LIST_CAP), per_page)


_SUBS = frozenset({Scope.SUBSCRIPTIONS})
_POSTS = frozenset({Scope.POSTS})
_COMMENTS = frozenset({Scope.COMMENTS})

register(
    PLATFORM,
    (
        Stream("profile", profile, frozenset({Scope.PROFILE}), "read again by every sync"),
        Stream(
            "followers",
            followers,
            _SUBS,
            "a full pass (at most ~5,000 listed); unfollows from complete passes only",
            per_page=30,
            cost=lambda sizes, per_page: _list_cost(sizes.followers, sizes, per_page),
        ),
        Stream(
            "followings",
            followings,
            _SUBS,
            "a full pass (at most ~5,000 listed); unfollows from complete passes only",
            per_page=30,
            cost=lambda sizes, per_page: _list_cost(sizes.follows, sizes, per_page),
        ),
        Stream(
            "videos",
            videos,
            _POSTS,
            "rolling window (refresh_days)",
            after=("profile",),
            per_page=35,
            cost=lambda sizes, per_page: pages(sizes.window_posts, per_page),
        ),
        Stream(
            "videos_history",
            videos_history,
            _POSTS,
            "backfill from the frontier",
            per_page=35,
            cost=lambda sizes, per_page: 0.0,
        ),
        Stream(
            "comments",
            comments,
            _COMMENTS,
            "per video in the window: read whole (TikTok does not list newest first)",
            after=("videos",),
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
        Stream(
            "replies",
            replies,
            _COMMENTS,
            "per comment in the window with more replies than stored",
            after=("comments",),
            # unknown until the comments are stored: at most one listing per commented video
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
    ),
)
