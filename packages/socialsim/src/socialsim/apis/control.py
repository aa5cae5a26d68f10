"""The simulator's own endpoints under ``/_sim``: truth, stats and the clock.

These are never delayed, limited or faulted, and are not counted in the stats.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim.gateway import json_response
from socialsim.sim import Sim
from socialsim.world.clock import iso


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
        "followers": [ig.account(m).pk for m in state.followers.live()],
        "followings": [ig.account(m).pk for m in state.following.live()],
        "posts": [
            {
                "ext_id": str(post.pk),
                "code": post.code,
                "taken_at": post.taken_at,
                "media_type": post.media_type,
                "product_type": post.product_type,
                "comment_count": ig.comment_count(post),
                "like_count": ig.like_count(post),
                "media_count": post.children or 1,
            }
            for post in reversed(state.posts)
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
        "videos": [
            {
                "ext_id": v.video_id,
                "title": v.title,
                "published_at": iso(v.published_at),
                "view_count": yt.views(v),
                "like_count": yt.likes(v),
                "comment_count": 0 if v.comments_disabled else yt.comment_count(v),
                "comment_thread_count": yt.thread_count(v),
                "comments_disabled": v.comments_disabled,
            }
            for v in reversed(uploads)
        ],
    }


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

    async def truth_youtube(request: Request) -> Response:
        return json_response(200, youtube_index(sim))

    async def truth_youtube_channel(request: Request) -> Response:
        channel_id = request.path_params["channel_id"]
        truth = youtube_channel(sim, channel_id)
        if truth is None:
            return json_response(404, {"error": "not found", "channel_id": channel_id})
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
        Route("/_sim/truth/youtube", truth_youtube, methods=["GET"]),
        Route("/_sim/truth/youtube/{channel_id}", truth_youtube_channel, methods=["GET"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/stats/reset", stats_reset, methods=["POST"]),
        Route("/_sim/clock", get_clock, methods=["GET"]),
        Route("/_sim/clock", advance_clock, methods=["POST"]),
    ]
