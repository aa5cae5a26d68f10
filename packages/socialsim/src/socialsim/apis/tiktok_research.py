"""TikTok's Research API: ``POST /v2/research/...`` with ``Authorization: Bearer <token>``.

Shapes follow TikTok's recorded responses (``shared/fixtures/tiktok-research-api``): every
answer is ``{"data": {…}, "error": {"code": "ok", "message": "", "log_id"}}``; a refusal is
``{"error": {"code", "message", "log_id"}}`` with HTTP 400 ``invalid_params``, 401
``access_token_invalid``, 429 ``rate_limit_exceeded`` or 500 ``internal_error``. Ids are bare
JSON integers above 2**53. The fields an answer holds are those named by the ``fields`` query
parameter (an unknown one is ``invalid_params``).

- ``POST /v2/oauth/token/`` (form: ``client_key``, ``client_secret`` = the simulator's key,
  ``grant_type=client_credentials``) → ``{"access_token": "clt.…", "expires_in": 7200,
  "token_type": "Bearer"}``. A token lives 7,200 seconds of the simulated clock: moving the clock
  past that makes it ``access_token_invalid``.
- ``/v2/research/user/info/`` ``{"username"}`` → ``data: {display_name, bio_description,
  avatar_url, is_verified, follower_count, following_count, likes_count, video_count}`` (no id).
- ``/v2/research/video/query/`` ``{"query": {"and": [{"operation": "EQ"|"IN", "field_name":
  "username", "field_values": [U…]}]}, "start_date", "end_date" (YYYYMMDD, at most 30 days
  apart), "max_count" (≤ 100), "cursor"?, "search_id"?}`` → ``data: {"videos", "cursor",
  "search_id", "has_more"}``, newest first. As in the recordings, ``cursor`` moves by
  ``max_count`` whatever the page holds: the search also counts videos it does not return
  (removed ones), so a page may hold fewer than ``max_count`` (even none) with ``has_more``
  true. The ``search_id`` is valid while the simulated clock stands still: after a move (or,
  under ``fault_rate``, now and then) a follow-up page is ``invalid_params`` "search_id invalid
  or expired" and the query must restart. Only ``username`` conditions are simulated. Some
  videos come without ``like_count``; some creators' ``username`` holds NUL characters
  (``"tt_user_00\\u0000…\\u00007"``), as one recording does.
- ``/v2/research/video/comment/list/`` ``{"video_id", "max_count" (≤ 100), "cursor"?}`` →
  ``data: {"comments", "cursor" (an offset), "has_more"}``: each top-level comment (newest
  first) followed by its replies (oldest first); ``parent_comment_id`` is the video id for a
  top-level comment, the parent's id for a reply.
- ``/v2/research/user/followers/`` and ``/v2/research/user/following/`` ``{"username",
  "max_count" (≤ 100), "cursor"? (a follow time, epoch seconds)}`` → ``data:
  {"user_followers"|"user_following": [{"display_name", "username"}], "cursor", "has_more"}``,
  stopping after :data:`~socialsim.world.tiktok.LIST_CAP` users.

Quotas per UTC day of the simulated clock (``SimConfig.research_*``): requests and returned
records, followers/following apart; a request once either is spent is 429
``rate_limit_exceeded``. Under ``fault_rate`` some requests are 500 ``internal_error`` after
costing their request. A private account's lists are empty; an unknown user or video is
``invalid_params``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from socialsim import gateway
from socialsim.apis import tiktok as tt
from socialsim.faults import DailyQuota
from socialsim.gateway import ApiSpec, Call, Reply
from socialsim.sim import Sim
from socialsim.world import randomness as rnd
from socialsim.world.tiktok import NUL, Comment, Creator, Video
from socialsim.world.tiktok import Reply as CommentReply

TOKEN_TTL_S = 7200
MAX_WINDOW_DAYS = 30
MAX_COUNT = 100
_SEARCH = 111  # TikTok labels are 1xx (see socialsim.world.tiktok)
_GHOSTS = 112

ErrorCode = Literal[
    "invalid_params", "access_token_invalid", "rate_limit_exceeded", "internal_error"
]
_STATUS: dict[ErrorCode, int] = {
    "invalid_params": 400,
    "access_token_invalid": 401,
    "rate_limit_exceeded": 429,
    "internal_error": 500,
}

USER_FIELDS = (
    "display_name",
    "bio_description",
    "avatar_url",
    "is_verified",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
)
VIDEO_FIELDS = (
    "id",
    "create_time",
    "username",
    "region_code",
    "video_description",
    "music_id",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
    "favorites_count",
    "video_duration",
    "hashtag_names",
    "effect_ids",
)
COMMENT_FIELDS = (
    "id",
    "video_id",
    "text",
    "like_count",
    "reply_count",
    "parent_comment_id",
    "create_time",
)


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def _log_id(sim: Sim, call: Call) -> str:
    return tt.log_id(sim, call.endpoint, orjson.dumps(call.params, option=orjson.OPT_SORT_KEYS))


def _error(sim: Sim, call: Call, code: ErrorCode, message: str) -> Reply:
    body = {"error": {"code": code, "message": message, "log_id": _log_id(sim, call)}}
    return Reply(_STATUS[code], body)


def _ok(sim: Sim, call: Call, data: dict[str, Any]) -> Reply:
    return Reply(
        200, {"data": data, "error": {"code": "ok", "message": "", "log_id": _log_id(sim, call)}}
    )


# ---------------------------------------------------------------------- tokens


def _token_key(sim: Sim) -> bytes:
    return hashlib.blake2b(f"socialsim-research-token/{sim.config.world.seed}".encode()).digest()


def issue_token(sim: Sim) -> str:
    """A client access token issued now (simulated clock)."""
    payload = str(sim.world.now).encode()
    mac = hashlib.blake2b(payload, key=_token_key(sim)[:32], digest_size=12).digest()
    return "clt." + base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def token_valid(sim: Sim, token: str) -> bool:
    """Whether a token was issued by this simulator less than :data:`TOKEN_TTL_S` ago."""
    if not token.startswith("clt."):
        return False
    raw_text = token[4:]
    try:
        raw = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
    except (binascii.Error, ValueError):
        return False
    payload, mac = raw[:-12], raw[-12:]
    expected = hashlib.blake2b(payload, key=_token_key(sim)[:32], digest_size=12).digest()
    if len(raw) <= 12 or mac != expected or not payload.isdigit():
        return False
    return 0 <= sim.world.now - int(payload) < TOKEN_TTL_S


def _token(sim: Sim, call: Call) -> Reply:
    form: dict[str, str] = call.params
    if form.get("grant_type") != "client_credentials":
        body = {
            "error": "unsupported_grant_type",
            "error_description": "Only client_credentials is supported.",
            "log_id": _log_id(sim, call),
        }
        return Reply(400, body)
    return Reply(
        200, {"access_token": issue_token(sim), "expires_in": TOKEN_TTL_S, "token_type": "Bearer"}
    )


# ---------------------------------------------------------------------- request parsing


def _fields(params: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    asked = [f.strip() for f in str(params.get("fields", "")).split(",") if f.strip()]
    unknown = [f for f in asked if f not in allowed]
    if not asked or unknown:
        raise _Refused("invalid_params", f"Invalid fields: {','.join(unknown) or 'none given'}")
    return asked


def _body(params: dict[str, Any]) -> dict[str, Any]:
    body = params.get("body")
    if not isinstance(body, dict):
        raise _Refused("invalid_params", "The request body must be a JSON object")
    return body


def _max_count(body: dict[str, Any], default: int) -> int:
    value = body.get("max_count", default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
        raise _Refused("invalid_params", f"max_count must be between 1 and {MAX_COUNT}")
    return value


def _int_cursor(body: dict[str, Any]) -> int:
    value = body.get("cursor", 0)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Refused("invalid_params", "Invalid cursor")
    return value


def _creator(sim: Sim, body: dict[str, Any]) -> Creator:
    username = body.get("username")
    creator = sim.world.tiktok.find_username(username) if isinstance(username, str) else None
    if creator is None:
        raise _Refused("invalid_params", "User does not exist")
    return creator


def _select(values: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: values[name] for name in fields if name in values}


def served_username(sim: Sim, creator: Creator) -> str:
    """The ``username`` the Research API serves for a creator: about a quarter hold NUL
    characters before their last one (stripping NULs gives the real username)."""
    name = creator.account.username
    if tt.hash_text(f"{sim.config.world.seed}/nul/{name}") % 4:
        return name
    return name[:-1] + NUL * 6 + name[-1]


# ---------------------------------------------------------------------- endpoints


def _user_info(sim: Sim, call: Call) -> Reply:
    fields = _fields(call.params, USER_FIELDS)
    creator = _creator(sim, _body(call.params))
    account = creator.account
    stats = sim.world.tiktok.stats(creator.index)
    values = {
        "display_name": account.nickname,
        "bio_description": account.signature,
        "avatar_url": tt.avatar(account, 720),
        "is_verified": account.is_verified,
        "follower_count": stats.followers,
        "following_count": stats.following,
        "likes_count": stats.hearts,
        "video_count": stats.videos,
    }
    sim.research_quota.charge_records(sim.world.now, 1)
    return _ok(sim, call, _select(values, fields))


def _day(value: object, name: str) -> dt.date:
    try:
        return dt.datetime.strptime(str(value), "%Y%m%d").replace(tzinfo=dt.UTC).date()
    except ValueError as exc:
        raise _Refused("invalid_params", f"{name} must be a date YYYYMMDD") from exc


def _usernames(query: object) -> list[str]:
    if not isinstance(query, dict):
        raise _Refused("invalid_params", "query is required")
    names: list[str] = []
    for clause in ("and", "or"):
        for condition in query.get(clause) or []:
            if not isinstance(condition, dict) or condition.get("field_name") != "username":
                raise _Refused("invalid_params", "The simulator filters on username only")
            if condition.get("operation") not in {"EQ", "IN"}:
                raise _Refused("invalid_params", "Invalid operation")
            names += [str(v) for v in condition.get("field_values") or []]
    if not names:
        raise _Refused("invalid_params", "query must name at least one username")
    return names


def _slots(key: str, videos: list[Video]) -> list[int]:
    """Each result's place in the search, removed videos counted: mostly one after another,
    now and then after a run of removed ones."""
    slots, slot = [], 0
    for video in videos:
        h = rnd.mix(tt.hash_text(key), _GHOSTS, int(video.video_id))
        if h % 12 == 0:
            slot += 20 + (h >> 8) % 80
        slots.append(slot)
        slot += 1
    return slots


def _video_values(sim: Sim, creator: Creator, video: Video) -> dict[str, Any]:
    counts = tt.counts(sim, video)
    values: dict[str, Any] = {
        "id": int(video.video_id),
        "create_time": video.create_time,
        "username": served_username(sim, creator),
        "region_code": video.region,
        "video_description": video.desc,
        "music_id": int(video.music_id),
        "like_count": counts.likes,
        "comment_count": counts.comments,
        "share_count": counts.shares,
        "view_count": counts.plays,
        "favorites_count": counts.collects,
        "video_duration": video.duration,
        "hashtag_names": list(video.hashtags),
    }
    h = rnd.mix(int(video.video_id), _GHOSTS)
    if h % 10 == 0:
        values["effect_ids"] = [str(10_000_000 + (h >> 8) % 90_000_000)]
    if h % 25 == 1:
        del values["like_count"]  # the recordings hold items without some fields
    return values


def _video_query(sim: Sim, call: Call) -> Reply:
    fields = _fields(call.params, VIDEO_FIELDS)
    body = _body(call.params)
    names = _usernames(body.get("query"))
    start = _day(body.get("start_date"), "start_date")
    end = _day(body.get("end_date"), "end_date")
    if end < start or (end - start).days > MAX_WINDOW_DAYS:
        raise _Refused("invalid_params", "end_date must be within 30 days after start_date")
    count = _max_count(body, 20)
    cursor = _int_cursor(body)
    low = int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp())
    high = int(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp())
    key = f"{sorted(set(names))}|{start}|{end}"
    search_hash = rnd.mix(sim.config.world.seed, _SEARCH, tt.hash_text(key), sim.world.now)
    search_id = str(10**18 + search_hash % (8 * 10**18))
    sent = body.get("search_id")
    if sent not in (None, "") and (
        str(sent) != search_id or (cursor > 0 and sim.faults.provider_error(0.5))
    ):
        reply = _error(sim, call, "invalid_params", "search_id invalid or expired")
        reply.fault = "expired_cursor"
        return reply
    tt_world = sim.world.tiktok
    found: list[tuple[Creator, Video]] = []
    for name in dict.fromkeys(names):
        creator = tt_world.find_username(name)
        if creator is None or creator.account.is_private:
            continue
        found += [
            (creator, v)
            for v in tt_world.state(creator).videos
            if low <= v.create_time < min(high, sim.world.now + 1)
        ]
    found.sort(key=lambda cv: (cv[1].create_time, int(cv[1].video_id)), reverse=True)
    slots = _slots(key, [v for _, v in found])
    page = [cv for cv, slot in zip(found, slots, strict=True) if cursor <= slot < cursor + count]
    videos = [_select(_video_values(sim, c, v), fields) for c, v in page]
    sim.research_quota.charge_records(sim.world.now, len(videos))
    has_more = bool(slots) and cursor + count <= slots[-1]
    data = {
        "videos": videos,
        "cursor": cursor + count,
        "search_id": search_id,
        "has_more": has_more,
    }
    return _ok(sim, call, data)


def _comment_list(sim: Sim, call: Call) -> Reply:
    fields = _fields(call.params, COMMENT_FIELDS)
    body = _body(call.params)
    found = sim.world.tiktok.find_video(str(body.get("video_id", "")))
    if found is None or found[0].account.is_private:
        raise _Refused("invalid_params", "Video does not exist")
    video = found[1]
    count = _max_count(body, 10)
    cursor = _int_cursor(body)
    tt_world = sim.world.tiktok
    listed = tt_world.comment_count(video)  # top-level comments and their replies
    if cursor > listed:
        raise _Refused("invalid_params", "Invalid cursor")
    page: list[dict[str, Any]] = []
    position = 0
    for k in range(tt_world.top_count(video) - 1, -1, -1):
        if len(page) == count:
            break
        parent = tt_world.comment(video, k)
        replies = tt_world.reply_count(parent)
        if position + 1 + replies <= cursor:
            position += 1 + replies  # the whole group lies before the cursor
            continue
        group: list[Comment | CommentReply] = [parent]
        group += [tt_world.reply(parent, j) for j in range(replies)]
        for entry in group:
            if cursor <= position < cursor + count:
                page.append(_select(_comment_values(video, entry, replies), fields))
            position += 1
    sim.research_quota.charge_records(sim.world.now, len(page))
    end = cursor + len(page)
    return _ok(sim, call, {"comments": page, "cursor": end, "has_more": end < listed})


def _comment_values(video: Video, entry: Comment | CommentReply, replies: int) -> dict[str, Any]:
    """Every field of a comment with ``replies`` replies (or of a reply)."""
    if isinstance(entry, CommentReply):
        replies, parent = 0, entry.parent_id
    else:
        parent = video.video_id
    return {
        "id": int(entry.comment_id),
        "video_id": int(video.video_id),
        "text": entry.text,
        "like_count": entry.like_count,
        "reply_count": replies,
        "parent_comment_id": int(parent),
        "create_time": entry.create_time,
    }


def _follow_list(stream: tt.FollowStream) -> Callable[[Sim, Call], Reply]:
    listing = "user_followers" if stream == "followers" else "user_following"

    def handle(sim: Sim, call: Call) -> Reply:
        body = _body(call.params)
        creator = _creator(sim, body)
        count = _max_count(body, 20)
        try:
            before = tt.follow_cursor(sim, body.get("cursor"))
        except tt.TikTokError as exc:
            raise _Refused("invalid_params", exc.message) from exc
        page = tt.follow_page(sim, creator, stream, before, count)
        tt_world = sim.world.tiktok
        users = [
            {
                "display_name": tt_world.account(m).nickname,
                "username": tt_world.account(m).username,
            }
            for m in page.members
        ]
        sim.research_follow_quota.charge_records(sim.world.now, len(users))
        data = {listing: users, "cursor": page.min_time, "has_more": page.has_more}
        return _ok(sim, call, data)

    return handle


_ENDPOINTS: dict[str, Callable[[Sim, Call], Reply]] = {
    "user/info": _user_info,
    "video/query": _video_query,
    "video/comment/list": _comment_list,
    "user/followers": _follow_list("followers"),
    "user/following": _follow_list("following"),
}
_FOLLOW_ENDPOINTS = frozenset({"user/followers", "user/following"})


def _quota(sim: Sim, endpoint: str) -> DailyQuota:
    return sim.research_follow_quota if endpoint in _FOLLOW_ENDPOINTS else sim.research_quota


def _handler(endpoint: Callable[[Sim, Call], Reply]) -> gateway.Handler:
    def handle(sim: Sim, call: Call) -> Reply:
        if sim.faults.provider_error(0.5):
            reply = _error(sim, call, "internal_error", "Something went wrong. Please try again.")
            reply.fault = "5xx"
            return reply
        try:
            return endpoint(sim, call)
        except _Refused as refused:
            return _error(sim, call, refused.code, refused.message)

    return handle


def _admit(sim: Sim, call: Call) -> Reply | None:
    if _quota(sim, call.endpoint).admit(sim.world.now):
        return None
    reply = _error(sim, call, "rate_limit_exceeded", "Daily quota exceeded")
    reply.fault = "quota"
    return reply


def _api_error(code: ErrorCode, message: str) -> Reply:
    return Reply(_STATUS[code], {"error": {"code": code, "message": message, "log_id": ""}})


API = ApiSpec(
    name="research",
    handlers={name: _handler(endpoint) for name, endpoint in _ENDPOINTS.items()},
    auth_error=lambda: _api_error(
        "access_token_invalid", "The access token is invalid or not found in the request."
    ),
    rate_limited=lambda _seconds: _api_error(
        "rate_limit_exceeded", "API rate limit exceeded, please retry later."
    ),
    unknown=lambda endpoint: _api_error("invalid_params", f"Unknown endpoint: {endpoint}"),
    admit=_admit,
)
TOKEN_API = ApiSpec(
    name="research",
    handlers={"oauth/token": _token},
    auth_error=lambda: Reply(
        401,
        {
            "error": "invalid_client",
            "error_description": "Client key or secret is incorrect.",
            "log_id": "",
        },
    ),
    rate_limited=lambda _seconds: Reply(
        429, {"error": "rate_limit_exceeded", "error_description": "Too many requests"}
    ),
    unknown=lambda _endpoint: Reply(404, {"error": "not_found"}),
)


def routes(sim: Sim) -> list[BaseRoute]:
    """The token route and the research routes (``POST``, trailing slash as TikTok's)."""

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        call = Call(
            endpoint="oauth/token",
            params=form,
            key=form.get("client_secret"),
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, TOKEN_API, call)

    async def research(request: Request) -> Response:
        scheme, _, token_text = request.headers.get("authorization", "").partition(" ")
        valid = scheme.lower() == "bearer" and token_valid(sim, token_text.strip())
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        call = Call(
            endpoint=request.path_params["endpoint"].strip("/"),
            params={"fields": request.query_params.get("fields", ""), "body": body},
            key=sim.config.api_key if valid else None,
            base_url=gateway.request_base_url(request),
        )
        return await gateway.answer(sim, API, call)

    return [
        Route("/v2/oauth/token/", token, methods=["POST"]),
        Route("/v2/research/{endpoint:path}", research, methods=["POST"]),
    ]
