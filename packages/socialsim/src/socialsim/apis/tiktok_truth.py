"""The TikTok truth under ``/_sim/truth/tiktok``: what the three TikTok APIs would list now.

Like the other ``/_sim`` endpoints these are never delayed, limited or faulted, and are not
counted in the stats. Counts are exact, at the simulated clock:

- ``GET /_sim/truth/tiktok``: ``{"accounts": [{"username", "ext_id", "sec_uid", "is_private",
  "exists": true}]}``, then the usernames no API knows: ``{"username", "exists": false}``.
- ``GET /_sim/truth/tiktok/{username}``: ``{"profile": {"ext_id", "username", "sec_uid",
  "nickname", "signature", "is_private", "is_verified", "follower_count", "following_count",
  "video_count", "heart_count"}, "followers": [ext_id], "followings": [ext_id], "list_cap":
  5000, "videos": [VIDEO]}``. ``followers`` / ``followings`` hold every account, newest follow
  first, while a listing stops after ``list_cap`` of them; ``videos`` are newest first (the
  posts listings show the pinned ones first on their first page). For a private account the
  lists are the real ones, which the APIs refuse to show.
- ``GET /_sim/truth/tiktok/{username}/videos/{video_id}``: ``{"video": VIDEO, "comments":
  [{"ext_id", "create_time", "like_count", "reply_count", "author_ext_id", "replies":
  [{"ext_id", "create_time", "like_count", "author_ext_id"}]}]}``: every top-level comment
  listed now, newest first, each with its replies listed now, oldest first; 404 when the video
  is not that account's.
- ``VIDEO`` is ``{"ext_id", "create_time" (unix), "desc" (as served, NUL characters included),
  "play_count", "like_count", "comment_count" (replies included), "share_count",
  "collect_count", "duration" (seconds), "pinned", "caption_language" (the description's
  language, ISO 639-1), "mentions" (usernames the description mentions, without ``@``),
  "appeal" (how its plays were made: the content of the video's media, its creator's size
  and noise; ``APPEAL`` in :mod:`socialsim.apis.control`)}``. ``duration`` is the API's
  figure; the media the CDN serves lasts ``appeal.factors.duration_s``.

Ids are strings here (the Research API serves them as bare integers).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim.apis import tiktok as tt
from socialsim.gateway import json_response
from socialsim.sim import Sim
from socialsim.world.tiktok import LIST_CAP, Video


def index(sim: Sim) -> dict[str, Any]:
    """Every creator (and every missing username) a client may be asked to sync."""
    tt_world = sim.world.tiktok
    accounts: list[dict[str, Any]] = [
        {
            "username": c.account.username,
            "ext_id": c.account.user_id,
            "sec_uid": c.account.sec_uid,
            "is_private": c.account.is_private,
            "exists": True,
        }
        for c in tt_world.creators
    ]
    accounts += [{"username": name, "exists": False} for name in tt_world.missing]
    return {"accounts": accounts}


def _video(sim: Sim, video: Video, *, pinned: bool) -> dict[str, Any]:
    counts = tt.counts(sim, video)
    return {
        "ext_id": video.video_id,
        "create_time": video.create_time,
        "desc": video.desc,
        "play_count": counts.plays,
        "like_count": counts.likes,
        "comment_count": counts.comments,
        "share_count": counts.shares,
        "collect_count": counts.collects,
        "duration": video.duration,
        "pinned": pinned,
        "caption_language": video.language,
        "mentions": list(video.mentions),
        "appeal": video.popularity.truth(),
    }


def account(sim: Sim, username: str) -> dict[str, Any] | None:
    """What a complete sync of one creator holds now (None for missing and unknown names)."""
    tt_world = sim.world.tiktok
    creator = tt_world.find_username(username)
    if creator is None:
        return None
    state = tt_world.state(creator)
    stats = tt_world.stats(creator.index)
    pinned = set(state.pinned)
    a = creator.account
    return {
        "profile": {
            "ext_id": a.user_id,
            "username": a.username,
            "sec_uid": a.sec_uid,
            "nickname": a.nickname,
            "signature": a.signature,
            "is_private": a.is_private,
            "is_verified": a.is_verified,
            "follower_count": stats.followers,
            "following_count": stats.following,
            "video_count": stats.videos,
            "heart_count": stats.hearts,
        },
        "followers": [tt_world.account(m).user_id for m in state.followers.live()],
        "followings": [tt_world.account(m).user_id for m in state.following.live()],
        "list_cap": LIST_CAP,
        "videos": [_video(sim, v, pinned=v.position in pinned) for v in reversed(state.videos)],
    }


def video(sim: Sim, username: str, video_id: str) -> dict[str, Any] | None:
    """One video of a creator and every comment and reply listed now (None when the creator
    or the video is unknown, or the video is another creator's)."""
    tt_world = sim.world.tiktok
    creator = tt_world.find_username(username)
    found = tt_world.find_video(video_id)
    if creator is None or found is None or found[0].index != creator.index:
        return None
    the_video = found[1]
    comments = []
    for comment in tt_world.comments(the_video):
        replies = tt_world.replies(comment)
        comments.append(
            {
                "ext_id": comment.comment_id,
                "create_time": comment.create_time,
                "like_count": comment.like_count,
                "reply_count": len(replies),
                "author_ext_id": tt_world.account(comment.author).user_id,
                "replies": [
                    {
                        "ext_id": r.comment_id,
                        "create_time": r.create_time,
                        "like_count": r.like_count,
                        "author_ext_id": tt_world.account(r.author).user_id,
                    }
                    for r in replies
                ],
            }
        )
    pinned = the_video.position in tt_world.state(creator).pinned
    return {"video": _video(sim, the_video, pinned=pinned), "comments": comments}


def routes(sim: Sim) -> list[BaseRoute]:
    """The ``/_sim/truth/tiktok`` routes."""

    async def truth_index(request: Request) -> Response:
        return json_response(200, index(sim))

    async def truth_account(request: Request) -> Response:
        username = request.path_params["username"]
        truth = account(sim, username)
        if truth is None:
            return json_response(404, {"error": "not found", "username": username})
        return json_response(200, truth)

    async def truth_video(request: Request) -> Response:
        username, video_id = request.path_params["username"], request.path_params["video_id"]
        truth = video(sim, username, video_id)
        if truth is None:
            body = {"error": "not found", "username": username, "video_id": video_id}
            return json_response(404, body)
        return json_response(200, truth)

    return [
        Route("/_sim/truth/tiktok", truth_index, methods=["GET"]),
        Route("/_sim/truth/tiktok/{username}", truth_account, methods=["GET"]),
        Route("/_sim/truth/tiktok/{username}/videos/{video_id}", truth_video, methods=["GET"]),
    ]
