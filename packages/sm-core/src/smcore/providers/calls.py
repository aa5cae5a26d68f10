"""A provider method called by name, pages merged: what ``sm-core providers call`` runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from smcore.providers import Providers, paginate
from smcore.providers.instagram import METHODS as INSTAGRAM_METHODS
from smcore.providers.models import Page
from smcore.providers.tiktok import METHODS as TIKTOK_METHODS
from smcore.providers.tiktok import TikTokUser
from smcore.providers.youtube import MAX_IDS
from smcore.providers.youtube import METHODS as YOUTUBE_METHODS

Platform = Literal["instagram", "youtube", "tiktok"]
METHODS: dict[str, tuple[str, ...]] = {
    "instagram": INSTAGRAM_METHODS,
    "youtube": YOUTUBE_METHODS,
    "tiktok": TIKTOK_METHODS,
}
_PAGED = {
    "followers",
    "followings",
    "user_posts",
    "post_comments",
    "comment_replies",
    "user_reels",
    "uploads",
    "comment_threads",
}


@dataclass(frozen=True)
class Target:
    """Who or what a call is about; which fields a method needs is checked in :func:`call`."""

    username: str | None = None
    user_id: str | None = None
    post_id: str | None = None
    channel_id: str | None = None
    playlist_id: str | None = None
    video_ids: tuple[str, ...] = ()
    comment_id: str | None = None
    highlight_id: str | None = None


class UsageError(ValueError):
    """The method was called without what it needs (the message says what)."""


def _need(value: str | None, option: str, method: str) -> str:
    if not value:
        raise UsageError(f"{method} needs {option}")
    return value


async def _user_id(providers: Providers, target: Target, method: str) -> str | Page[Any]:
    """The user id, looked up by username when only that was given."""
    if target.user_id:
        return target.user_id
    info = await providers.instagram.user_info(
        username=_need(target.username, "--user-id or --username", method)
    )
    if not info.success or info.item is None:
        return info
    return info.item.ext_id


def merge(pages: list[Page[Any]]) -> Page[Any]:
    """All pages as one: every item; the last page's cursor (where a resume would start)."""
    last = pages[-1]
    cursor = last.end_cursor
    if not last.success and len(pages) > 1:
        # Resume from the last page that worked.
        cursor, provider = pages[-2].end_cursor, pages[-2].api_provider
    else:
        provider = last.api_provider
    return Page(
        success=last.success,
        items=[item for page in pages for item in page.items],
        end_cursor=cursor,
        has_more=last.has_more if last.success else cursor is not None,
        api_provider=provider,
        error=last.error,
        failures=[f for page in pages for f in page.failures],
    )


Listing = tuple[Any, dict[str, Any]]  # a paginated facade method and its arguments


def _post(target: Target, method: str) -> dict[str, Any]:
    return {"post_id": _need(target.post_id, "--post-id", method)}


def _reply_target(target: Target, method: str) -> dict[str, Any]:
    return {**_post(target, method), "comment_id": _need(target.comment_id, "--comment-id", method)}


# Methods asked by something other than a user (Instagram and TikTok): their arguments.
_BY_ID: dict[str, Callable[[Target, str], dict[str, Any]]] = {
    "post_comments": _post,
    "post_likers": _post,
    "comment_replies": _reply_target,
    "highlight_stories": lambda t, m: {"highlight_id": _need(t.highlight_id, "--highlight-id", m)},
}


async def _instagram(providers: Providers, method: str, target: Target) -> Page[Any] | Listing:
    ig = providers.instagram
    if method == "user_info":
        if target.user_id:
            return await ig.user_info(user_id=target.user_id)
        return await ig.user_info(
            username=_need(target.username, "--username or --user-id", method)
        )
    if method in _BY_ID:
        return getattr(ig, method), _BY_ID[method](target, method)
    user_id = await _user_id(providers, target, method)
    if isinstance(user_id, Page):
        return user_id
    return getattr(ig, method), {"user_id": user_id}


async def _youtube(
    providers: Providers, method: str, target: Target
) -> Page[Any] | list[Page[Any]] | Listing:
    yt = providers.youtube
    ids = list(target.video_ids)
    if method == "channel":
        if target.channel_id:
            return await yt.channel(channel_id=target.channel_id)
        handle = _need(target.username, "--channel-id or --username (a handle)", method)
        return await yt.channel(handle=handle)
    if method == "videos":
        if not ids:
            raise UsageError("videos needs --video-id (repeatable)")
        return [await yt.videos(ids=ids[i : i + MAX_IDS]) for i in range(0, len(ids), MAX_IDS)]
    if method in ("comment_threads", "comment_replies"):
        args = {"video_id": _need(ids[0] if ids else None, "--video-id", method)}
        if method == "comment_replies":
            args["parent_id"] = _need(target.comment_id, "--comment-id (the thread's id)", method)
        return getattr(yt, method), args
    playlist = target.playlist_id
    if not playlist:
        channel_id = _need(target.channel_id, "--playlist-id or --channel-id", method)
        channel = await yt.channel(channel_id=channel_id)
        if not channel.success or channel.item is None or not channel.item.uploads_playlist_id:
            return channel
        playlist = channel.item.uploads_playlist_id
    return yt.uploads, {"playlist_id": playlist}


async def _tiktok(providers: Providers, method: str, target: Target) -> Page[Any] | Listing:
    tt = providers.tiktok
    if method == "user_info":
        if target.user_id:
            return await tt.user_info(user_id=target.user_id)
        return await tt.user_info(
            username=_need(target.username, "--username or --user-id", method)
        )
    if method in _BY_ID:
        return getattr(tt, method), _BY_ID[method](target, method)
    # Listings of a user are asked by the ids its profile gives: look it up first.
    info = await tt.user_info(username=_need(target.username, "--username", method))
    if not info.success or info.item is None:
        return info
    user = TikTokUser(
        ext_id=info.item.ext_id, username=info.item.username, sec_uid=info.item.sec_uid
    )
    return getattr(tt, method), {"user": user}


_PLATFORMS = {"instagram": _instagram, "youtube": _youtube, "tiktok": _tiktok}


async def call(
    providers: Providers, platform: Platform, method: str, target: Target, *, all_pages: bool
) -> tuple[Page[Any], int]:
    """Run ``platform.method`` for ``target``; return the (merged) page and the number of pages.

    Raises:
        UsageError: unknown method, or the target lacks what the method needs.
    """
    if method not in METHODS[platform]:
        known = ", ".join(METHODS[platform])
        raise UsageError(f"{platform} has no method {method!r}; it has: {known}")
    plan = await _PLATFORMS[platform](providers, method, target)
    if isinstance(plan, Page):
        return plan, 1
    if isinstance(plan, list):
        return merge(plan), len(plan)
    fn, kwargs = plan
    if method not in _PAGED or not all_pages:
        page: Page[Any] = await fn(**kwargs)
        return page, 1
    pages = [page async for page in paginate(fn, **kwargs)]
    return merge(pages), len(pages)
