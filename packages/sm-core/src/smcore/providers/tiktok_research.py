"""TikTok's Research API (provider ``research``, optional): ``POST {host}/v2/research/...``.

TikTok grants it to non-profit academic researchers only, so it is used only when listed in
``TIKTOK_PROVIDER_PRIORITY``. Every call carries ``Authorization: Bearer <token>``; the token
comes from ``POST /v2/oauth/token/`` (client credentials), is kept until shortly before its
``expires_in`` and fetched again on a 401. Fields are chosen by a ``fields=`` query parameter;
answers are ``{"data": {…}, "error": {"code": "ok", "message", "log_id"}}``. Ids are bare JSON
integers above 2^53 (Python's parser keeps them exact; they become strings here).

What it serves, and why not the rest:

- ``user_posts``: ``/v2/research/video/query/`` by username, 30-day windows walked back from
  the provider's today (its ``Date`` header); the window, the query's ``cursor`` and
  ``search_id`` travel in the cursor this adapter hands out. The walk stops once it has listed
  as many videos as ``/v2/research/user/info/`` counted at its start, or at the day the account
  was made (a TikTok id's upper 32 bits are its creation time; TikTok's launch when the id does
  not say). An account whose videos the API does not list (a private one) is walked back to that
  day, a request per 30 days: skip private accounts' lists. A ``search_id`` that expired
  mid-listing is ``cursor_expired`` (the sync restarts the listing).
- ``post_comments``: ``/v2/research/video/comment/list/``; replies are listed among the
  comments, each with ``parent_ext_id``, so there is no separate ``comment_replies``.
- Not ``user_info``: its user info carries no id, so a profile's ``ext_id`` could not be filled
  honestly. Not ``followers`` / ``followings``: those entries carry no ids either.

Quotas reset at UTC midnight: ``TIKTOK_RESEARCH_DAILY_REQUESTS`` requests and
``TIKTOK_RESEARCH_DAILY_RECORDS`` records a day. This adapter counts what it spends per UTC day
(of the provider's clock) and refuses before sending once either is spent, as quota_exhausted
with the wait until midnight, which is also what the API's own 429 becomes. The count is this
process's: another process spends from the same quota unseen, and the API's 429 covers that.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import structlog

from smcore.providers import payload
from smcore.providers import tiktok as tt
from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.models import Page
from smcore.providers.payload import answered
from smcore.providers.transport import Answer, Transport, decode_json, retry_after_seconds
from smcore.providers.transport import served_at as date_header

log = structlog.get_logger(__name__)

TOKEN_PATH = "/v2/oauth/token/"  # noqa: S105 - a path, not a password
USER_INFO_PATH = "/v2/research/user/info/"
VIDEO_QUERY_PATH = "/v2/research/video/query/"
COMMENT_LIST_PATH = "/v2/research/video/comment/list/"
USER_FIELDS = (
    "display_name,bio_description,avatar_url,is_verified,follower_count,following_count,"
    "likes_count,video_count"
)
VIDEO_FIELDS = (
    "id,create_time,username,region_code,video_description,like_count,comment_count,"
    "share_count,view_count,favorites_count,video_duration,hashtag_names"
)
COMMENT_FIELDS = "id,video_id,text,like_count,reply_count,parent_comment_id,create_time"
MAX_COUNT = 100  # the most items one request may ask for
WINDOW_DAYS = 30  # a query's start_date and end_date may be at most 30 days apart
EARLIEST = date(2016, 9, 1)  # TikTok's launch: no video is older
TOKEN_MARGIN_S = 300.0  # a token is renewed this long before it expires


def created_on(ext_id: str, today: date) -> date:
    """The day a TikTok account was made, from its id (creation time in the upper 32 bits);
    TikTok's launch when the id does not hold a plausible one (an old musical.ly id)."""
    try:
        day = datetime.fromtimestamp(int(ext_id) >> 32, UTC).date()
    except (ValueError, OverflowError, OSError):
        return EARLIEST
    return day if EARLIEST <= day <= today else EARLIEST


def seconds_until_utc_midnight(now: datetime) -> float:
    """The Research API's quotas reset at midnight UTC."""
    now = now.astimezone(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1.0, (midnight - now).total_seconds())


@dataclass(slots=True)
class Spend:
    """What this process spent of one UTC day's quota."""

    day: date
    requests: int = 0
    records: int = 0
    refused: bool = False  # the API said 429: spent, whatever our count says


@dataclass(frozen=True, slots=True)
class Walk:
    """Where a user's video walk stands; handed out as the opaque cursor of ``user_posts``.

    ``end`` is the last day of the current window (its first: ``end - 29 days``, never before
    ``floor``, the day the account was made); ``cursor`` and ``search_id`` continue the query
    inside it; ``seen`` counts the videos listed so far and ``total`` the videos the user had
    when the walk began.
    """

    end: date
    cursor: int = 0
    search_id: str | None = None
    seen: int = 0
    total: int | None = None
    floor: date = EARLIEST

    @property
    def start(self) -> date:
        return max(self.floor, self.end - timedelta(days=WINDOW_DAYS - 1))

    def next_window(self, seen: int) -> Walk:
        """The window before this one, from its first page."""
        return Walk(self.start - timedelta(days=1), 0, None, seen, self.total, self.floor)

    def encode(self) -> str:
        return json.dumps(
            {
                "end": self.end.strftime("%Y%m%d"),
                "cursor": self.cursor,
                "search_id": self.search_id,
                "seen": self.seen,
                "total": self.total,
                "floor": self.floor.strftime("%Y%m%d"),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, value: str) -> Walk:
        """A cursor this adapter handed out; anything else is refused as cursor_expired."""
        try:
            raw = json.loads(value)
            return cls(
                end=date.fromisoformat(raw["end"]),
                cursor=int(raw["cursor"]),
                search_id=raw["search_id"],
                seen=int(raw["seen"]),
                total=None if raw["total"] is None else int(raw["total"]),
                floor=date.fromisoformat(raw["floor"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ProviderError(
                ErrorKind.CURSOR_EXPIRED, f"not a video walk cursor ({exc}): {value[:80]!r}"
            ) from None


def videos_page(
    envelope: dict[str, Any], walk: Walk, user: tt.TikTokUser | None = None
) -> payload.PageParts:
    """One video query answer within ``walk``: its videos and where the walk goes next.

    Inside the window while the API says ``has_more`` (a page may hold fewer than asked and
    still have more); then the window before it, until the walk has listed ``walk.total``
    videos or reached the day the account was made. A cursor the API repeats ends the window,
    not the walk.
    """
    data = payload.obj(envelope.get("data"), "video_query.data")
    more = tt.flag(data.get("has_more"))
    raws = tt.listed(data, "videos", "videos", more=more)
    items = payload.each(raws, lambda v: tt.parse_research_video(v, user))
    seen = walk.seen + len(raws)
    next_cursor = tt.number(data.get("cursor"), "cursor")
    search_id = payload.opt_text(data.get("search_id"), "search_id")
    if more and next_cursor is not None:
        if (next_cursor, search_id) != (walk.cursor, walk.search_id):
            inside = Walk(walk.end, next_cursor, search_id, seen, walk.total, walk.floor)
            return items, inside.encode(), True
        log.warning("cursor_repeated", provider="research", cursor=next_cursor)
    if walk.start <= walk.floor or (walk.total is not None and seen >= walk.total):
        return items, None, False
    return items, walk.next_window(seen).encode(), True


def comments_page(envelope: dict[str, Any]) -> payload.PageParts:
    """One comment list answer: ``comments[]`` (replies among them), ``cursor``, ``has_more``."""
    data = payload.obj(envelope.get("data"), "comment_list.data")
    more = tt.flag(data.get("has_more"))
    items = payload.each(
        tt.listed(data, "comments", "comments", more=more), tt.parse_research_comment
    )
    next_cursor = tt.number(data.get("cursor"), "cursor")
    end = None if next_cursor is None else str(next_cursor)
    return items, end, more and end is not None


def records(envelope: Any, key: str) -> int:
    """How many records an answer holds (what the daily record quota counts)."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    found = data.get(key) if isinstance(data, dict) else None
    return len(found) if isinstance(found, list) else 0


def _error(body: Any) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")


class ResearchApi:
    """The ``research`` provider."""

    methods: frozenset[tt.TikTokMethod] = frozenset({"user_posts", "post_comments"})

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        client_key: str,
        client_secret: str,
        daily_requests: int,
        daily_records: int,
        name: str = "research",
    ) -> None:
        self.name = name
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.daily_requests = daily_requests
        self.daily_records = daily_records
        self._credentials = {
            "client_key": client_key,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        }
        self._token: str | None = None
        self._token_until = 0.0  # time.monotonic() after which the token is renewed
        self._token_lock = asyncio.Lock()
        self._clock_offset = timedelta()  # the provider's clock minus ours
        self.spent = Spend(day=self.now().date())

    # ------------------------------------------------------------------ clock and quota
    def now(self) -> datetime:
        """The provider's time: ours moved by what its last ``Date`` header said."""
        return datetime.now(UTC) + self._clock_offset

    def _read_clock(self, response: httpx.Response) -> None:
        said = date_header(response)
        if said is not None:
            self._clock_offset = said - datetime.now(UTC)

    def _today(self) -> Spend:
        today = self.now().date()
        if self.spent.day != today:
            self.spent = Spend(day=today)
        return self.spent

    def _check_quota(self, method: str) -> int:
        """Refuse before sending when today's quota is spent; return the records still left."""
        spend = self._today()
        left = self.daily_records - spend.records
        if spend.refused or spend.requests >= self.daily_requests or left <= 0:
            said = "the API said so" if spend.refused else "counted here"
            raise ProviderError(
                ErrorKind.QUOTA_EXHAUSTED,
                f"daily quota spent ({said}): {spend.requests}/{self.daily_requests} requests, "
                f"{spend.records}/{self.daily_records} records; not sent",
                provider=self.name,
                method=method,
                retry_after_s=seconds_until_utc_midnight(self.now()),
            )
        return left

    # ------------------------------------------------------------------ errors
    def classify(self, response: httpx.Response) -> Any:
        """Count the request against today's quota; the body, or the error it means."""
        self._read_clock(response)
        spend = self._today()
        spend.requests += 1  # answered requests cost quota, failed ones (internal_error) too
        status = response.status_code
        if status >= 500 and not response.content.lstrip().startswith(b"{"):
            raise ProviderError(ErrorKind.TRANSIENT, f"HTTP {status}", status=status)
        body = tt.clean_body(response, decode_json(response))
        code, message = _error(body)
        if status < 300 and code in ("ok", ""):
            return payload.obj(body, "body")
        message = message or code or f"HTTP {status}"
        if status == 429 or code == "rate_limit_exceeded":
            asked = retry_after_seconds(response)
            if asked is not None and "quota" not in message.lower():
                raise ProviderError(
                    ErrorKind.RATE_LIMITED, message, status=status, retry_after_s=asked
                )
            # Its documented 429 is the daily quota: nothing more until midnight UTC.
            spend.refused = True
            raise ProviderError(
                ErrorKind.QUOTA_EXHAUSTED,
                message,
                status=status,
                retry_after_s=seconds_until_utc_midnight(self.now()),
            )
        if status == 401 or code == "access_token_invalid":
            raise ProviderError(ErrorKind.AUTH, f"{code}: {message}", status=401)
        if status >= 500 or code == "internal_error":
            raise ProviderError(ErrorKind.TRANSIENT, f"{code}: {message}", status=status)
        if code == "invalid_params" and "search_id" in message:
            raise ProviderError(ErrorKind.CURSOR_EXPIRED, message, status=status)
        if status == 404 or "not exist" in message.lower() or "not found" in message.lower():
            raise ProviderError(ErrorKind.NOT_FOUND, message, status=status)
        if "private" in message.lower():
            raise ProviderError(ErrorKind.PRIVATE, message, status=status)
        if status == 403 or code.startswith(("scope", "access")):
            raise ProviderError(ErrorKind.AUTH, f"{code}: {message}", status=status)
        raise ProviderError(ErrorKind.BAD_PAYLOAD, f"{code}: {message}", status=status)

    def _classify_token(self, response: httpx.Response) -> Any:
        self._read_clock(response)
        status = response.status_code
        if status == 429:
            raise ProviderError(
                ErrorKind.RATE_LIMITED,
                "token endpoint rate limited",
                status=status,
                retry_after_s=retry_after_seconds(response),
            )
        if status >= 500:
            raise ProviderError(ErrorKind.TRANSIENT, f"HTTP {status}", status=status)
        body = payload.obj(decode_json(response), "token")
        if status >= 400 or body.get("error") not in (None, "", "ok") or "access_token" not in body:
            code, message = _error(body)
            reason = message or str(body.get("error_description") or body.get("error") or status)
            raise ProviderError(ErrorKind.AUTH, f"no token: {code or reason}", status=status)
        return body

    # ------------------------------------------------------------------ requests
    async def _bearer(self, method: str) -> str:
        async with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_until:
                return self._token
            request = self.transport.client.build_request(
                "POST", f"{self.base_url}{TOKEN_PATH}", data=self._credentials
            )
            answer = await self.transport.request(method, request, self._classify_token)
            body = answer.payload
            token = payload.text(body.get("access_token"), "token.access_token")
            lifetime = float(tt.number(body.get("expires_in"), "token.expires_in") or 7200)
            self._token = token
            self._token_until = time.monotonic() + max(
                0.0, lifetime - min(TOKEN_MARGIN_S, lifetime / 10)
            )
            return token

    async def _post(self, method: str, path: str, fields: str, body: dict[str, Any]) -> Answer:
        """One request within today's quota; a refused token is renewed once."""
        self._check_quota(method)
        for renewed in (False, True):
            token = await self._bearer(method)
            request = self.transport.client.build_request(
                "POST",
                f"{self.base_url}{path}",
                params={"fields": fields},
                content=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            try:
                return await self.transport.request(method, request, self.classify)
            except ProviderError as exc:
                if renewed or exc.kind is not ErrorKind.AUTH or exc.status != 401:
                    raise
                log.info("token_refused", provider=self.name, reason=exc.message)
                async with self._token_lock:
                    if self._token == token:
                        self._token = None
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _spent_records(self, n: int) -> None:
        self._today().records += n

    def serves(self, method: tt.TikTokMethod, params: Mapping[str, Any]) -> bool:
        return method in self.methods

    async def fetch(
        self, method: tt.TikTokMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        if method == "user_posts":
            return await self._videos(params["user"], int(params["count"]), cursor)
        if method == "post_comments":
            return await self._comments(str(params["post_id"]), cursor)
        raise ValueError(f"the Research API does not serve {method}")  # serves() says so first

    async def _walk_start(self, user: tt.TikTokUser) -> Walk:
        """A new walk: the user's video count now, the first window ending today, the floor
        the day the account was made."""
        answer = await self._post(
            "user_posts", USER_INFO_PATH, USER_FIELDS, {"username": user.username}
        )
        self._spent_records(1)
        data = payload.obj(answer.payload.get("data"), "user_info.data")
        today = self.now().date()
        return Walk(
            end=today,
            total=tt.number(data.get("video_count"), "video_count"),
            floor=created_on(user.ext_id, today),
        )

    async def _videos(self, user: tt.TikTokUser, count: int, cursor: str | None) -> Page[Any]:
        walk = Walk.decode(cursor) if cursor is not None else await self._walk_start(user)
        left = self._check_quota("user_posts")
        body: dict[str, Any] = {
            "query": {
                "and": [
                    {"operation": "EQ", "field_name": "username", "field_values": [user.username]}
                ]
            },
            "start_date": walk.start.strftime("%Y%m%d"),
            "end_date": walk.end.strftime("%Y%m%d"),
            "max_count": max(1, min(MAX_COUNT, count, left)),
        }
        if walk.cursor or walk.search_id is not None:
            body["cursor"] = walk.cursor
        if walk.search_id is not None:
            body["search_id"] = walk.search_id
        answer = await self._post("user_posts", VIDEO_QUERY_PATH, VIDEO_FIELDS, body)
        envelope = answer.payload

        self._spent_records(records(envelope, "videos"))
        return answered(
            self.name,
            "user_posts",
            envelope,
            lambda: videos_page(envelope, walk, user),
            {
                "provider": self.name,
                "endpoint": VIDEO_QUERY_PATH,
                "params": {"fields": VIDEO_FIELDS},
                "body": body,
            },
            served_at=answer.served_at,
        )

    async def _comments(self, post_id: str, cursor: str | None) -> Page[Any]:
        left = self._check_quota("post_comments")
        body: dict[str, Any] = {
            # The API's video_id is an int64: sent as a JSON integer, exact.
            "video_id": int(post_id) if post_id.isdigit() else post_id,
            "max_count": max(1, min(MAX_COUNT, left)),
        }
        if cursor is not None:
            if not cursor.isdigit():
                raise ProviderError(ErrorKind.CURSOR_EXPIRED, f"not a comment cursor: {cursor!r}")
            body["cursor"] = int(cursor)
        answer = await self._post("post_comments", COMMENT_LIST_PATH, COMMENT_FIELDS, body)
        envelope = answer.payload

        self._spent_records(records(envelope, "comments"))
        return answered(
            self.name,
            "post_comments",
            envelope,
            lambda: comments_page(envelope),
            {
                "provider": self.name,
                "endpoint": COMMENT_LIST_PATH,
                "params": {"fields": COMMENT_FIELDS},
                "body": body,
            },
            served_at=answer.served_at,
        )
