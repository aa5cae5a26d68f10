"""The simulator's own endpoints under ``/_sim``: truth, stats and the clock.

These are never delayed, limited or faulted, and are not counted in the stats. The truth is
what the APIs would answer now, at the simulated clock:

- ``GET /_sim/truth/instagram``: ``{"profiles": [{"username", "ext_id", "is_private",
  "exists"}]}``.
- ``GET /_sim/truth/instagram/{username}``: ``{"profile": {...}, "followers": [pk],
  "followings": [pk], "malformed_followers": [pk], "malformed_followings": [pk],
  "posts": [POST], "reels": [post ext_id], "stories": [{"ext_id", "taken_at",
  "expiring_at", "media_type"}], "highlights": [{"ext_id" (no ``highlight:`` prefix),
  "title", "media_count", "items": [story ext_id]}]}``; followers, followings, posts and
  reels newest first; ``malformed_*`` are the members of ``followers`` / ``followings`` that
  the APIs serve malformed (empty without a ``bad_item_rate``); ``stories`` are the live
  ones (``user/get_stories``), oldest first; ``highlights`` are the tray's, newest first,
  each with its stories oldest first, expired ones included.
- ``GET /_sim/truth/instagram/{username}/posts/{post_pk}``: ``{"post": POST, "likers": [pk]
  (every one, newest first), "likers_listable" (how many the APIs list: at most 1,000),
  "comments": [{"ext_id", "created_at" (unix), "like_count", "child_comment_count",
  "author_ext_id", "malformed", "replies": [{"ext_id", "created_at", "like_count",
  "author_ext_id"}] (oldest first)}]}``, every comment the API lists now, newest first; 404
  when the post is not that profile's.
- ``POST`` is ``{"ext_id", "code", "taken_at" (unix), "media_type", "product_type",
  "comment_count", "like_count", "play_count" (null unless a video), "media_count",
  "pinned", "malformed", "caption_language" (ISO 639-1; null without a caption), "mentions"
  (usernames of the profiles the caption mentions, without ``@``)}``; posts are newest first
  (the feed lists the pinned ones first).
- ``GET /_sim/truth/youtube``: ``{"channels": [{"channel_id", "handle",
  "uploads_playlist_id"}]}``.
- ``GET /_sim/truth/youtube/{channel_id}``: ``{"channel": {...}, "videos": [VIDEO]}``, newest
  first.
- ``GET /_sim/truth/youtube/{channel_id}/videos/{video_id}``: ``{"video": VIDEO,
  "comments": [{"ext_id" (thread id), "created_at" (unix), "like_count", "reply_count",
  "malformed", "replies": [{"ext_id", "created_at" (unix), "like_count"}]}]}``, the
  top-level threads ``commentThreads.list`` lists now, newest first, each with every reply
  ``comments.list`` lists now, in its order (newest first); 404 when the video is not that
  channel's.
- ``VIDEO`` is ``{"ext_id", "title", "published_at" (RFC 3339), "view_count", "like_count",
  "comment_count", "comment_thread_count", "comments_disabled", "malformed" (its
  ``videos.list`` item), "malformed_playlist_item" (its uploads playlist entry),
  "caption_language" (the description's, ISO 639-1), "mentions" (handles of the channels the
  description mentions, without ``@``), "appeal" (how its views were made: APPEAL)}``.
- ``APPEAL`` (YouTube and TikTok videos, :mod:`socialsim.world.popularity`) is
  ``{"views_final", "scale" (the content's multiplier on final views), "tau_days" (the growth
  time constant), "like_ratio", "factors": {"face", "text_words", "duration_s" (null for a
  YouTube thumbnail: a still), "brightness", "channel" (followers or subscribers), "noise"
  (the lognormal multiplier on final views), "tau_noise"}, "effects": {"views": {"channel"
  (median views), "face", "text", "duration", "brightness", "noise"}, "tau_days": {"base",
  "face", "text", "duration", "channel", "noise"}, "like_ratio": {"base", "face",
  "text"}}}``: the product of each ``effects`` entry is ``views_final`` (before the cap and
  rounding down), ``tau_days`` (within its bounds) and ``like_ratio`` (below its cap).

``malformed`` marks items the APIs serve malformed (``bad_item_rate``): a client must skip
them, so a complete sync holds everything else.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim.apis import instagram as ig_api
from socialsim.apis import youtube as yt_api
from socialsim.gateway import json_response
from socialsim.sim import Sim
from socialsim.world.clock import iso
from socialsim.world.instagram import Post
from socialsim.world.youtube import Video


def instagram_index(sim: Sim) -> dict[str, Any]:
    """Every profile (and every missing username) a client may be asked to sync."""
    ig = sim.world.instagram
    profiles: list[dict[str, Any]] = [
        {"username": p.username, "ext_id": p.pk, "is_private": p.is_private, "exists": True}
        for p in ig.profiles
    ]
    profiles += [{"username": name, "exists": False} for name in ig.missing]
    return {"profiles": profiles}


def instagram_profile(sim: Sim, username: str) -> dict[str, Any] | None:
    """What a complete sync of one profile holds now (None for missing and unknown names).

    For a private profile the lists are the real ones, which its APIs refuse to show: a
    sync can hold only the profile itself.
    """
    ig = sim.world.instagram
    profile = ig.find_username(username)
    if profile is None:
        return None
    state = ig.state(profile)
    followers = [ig.account(m).pk for m in state.followers.live()]
    followings = [ig.account(m).pk for m in state.following.live()]
    pinned = set(state.pinned)
    return {
        "profile": {
            "ext_id": profile.pk,
            "username": profile.username,
            "full_name": profile.full_name,
            "biography": profile.biography,
            "external_url": profile.external_url,
            "profile_pic_url": ig.account(profile.index).profile_pic_url,
            "followers_count": state.followers.alive_count,
            "follows_count": state.following.alive_count,
            "posts_count": len(state.posts),
            "is_private": profile.is_private,
            "is_verified": profile.is_verified,
        },
        "followers": followers,
        "followings": followings,
        "malformed_followers": [pk for pk in followers if ig_api.bad_user(sim, pk)],
        "malformed_followings": [pk for pk in followings if ig_api.bad_user(sim, pk)],
        "posts": [_post(sim, post, pinned=post.index in pinned) for post in reversed(state.posts)],
        "reels": [str(state.posts[i].pk) for i in reversed(state.clips)],
        "stories": [
            {
                "ext_id": str(s.pk),
                "taken_at": s.taken_at,
                "expiring_at": s.expiring_at,
                "media_type": s.media_type,
            }
            for s in ig.live_stories(profile)
        ],
        "highlights": [
            {
                "ext_id": h.pk,
                "title": h.title,
                "media_count": len(items),
                "items": [str(s.pk) for s in items],
            }
            for h in ig.highlights(profile)
            for items in (ig.highlight_items(profile, h),)
        ],
    }


def _post(sim: Sim, post: Post, *, pinned: bool) -> dict[str, Any]:
    ig = sim.world.instagram
    written = ig.caption(post)[1] if post.has_caption else None
    return {
        "ext_id": str(post.pk),
        "code": post.code,
        "taken_at": post.taken_at,
        "media_type": post.media_type,
        "product_type": post.product_type,
        "comment_count": ig.comment_count(post),
        "like_count": ig.like_count(post),
        "play_count": ig.play_count(post) if post.media_type == 2 else None,
        "media_count": post.children or 1,
        "pinned": pinned,
        "malformed": ig_api.bad_post(sim, post),
        "caption_language": None if written is None else written.language,
        "mentions": [] if written is None else list(written.mentions),
    }


def instagram_post(sim: Sim, username: str, post_pk: str) -> dict[str, Any] | None:
    """One post of a profile and every comment its API lists now, newest first (None when
    the profile or the post is unknown, or the post is another profile's)."""
    ig = sim.world.instagram
    profile = ig.find_username(username)
    found = ig.find_media(int(post_pk)) if post_pk.isdigit() else None
    if profile is None or found is None or found[0].index != profile.index:
        return None
    post = found[1]
    comments = [ig.comment(post, k) for k in range(ig.comment_count(post) - 1, -1, -1)]
    likers = ig.likers(post)
    return {
        "post": _post(sim, post, pinned=post.index in ig.state(profile).pinned),
        "likers": [ig.account(index).pk for index in likers],
        "likers_listable": min(ig_api.MAX_LIKERS, len(likers)),
        "comments": [
            {
                "ext_id": c.pk,
                "created_at": c.created_at,
                "like_count": c.like_count,
                "child_comment_count": c.child_comment_count,
                "author_ext_id": ig.account(c.author).pk,
                "malformed": ig_api.bad_comment(sim, c),
                "replies": [
                    {
                        "ext_id": r.pk,
                        "created_at": r.created_at,
                        "like_count": r.like_count,
                        "author_ext_id": ig.account(r.author).pk,
                    }
                    for r in ig.replies(post, c)
                ],
            }
            for c in comments
        ],
    }


def youtube_index(sim: Sim) -> dict[str, Any]:
    """Every channel."""
    return {
        "channels": [
            {
                "channel_id": c.channel_id,
                "handle": c.handle,
                "uploads_playlist_id": c.uploads_playlist_id,
            }
            for c in sim.world.youtube.channels
        ]
    }


def youtube_channel(sim: Sim, channel_id: str) -> dict[str, Any] | None:
    """What a complete sync of one channel holds now (None for unknown ids)."""
    yt = sim.world.youtube
    channel = yt.find_channel(channel_id) or yt.find_handle(channel_id)
    if channel is None:
        return None
    uploads = yt.uploads(channel)
    return {
        "channel": {
            "channel_id": channel.channel_id,
            "handle": channel.handle,
            "title": channel.title,
            "uploads_playlist_id": channel.uploads_playlist_id,
            "view_count": yt.channel_views(channel),
            "subscriber_count": yt.subscribers(channel),
            "video_count": len(uploads),
        },
        "videos": [_video(sim, v) for v in reversed(uploads)],
    }


def _video(sim: Sim, video: Video) -> dict[str, Any]:
    yt = sim.world.youtube
    return {
        "ext_id": video.video_id,
        "title": video.title,
        "published_at": iso(video.published_at),
        "view_count": yt.views(video),
        "like_count": yt.likes(video),
        "comment_count": 0 if video.comments_disabled else yt.comment_count(video),
        "comment_thread_count": yt.thread_count(video),
        "comments_disabled": video.comments_disabled,
        "malformed": yt_api.bad_video(sim, video),
        "malformed_playlist_item": yt_api.bad_playlist_item(sim, video),
        "caption_language": video.language,
        "mentions": list(video.mentions),
        "appeal": video.popularity.truth(),
    }


def youtube_video(sim: Sim, channel_id: str, video_id: str) -> dict[str, Any] | None:
    """One video of a channel and the comment threads its API lists now, newest first
    (None when the channel or the video is unknown, or the video is another channel's)."""
    yt = sim.world.youtube
    channel = yt.find_channel(channel_id) or yt.find_handle(channel_id)
    video = yt.find_video(video_id)
    if channel is None or video is None or video.channel != channel.index:
        return None
    comments = []
    for k in range(yt.thread_count(video) - 1, -1, -1):
        t = yt.thread(video, k)
        replies, _ = yt.replies_page(video, k, t, None, t.reply_count)
        comments.append(
            {
                "ext_id": t.thread_id,
                "created_at": t.created_at,
                "like_count": t.like_count,
                "reply_count": t.reply_count,
                "malformed": yt_api.bad_thread(sim, t),
                "replies": [
                    {"ext_id": r.comment_id, "created_at": r.created_at, "like_count": r.like_count}
                    for r in replies
                ],
            }
        )
    return {"video": _video(sim, video), "comments": comments}


def clock(sim: Sim) -> dict[str, Any]:
    """The simulated time."""
    return {"now": iso(sim.world.now), "unix": sim.world.now, "step": len(sim.world.clock.steps)}


def routes(sim: Sim) -> list[BaseRoute]:
    """The ``/_sim`` routes."""

    async def truth_instagram(request: Request) -> Response:
        return json_response(200, instagram_index(sim))

    async def truth_instagram_profile(request: Request) -> Response:
        username = request.path_params["username"]
        truth = instagram_profile(sim, username)
        if truth is None:
            return json_response(404, {"error": "not found", "username": username})
        return json_response(200, truth)

    async def truth_instagram_post(request: Request) -> Response:
        username, post_pk = request.path_params["username"], request.path_params["post_pk"]
        truth = instagram_post(sim, username, post_pk)
        if truth is None:
            body = {"error": "not found", "username": username, "post_pk": post_pk}
            return json_response(404, body)
        return json_response(200, truth)

    async def truth_youtube(request: Request) -> Response:
        return json_response(200, youtube_index(sim))

    async def truth_youtube_channel(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        truth = youtube_channel(sim, channel_id)
        if truth is None:
            return json_response(404, {"error": "not found", "channel_id": channel_id})
        return json_response(200, truth)

    async def truth_youtube_video(request: Request) -> Response:
        channel_id, video_id = request.path_params["channel_id"], request.path_params["video_id"]
        truth = youtube_video(sim, channel_id, video_id)
        if truth is None:
            body = {"error": "not found", "channel_id": channel_id, "video_id": video_id}
            return json_response(404, body)
        return json_response(200, truth)

    async def stats(request: Request) -> Response:
        return json_response(200, sim.stats.snapshot())

    async def stats_reset(request: Request) -> Response:
        sim.stats.reset()
        return json_response(200, sim.stats.snapshot())

    async def get_clock(request: Request) -> Response:
        return json_response(200, clock(sim))

    async def advance_clock(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            hours = float(body["advance_hours"])
            sim.world.advance(hours)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return json_response(400, {"error": f"expected {{'advance_hours': H > 0}}: {exc}"})
        return json_response(200, clock(sim))

    return [
        Route("/_sim/truth/instagram", truth_instagram, methods=["GET"]),
        Route("/_sim/truth/instagram/{username}", truth_instagram_profile, methods=["GET"]),
        Route(
            "/_sim/truth/instagram/{username}/posts/{post_pk}",
            truth_instagram_post,
            methods=["GET"],
        ),
        Route("/_sim/truth/youtube", truth_youtube, methods=["GET"]),
        Route("/_sim/truth/youtube/{channel_id}", truth_youtube_channel, methods=["GET"]),
        Route(
            "/_sim/truth/youtube/{channel_id}/videos/{video_id}",
            truth_youtube_video,
            methods=["GET"],
        ),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/stats/reset", stats_reset, methods=["POST"]),
        Route("/_sim/clock", get_clock, methods=["GET"]),
        Route("/_sim/clock", advance_clock, methods=["POST"]),
    ]
