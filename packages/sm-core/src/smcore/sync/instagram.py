"""Instagram's streams: profile, followers, followings, posts (refresh, history), reels,
stories, highlights and their stories, comments and their replies, likers.

Follower and following passes: ``smcore.sync.listings.subscriptions`` (a list that ended early
is asked again from where it ended: Instagram's providers end big lists early, PROVIDERS.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.providers.models import Page
from smcore.store import rows
from smcore.sync import listings
from smcore.sync.engine import Fetch, Fetched, Stored
from smcore.sync.models import Platform, Scope, StreamOutcome
from smcore.sync.streams import Run, Sizes, Stream, pages, register

PLATFORM = Platform.INSTAGRAM


async def profile(run: Run) -> StreamOutcome:
    api = run.engine.providers.instagram
    target = run.job.params

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        if target.get("ext_id"):
            return await api.user_info(user_id=target["ext_id"])
        return await api.user_info(username=target["username"])

    return await listings.profile(run, "profile", fetch=fetch, row=rows.instagram_profile_row)


async def _subscriptions(run: Run, direction: str) -> StreamOutcome:
    api = run.engine.providers.instagram
    method = api.followers if direction == "follower" else api.followings

    def fetch_for(account: Any) -> Fetch:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await method(
                user_id=account.ext_id, end_cursor=cursor, last_provider_name=provider
            )

        return fetch

    return await listings.subscriptions(run, direction, fetch_for=fetch_for)


async def followers(run: Run) -> StreamOutcome:
    return await _subscriptions(run, "follower")


async def followings(run: Run) -> StreamOutcome:
    return await _subscriptions(run, "following")


async def _feed(run: Run) -> Fetch:
    account = await run.engine.profile(run.job)
    api = run.engine.providers.instagram

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        return await api.user_posts(
            user_id=account.ext_id, end_cursor=cursor, last_provider_name=provider
        )

    return fetch


async def posts(run: Run) -> StreamOutcome:
    return await listings.posts(run, "posts", kind="posts_page", fetch=await _feed(run))


async def posts_history(run: Run) -> StreamOutcome:
    return await listings.history(run, "posts_history", kind="posts_page", fetch=await _feed(run))


async def comments(run: Run) -> StreamOutcome:
    api = run.engine.providers.instagram

    def fetch_for(ext_id: str) -> Fetch:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.post_comments(
                post_id=ext_id, end_cursor=cursor, last_provider_name=provider
            )

        return fetch

    return await listings.comments(run, "comments", kind="comments_page", fetch_for=fetch_for)


async def reels(run: Run) -> StreamOutcome:
    """The reels feed (``user/get_clips``): the rolling refresh with play counts; the reels
    older than the window come with the posts history (the feed lists them too)."""
    account = await run.engine.profile(run.job)
    api = run.engine.providers.instagram

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        return await api.user_reels(
            user_id=account.ext_id, end_cursor=cursor, last_provider_name=provider
        )

    return await listings.posts(run, "reels", kind="reels_page", fetch=fetch, backfill=False)


async def _store_stories(
    conn: AsyncConnection, profile_id: int, fetched: Fetched, *, job_id: int
) -> dict[str, int]:
    """A page of stories, stored as posts with their media; returns ext_id → post id."""
    items = fetched.page.items
    for item in items:  # whatever the provider calls them, these are stories
        item.product_type = rows.STORY
    return await rows.store_posts(conn, PLATFORM, profile_id, items, job_id=job_id, refresh=items)


async def stories(run: Run) -> StreamOutcome:
    """The stories live now, stored with their expiry and media (they stay after they vanish)."""
    job, engine = run.job, run.engine
    account = await engine.profile(job)
    if account.is_private:
        return StreamOutcome("stories", "skipped", message="private: stories are not visible")
    api = engine.providers.instagram

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        return await api.user_stories(user_id=account.ext_id)

    async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
        ids = await _store_stories(conn, account.id, fetched, job_id=job.id)
        return Stored({"stored": len(ids)})

    return await engine.pages(
        job, "stories", kind="stories", fetch=fetch, store=store, progress=run.progress
    )


async def highlights(run: Run) -> StreamOutcome:
    """The profile's highlights (the tray: titles, covers, counts)."""
    job, engine = run.job, run.engine
    account = await engine.profile(job)
    if account.is_private:
        return StreamOutcome("highlights", "skipped", message="private: highlights are not visible")
    api = engine.providers.instagram

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        return await api.user_highlights(user_id=account.ext_id)

    async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
        ids = await rows.upsert_highlights(conn, account.id, fetched.page.items)
        return Stored({"stored": len(ids)})

    return await engine.pages(
        job, "highlights", kind="highlights", fetch=fetch, store=store, progress=run.progress
    )


async def highlight_stories(run: Run) -> StreamOutcome:
    """The stories of each highlight that holds more than is stored: a unit per highlight."""
    job, engine = run.job, run.engine
    account = await engine.profile(job)
    if account.is_private:
        return StreamOutcome("highlight_stories", "skipped", message="private")
    api = engine.providers.instagram
    async with engine.db.connect() as conn:
        targets = await rows.highlight_targets(conn, account.id)

    async def unit(target: rows.HighlightTarget) -> StreamOutcome:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.highlight_stories(highlight_id=target.ext_id)

        async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
            ids = await _store_stories(conn, account.id, fetched, job_id=job.id)
            items = fetched.page.items
            await rows.link_highlight_items(
                conn, target.highlight_id, [ids[i.ext_id] for i in items if i.ext_id in ids]
            )
            return Stored({"stored": len(ids)})

        return await engine.pages(
            job,
            "highlight_stories",
            kind="highlight_stories",
            fetch=fetch,
            store=store,
            progress=run.progress,
            subject_id=target.highlight_id,
        )

    return await engine.units("highlight_stories", targets, unit)


async def replies(run: Run) -> StreamOutcome:
    api = run.engine.providers.instagram

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


async def likes(run: Run) -> StreamOutcome:
    """Per post of the refresh window (every post with ``--full``), its likers: one call, up to
    1,000 of them (no pagination: PROVIDERS.md); the coverage (listed of the post's likes) is
    stored on the post."""
    job, engine = run.job, run.engine
    account = await engine.profile(job)
    if account.is_private:
        return StreamOutcome("likes", "skipped", message="private: likers are not visible")
    api = engine.providers.instagram
    async with engine.db.connect() as conn:
        targets = await rows.likers_targets(conn, account.id, since=job.window_start)

    async def unit(target: rows.LikersTarget) -> StreamOutcome:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.post_likers(post_id=target.ext_id)

        async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
            listed = await rows.upsert_likers(
                conn,
                PLATFORM,
                target.post_id,
                fetched.page.items,
                total=target.likes_count,
                job_id=job.id,
            )
            return Stored({"listed": listed, "of": target.likes_count})

        return await engine.pages(
            job,
            "likes",
            kind="likers",
            fetch=fetch,
            store=store,
            progress=run.progress,
            subject_id=target.post_id,
        )

    return await engine.units("likes", targets, unit)


_SUBS = frozenset({Scope.SUBSCRIPTIONS})
_POSTS = frozenset({Scope.POSTS})


def _one_unless_private(sizes: Sizes, per_page: float) -> float:
    return 0.0 if sizes.private else 1.0


def _followers_cost(sizes: Sizes, per_page: float) -> float:
    return 0.0 if sizes.private else pages(sizes.followers, per_page)


def _followings_cost(sizes: Sizes, per_page: float) -> float:
    return 0.0 if sizes.private else pages(sizes.follows, per_page)


register(
    PLATFORM,
    (
        Stream("profile", profile, frozenset({Scope.PROFILE}), "read again by every sync"),
        Stream(
            "followers",
            followers,
            _SUBS,
            "a full pass; unfollows from complete passes",
            cost=_followers_cost,
        ),
        Stream(
            "followings",
            followings,
            _SUBS,
            "a full pass; unfollows from complete passes",
            cost=_followings_cost,
        ),
        Stream(
            "posts",
            posts,
            _POSTS,
            "rolling window (refresh_days)",
            after=("profile",),
            per_page=12,
            cost=lambda sizes, per_page: pages(sizes.window_posts, per_page),
        ),
        Stream(
            "posts_history",
            posts_history,
            _POSTS,
            "backfill from the frontier",
            per_page=12,
            cost=lambda sizes, per_page: 0.0,
        ),
        Stream(
            "reels",
            reels,
            _POSTS,
            "rolling window (refresh_days); older reels come with the posts history",
            after=("profile",),
            per_page=12,
            cost=lambda sizes, per_page: pages(sizes.window_posts, per_page),
        ),
        Stream(
            "stories",
            stories,
            _POSTS,
            "the live ones, read by every sync; an expired story stays stored",
            cost=_one_unless_private,
        ),
        Stream(
            "highlights",
            highlights,
            _POSTS,
            "the tray, read by every sync",
            cost=_one_unless_private,
        ),
        Stream(
            "highlight_stories",
            highlight_stories,
            _POSTS,
            "per highlight holding more stories than stored",
            after=("highlights",),
            # new or grown highlights only: nothing in a steady state
            cost=lambda sizes, per_page: 0.0,
        ),
        Stream(
            "comments",
            comments,
            frozenset({Scope.COMMENTS}),
            "per post in the window: new since the last sync",
            after=("posts",),
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
        Stream(
            "replies",
            replies,
            frozenset({Scope.COMMENTS}),
            "per comment in the window with more replies than stored",
            after=("comments",),
            # unknown until the comments are stored: at most one listing per commented post
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
        Stream(
            "likes",
            likes,
            frozenset({Scope.LIKES}),
            "per post in the window: its likers (up to 1,000) and their coverage",
            after=("posts",),
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
    ),
)
