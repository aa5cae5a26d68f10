"""YouTube's streams: the channel, its uploads (refresh, history) with their statistics, per
video its comment threads, and the replies of threads beyond the few a thread embeds.

An uploads page is one unit with the statistics of its videos (``videos``, up to 50 ids in one
call): both are fetched, then stored in one transaction, each call a ServiceCall of its own.
"""

from __future__ import annotations

from typing import Any

from smcore.providers.models import Page
from smcore.store import rows
from smcore.sync import listings
from smcore.sync.engine import Fetch, Fetched
from smcore.sync.models import Platform, Scope, StreamOutcome
from smcore.sync.streams import Run, Stream, pages, register

PLATFORM = Platform.YOUTUBE


async def channel(run: Run) -> StreamOutcome:
    api = run.engine.providers.youtube
    target = run.job.params

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
        if target.get("ext_id"):
            return await api.channel(channel_id=target["ext_id"])
        return await api.channel(handle=target["username"])

    return await listings.profile(run, "channel", fetch=fetch, row=rows.youtube_channel_row)


async def _uploads(run: Run) -> Fetch | None:
    account = await run.engine.profile(run.job)
    playlist = ((account.raw_data.get("contentDetails") or {}).get("relatedPlaylists") or {}).get(
        "uploads"
    )
    if not playlist:
        return None
    api = run.engine.providers.youtube

    async def fetch(cursor: str | None, provider: str | None) -> Page[Any] | Fetched:
        page = await api.uploads(
            playlist_id=playlist, end_cursor=cursor, last_provider_name=provider
        )
        if not page.success or not page.items:
            return page
        videos = await api.videos(ids=[u.ext_id for u in page.items])
        if not videos.success:
            return videos
        return Fetched(page, (("videos", videos),))

    return fetch


def _videos(fetched: Fetched) -> list[Any]:
    return [video for _, extra in fetched.extra for video in extra.items]


def _no_uploads(stream: str) -> StreamOutcome:
    return StreamOutcome(stream, "skipped", message="the channel has no uploads playlist")


async def uploads(run: Run) -> StreamOutcome:
    fetch = await _uploads(run)
    if fetch is None:
        return _no_uploads("uploads")
    return await listings.posts(run, "uploads", kind="uploads_page", fetch=fetch, records=_videos)


async def uploads_history(run: Run) -> StreamOutcome:
    fetch = await _uploads(run)
    if fetch is None:
        return _no_uploads("uploads_history")
    return await listings.history(
        run, "uploads_history", kind="uploads_page", fetch=fetch, records=_videos
    )


async def comments(run: Run) -> StreamOutcome:
    api = run.engine.providers.youtube

    def fetch_for(ext_id: str) -> Fetch:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.comment_threads(
                video_id=ext_id, end_cursor=cursor, last_provider_name=provider
            )

        return fetch

    return await listings.comments(run, "comments", kind="comment_threads", fetch_for=fetch_for)


async def replies(run: Run) -> StreamOutcome:
    """``comments.list parentId=…`` for each thread with more replies than are stored: one
    quota unit a page of 100, like every list call."""
    api = run.engine.providers.youtube

    def fetch_for(target: rows.ReplyTarget) -> Fetch:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await api.comment_replies(
                video_id=target.post_ext_id,
                parent_id=target.ext_id,
                end_cursor=cursor,
                last_provider_name=provider,
            )

        return fetch

    return await listings.replies(run, "replies", kind="comment_replies", fetch_for=fetch_for)


_POSTS = frozenset({Scope.POSTS})

register(
    PLATFORM,
    (
        Stream("channel", channel, frozenset({Scope.PROFILE}), "read again by every sync"),
        Stream(
            "uploads",
            uploads,
            _POSTS,
            "rolling window (refresh_days)",
            after=("channel",),
            # a playlist page, then videos.list for its ids: two calls a page
            cost=lambda sizes, per_page: 2 * pages(sizes.window_posts, per_page),
        ),
        Stream(
            "uploads_history",
            uploads_history,
            _POSTS,
            "backfill from the frontier",
            cost=lambda sizes, per_page: 0.0,
        ),
        Stream(
            "comments",
            comments,
            frozenset({Scope.COMMENTS}),
            "per video in the window: new since the last sync",
            after=("uploads",),
            per_page=100,
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
        Stream(
            "replies",
            replies,
            frozenset({Scope.COMMENTS}),
            "per thread in the window with more replies than stored",
            after=("comments",),
            per_page=100,
            # unknown until the threads are stored: at most one listing per commented video
            cost=lambda sizes, per_page: float(sizes.window_posts),
        ),
    ),
)
