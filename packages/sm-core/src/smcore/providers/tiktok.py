"""TikTok: payload parsers shared by its API providers, and the failover facade.

Three providers, tried in ``TIKTOK_PROVIDER_PRIORITY`` order: ``tikapi23`` (RapidAPI
"tiktok-api23": TikTok's own web JSON), ``tikwm`` (RapidAPI "tiktok-scraper7": the TikWM
envelope, snake_case videos and comments) and ``research`` (TikTok's Research API: granted to
academic researchers only, so optional). Their adapters (``tikapi23``, ``tikwm``,
``tiktok_research``) own paths, parameters, envelopes and cursor names; this module reads the
records they carry and holds what two of them share (RapidAPI's rate headers).

The traps every parser here survives (PROVIDERS.md, TikTok): ids above 2^53, kept as exact
strings (the Research API sends them as bare JSON integers, which Python's parser keeps exact);
exact counts as strings in ``statsV2`` beside rounded ints in ``stats`` (the exact ones win); NUL
characters in text (removed: PostgreSQL refuses them); ``hasMore: 1`` for true; follower listings
that stop near 5,000 entries whatever the real count (the real count: :attr:`AccountsPage.total`);
a cursor that repeats (the listing ends instead of looping).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import urlsplit

import httpx
import structlog

from smcore.providers.errors import ErrorKind, ProviderError
from smcore.providers.failover import call_with_failover
from smcore.providers.models import Account, Comment, Media, Page, Post, Profile
from smcore.providers.payload import (
    PageParts,
    answered,
    bad,
    build,
    ext_id,
    obj,
    opt_text,
    text,
    unix_time,
    without_nul,
)
from smcore.providers.transport import Transport, decode_json, retry_after_seconds

log = structlog.get_logger(__name__)

TikTokMethod = Literal[
    "user_info",
    "user_posts",
    "followers",
    "followings",
    "post_comments",
    "comment_replies",
]
METHODS: tuple[TikTokMethod, ...] = (
    "user_info",
    "user_posts",
    "followers",
    "followings",
    "post_comments",
    "comment_replies",
)

PARSER_VERSION = 1
"""The version of TikTok's parsers (this module's, and those of ``tikapi23``, ``tikwm`` and
``tiktok_research``). Bump it in the change that alters what a parser makes of a payload:
rows record the version that normalized them, and ``sm-core reprocess`` rebuilds the older
ones."""


@dataclass(frozen=True, slots=True)
class TikTokUser:
    """Whose listing: built by the caller from the stored profile.

    Each provider asks by the identifier it needs: tikapi23 by ``sec_uid`` (it cannot list a
    user whose sec_uid is unknown), tikwm by ``ext_id``, the Research API by ``username``.
    """

    ext_id: str
    username: str
    sec_uid: str | None = None


@dataclass(slots=True, kw_only=True)
class AccountsPage(Page[Account]):
    """A followers / followings page with ``total``, the listing's real length as the provider
    reported it (None when it did not, or the call failed).

    TikTok stops listing near 5,000 accounts whatever the real count: a listing that ends with
    fewer entries than ``total`` is TikTok's cap, not unfollows.
    """

    total: int | None = None

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        # Page.to_json by name: a slotted dataclass's methods cannot use zero-argument super().
        return {**Page.to_json(self, raw=raw), "total": self.total}


def accounts_page(page: Page[Any], total: int | None) -> AccountsPage:
    """``page`` as an :class:`AccountsPage` reporting ``total``."""
    fields = {f.name: getattr(page, f.name) for f in dataclasses.fields(page) if f.name != "total"}
    return AccountsPage(**fields, total=total)


# --------------------------------------------------------------------------- field readers
def clean(value: Any, what: str) -> str:
    """A required string, without NUL characters."""
    return text(value, what).replace("\x00", "")


def opt_clean(value: Any, what: str) -> str | None:
    """An optional string without NUL characters (empty ones become None)."""
    found = opt_text(value, what)
    if found is None:
        return None
    return found.replace("\x00", "") or None


def flag(value: Any) -> bool:
    """A boolean as TikTok's providers drift on it: ``true``, ``1``, ``"1"``, ``"true"``."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def number(value: Any, what: str) -> int | None:
    """An exact count: an int, or a string of digits (``statsV2``); never through a float."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise bad(f"{what}: {value!r} is not a whole number")


def exact(key: str, *sources: Any) -> int | None:
    """``key`` from the first source that has it: pass ``statsV2`` (exact) before ``stats``."""
    for source in sources:
        if isinstance(source, dict) and source.get(key) not in (None, ""):
            return number(source[key], key)
    return None


def opt_id(value: Any, what: str) -> str | None:
    """An id that may be absent (``0`` / ``"0"`` mean none in TikTok's payloads)."""
    if value in (None, "", 0, "0"):
        return None
    return ext_id(value, what)


def _seconds(value: Any, what: str) -> float | None:
    if value in (None, "") or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise bad(f"{what}: {value!r} is not a duration") from None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def listed(body: Mapping[str, Any], key: str, what: str, *, more: bool) -> list[dict[str, Any]]:
    """A page's item list: absent or null only on a last page (TikTok's way of saying none)."""
    value = body.get(key)
    if value is None and not more:
        return []
    if not isinstance(value, list):
        raise bad(f"{what}: '{key}' is missing or not a list")
    return [obj(v, f"{what}.{key}[]") for v in value]


# --------------------------------------------------------------------------- users
def parse_user_info(info: dict[str, Any]) -> Profile:
    """A profile from ``{"user", "stats", "statsV2"?}``: tikapi23's ``userInfo``, tikwm's
    ``data``. Counts come from ``statsV2`` (exact strings) when present, else ``stats``."""
    user = obj(info.get("user"), "userInfo.user")
    stats, v2 = info.get("stats"), info.get("statsV2")
    likes = exact("heartCount", v2, stats)
    return build(
        Profile,
        "user",
        ext_id=ext_id(user.get("id"), "user"),
        username=clean(user.get("uniqueId"), "user.uniqueId"),
        full_name=opt_clean(user.get("nickname"), "user.nickname") or "",
        biography=opt_clean(user.get("signature"), "user.signature") or "",
        avatar_url=opt_text(
            user.get("avatarLarger") or user.get("avatarMedium") or user.get("avatarThumb"),
            "user.avatarLarger",
        ),
        is_private=flag(user.get("privateAccount")),
        is_verified=flag(user.get("verified")),
        followers_count=exact("followerCount", v2, stats),
        follows_count=exact("followingCount", v2, stats),
        posts_count=exact("videoCount", v2, stats),
        likes_total=likes if likes is not None else exact("heart", v2, stats),
        sec_uid=opt_text(user.get("secUid"), "user.secUid"),
        raw=info,
    )


def parse_web_account(entry: dict[str, Any]) -> Account:
    """A follower / followed account of TikTok's web JSON: ``{"user", "stats", "statsV2"}``."""
    user = obj(entry.get("user"), "userList[].user")
    return build(
        Account,
        "user",
        ext_id=ext_id(user.get("id"), "user"),
        username=clean(user.get("uniqueId"), "user.uniqueId"),
        full_name=opt_clean(user.get("nickname"), "user.nickname") or "",
        avatar_url=opt_text(
            user.get("avatarLarger") or user.get("avatarMedium") or user.get("avatarThumb"),
            "user.avatarLarger",
        ),
        is_private=flag(user.get("privateAccount")),
        is_verified=flag(user.get("verified")),
        raw=entry,
    )


def parse_tikwm_account(raw: dict[str, Any]) -> Account:
    """A follower / followed account of TikWM: flat, snake_case (``unique_id``, ``avatar``)."""
    return build(
        Account,
        "user",
        ext_id=ext_id(raw.get("id"), "user"),
        username=clean(raw.get("unique_id"), "user.unique_id"),
        full_name=opt_clean(raw.get("nickname"), "user.nickname") or "",
        avatar_url=opt_text(raw.get("avatar"), "user.avatar"),
        is_verified=flag(raw.get("verified")),
        raw=raw,
    )


# --------------------------------------------------------------------------- videos
def _video_media(
    video_id: str, cover: Any, video_url: Any, width: Any = None, height: Any = None
) -> list[Media]:
    return [
        build(
            Media,
            "video",
            ext_id=video_id,
            media_type="video",
            url=opt_text(cover, "video.cover"),
            video_url=opt_text(video_url, "video.playAddr"),
            width=number(width, "video.width"),
            height=number(height, "video.height"),
        )
    ]


def parse_web_item(raw: dict[str, Any]) -> Post:
    """A video of TikTok's web JSON (``itemList[]``): exact ``statsV2`` counts over ``stats``."""
    video_id = ext_id(raw.get("id"), "item")
    stats, v2 = raw.get("stats"), raw.get("statsV2")
    video = _dict(raw.get("video"))
    author = _dict(raw.get("author"))
    return build(
        Post,
        "item",
        ext_id=video_id,
        taken_at=unix_time(raw.get("createTime"), "item.createTime"),
        kind="video",
        product_type="video",
        caption=opt_clean(raw.get("desc"), "item.desc"),
        play_count=exact("playCount", v2, stats),
        like_count=exact("diggCount", v2, stats),
        comment_count=exact("commentCount", v2, stats),
        share_count=exact("shareCount", v2, stats),
        save_count=exact("collectCount", v2, stats),
        duration_s=_seconds(video.get("duration"), "item.video.duration"),
        owner_ext_id=opt_id(author.get("id"), "item.author"),
        pinned=flag(raw.get("isPinnedItem")),
        media=_video_media(
            video_id,
            video.get("cover") or video.get("originCover"),
            video.get("playAddr"),
            video.get("width"),
            video.get("height"),
        ),
        raw=raw,
    )


def parse_tikwm_video(raw: dict[str, Any]) -> Post:
    """A video of TikWM (``videos[]``): flat, exact int counts, ``is_top`` for pinned."""
    video_id = ext_id(raw.get("video_id") or raw.get("aweme_id"), "video")
    author = _dict(raw.get("author"))
    return build(
        Post,
        "video",
        ext_id=video_id,
        taken_at=unix_time(raw.get("create_time"), "video.create_time"),
        kind="video",
        product_type="video",
        caption=opt_clean(raw.get("title"), "video.title"),
        play_count=number(raw.get("play_count"), "video.play_count"),
        like_count=number(raw.get("digg_count"), "video.digg_count"),
        comment_count=number(raw.get("comment_count"), "video.comment_count"),
        share_count=number(raw.get("share_count"), "video.share_count"),
        save_count=number(raw.get("collect_count"), "video.collect_count"),
        duration_s=_seconds(raw.get("duration"), "video.duration"),
        owner_ext_id=opt_id(author.get("id"), "video.author"),
        pinned=flag(raw.get("is_top")),
        media=_video_media(video_id, raw.get("cover") or raw.get("origin_cover"), raw.get("play")),
        raw=raw,
    )


def parse_research_video(raw: dict[str, Any], owner: TikTokUser | None = None) -> Post:
    """A video of the Research API's video query. Fields may be missing (None then).

    It names its creator by ``username`` only: ``owner_ext_id`` is filled from ``owner`` (the
    user whose videos were asked for) when the username is that user's, else left None.
    """
    video_id = ext_id(raw.get("id"), "video")
    username = opt_clean(raw.get("username"), "video.username")
    return build(
        Post,
        "video",
        ext_id=video_id,
        taken_at=unix_time(raw.get("create_time"), "video.create_time"),
        kind="video",
        product_type="video",
        caption=opt_clean(raw.get("video_description"), "video.video_description"),
        play_count=number(raw.get("view_count"), "video.view_count"),
        like_count=number(raw.get("like_count"), "video.like_count"),
        comment_count=number(raw.get("comment_count"), "video.comment_count"),
        share_count=number(raw.get("share_count"), "video.share_count"),
        save_count=number(raw.get("favorites_count"), "video.favorites_count"),
        duration_s=_seconds(raw.get("video_duration"), "video.video_duration"),
        owner_ext_id=owner.ext_id if owner is not None and username == owner.username else None,
        media=_video_media(video_id, None, None),
        raw=raw,
    )


# --------------------------------------------------------------------------- comments
def parse_web_comment(raw: dict[str, Any], post_ext_id: str, parent: str | None = None) -> Comment:
    """A comment of TikTok's web JSON (snake_case ``cid``, ``aweme_id``); a reply names its
    parent in ``reply_id`` (``"0"`` on a top-level comment), else ``parent`` is used."""
    user = _dict(raw.get("user"))
    thumbs = _dict(user.get("avatar_thumb")).get("url_list") or []
    return build(
        Comment,
        "comment",
        ext_id=ext_id(raw.get("cid"), "comment"),
        post_ext_id=opt_id(raw.get("aweme_id"), "comment.aweme_id") or post_ext_id,
        text=opt_clean(raw.get("text"), "comment.text") or "",
        created_at=unix_time(raw.get("create_time"), "comment.create_time"),
        like_count=number(raw.get("digg_count"), "comment.digg_count"),
        reply_count=number(raw.get("reply_comment_total"), "comment.reply_comment_total"),
        author_ext_id=opt_id(user.get("uid"), "comment.user.uid"),
        author_username=opt_clean(user.get("unique_id"), "comment.user.unique_id"),
        author_name=opt_clean(user.get("nickname"), "comment.user.nickname"),
        author_avatar_url=opt_text(thumbs[0], "comment.user.avatar_thumb")
        if isinstance(thumbs, list) and thumbs
        else None,
        parent_ext_id=opt_id(raw.get("reply_id"), "comment.reply_id") or parent,
        raw=raw,
    )


def parse_tikwm_comment(
    raw: dict[str, Any], post_ext_id: str, parent: str | None = None
) -> Comment:
    """A comment of TikWM (``id``, ``reply_total``, ``user{id, unique_id, nickname, avatar}``)."""
    user = _dict(raw.get("user"))
    return build(
        Comment,
        "comment",
        ext_id=ext_id(raw.get("id"), "comment"),
        post_ext_id=opt_id(raw.get("video_id"), "comment.video_id") or post_ext_id,
        text=opt_clean(raw.get("text"), "comment.text") or "",
        created_at=unix_time(raw.get("create_time"), "comment.create_time"),
        like_count=number(raw.get("digg_count"), "comment.digg_count"),
        reply_count=number(raw.get("reply_total"), "comment.reply_total"),
        author_ext_id=opt_id(user.get("id"), "comment.user.id"),
        author_username=opt_clean(user.get("unique_id"), "comment.user.unique_id"),
        author_name=opt_clean(user.get("nickname"), "comment.user.nickname"),
        author_avatar_url=opt_text(user.get("avatar"), "comment.user.avatar"),
        parent_ext_id=opt_id(raw.get("reply_id"), "comment.reply_id") or parent,
        raw=raw,
    )


def parse_research_comment(raw: dict[str, Any]) -> Comment:
    """A comment of the Research API: replies are listed with the comments, and
    ``parent_comment_id`` is the video's id for a top-level comment, the parent's for a reply.
    It names no author."""
    video_id = ext_id(raw.get("video_id"), "comment.video_id")
    parent = opt_id(raw.get("parent_comment_id"), "comment.parent_comment_id")
    return build(
        Comment,
        "comment",
        ext_id=ext_id(raw.get("id"), "comment"),
        post_ext_id=video_id,
        text=opt_clean(raw.get("text"), "comment.text") or "",
        created_at=unix_time(raw.get("create_time"), "comment.create_time"),
        like_count=number(raw.get("like_count"), "comment.like_count"),
        reply_count=number(raw.get("reply_count"), "comment.reply_count"),
        parent_ext_id=None if parent == video_id else parent,
        raw=raw,
    )


# --------------------------------------------------------------------------- RapidAPI
def clean_body(response: httpx.Response, body: Any) -> Any:
    """The decoded body without NUL characters (text and raw payloads alike reach PostgreSQL).

    JSON can only carry NUL escaped, so a body without ``\\u0000`` is returned untouched.
    """
    return without_nul(body) if b"\\u0000" in response.content else body


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RapidLimits:
    """RapidAPI's rate headers on one response: the plan's quota (``x-ratelimit-requests-*``)
    and the short window (``x-ratelimit-*``); resets in seconds; None where a header is absent."""

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset_s: int | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_s: int | None = None

    @classmethod
    def of(cls, response: httpx.Response) -> RapidLimits:
        return cls(
            requests_limit=_header_int(response, "x-ratelimit-requests-limit"),
            requests_remaining=_header_int(response, "x-ratelimit-requests-remaining"),
            requests_reset_s=_header_int(response, "x-ratelimit-requests-reset"),
            limit=_header_int(response, "x-ratelimit-limit"),
            remaining=_header_int(response, "x-ratelimit-remaining"),
            reset_s=_header_int(response, "x-ratelimit-reset"),
        )

    @property
    def plan_spent(self) -> bool:
        return self.requests_remaining is not None and self.requests_remaining <= 0

    @property
    def window_spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def describe(self) -> str:
        """``plan 0/1000 left (reset in 3600 s); window 3/60 left (reset in 12 s)``, or ``""``."""
        parts = []
        if self.requests_remaining is not None:
            parts.append(
                f"plan {self.requests_remaining}/{self.requests_limit} left"
                f" (reset in {self.requests_reset_s} s)"
            )
        if self.remaining is not None:
            parts.append(f"window {self.remaining}/{self.limit} left (reset in {self.reset_s} s)")
        return "; ".join(parts)


class RapidApiPace:
    """Paces one RapidAPI provider by its rate headers, before its 429s.

    After an answer that says a window or the plan is spent, the next call waits for the reset
    when it is near (``max_wait_s``), else fails at once (the window: rate_limited; the plan:
    quota_exhausted) with the wait as ``retry_after_s``, without spending a request. Per process:
    the shared limiter (``*_RATE_LIMIT_RPS``) is what paces all workers together.
    """

    def __init__(self, provider: str, *, max_wait_s: float = 30.0) -> None:
        self.provider = provider
        self.max_wait_s = max_wait_s
        self.last: RapidLimits = RapidLimits()
        self._hold_until = 0.0
        self._hold_kind = ErrorKind.RATE_LIMITED

    def note(self, response: httpx.Response) -> RapidLimits:
        """Read one response's headers; remember a spent window or plan."""
        limits = RapidLimits.of(response)
        self.last = limits
        now = time.monotonic()
        if limits.plan_spent:
            self._hold_until = now + float(limits.requests_reset_s or 60)
            self._hold_kind = ErrorKind.QUOTA_EXHAUSTED
        elif limits.window_spent:
            self._hold_until = now + float(limits.reset_s or 1)
            self._hold_kind = ErrorKind.RATE_LIMITED
        if limits.plan_spent or limits.window_spent:
            log.info("provider_limit_spent", provider=self.provider, limits=limits.describe())
        return limits

    async def wait(self, method: str) -> None:
        """Before a request: sit out a near reset; refuse when the reset is far."""
        wait = self._hold_until - time.monotonic()
        if wait <= 0:
            return
        if wait > self.max_wait_s:
            spent = "plan" if self._hold_kind is ErrorKind.QUOTA_EXHAUSTED else "window"
            raise ProviderError(
                self._hold_kind,
                f"RapidAPI said the {spent} is spent ({self.last.describe()}); not sent",
                provider=self.provider,
                method=method,
                retry_after_s=wait,
            )
        await asyncio.sleep(wait)

    def http_error(self, response: httpx.Response) -> ProviderError | None:
        """Read the response's rate headers, then RapidAPI's HTTP-level failure if it is one
        (its gateway answers those, not the API behind it)."""
        limits = self.note(response)
        status = response.status_code
        if status < 300:
            return None
        message = _message(response)
        if status == 429:
            quota = "quota" in message.lower() or limits.plan_spent
            reset = limits.requests_reset_s if quota else limits.reset_s
            asked = retry_after_seconds(response)
            return ProviderError(
                ErrorKind.QUOTA_EXHAUSTED if quota else ErrorKind.RATE_LIMITED,
                "; ".join(m for m in (message or "rate limited", limits.describe()) if m),
                status=status,
                retry_after_s=asked if asked is not None or reset is None else float(reset),
            )
        if status in (401, 403):
            return ProviderError(ErrorKind.AUTH, message or "key refused", status=status)
        if status >= 500 or status == 408:
            return ProviderError(ErrorKind.TRANSIENT, f"HTTP {status}", status=status)
        if status == 400 and "cursor" in message.lower():
            return ProviderError(ErrorKind.CURSOR_EXPIRED, message, status=status)
        # A 404 included: these APIs say "no such user" inside a 200, so a 404 is a path that
        # is not there (a changed API), not a final answer about the account.
        return ProviderError(ErrorKind.BAD_PAYLOAD, f"HTTP {status}: {message}", status=status)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("msg") or body.get("detail") or body)[:200]
    return str(body)[:200]


# --------------------------------------------------------------------------- RapidAPI hosts
@dataclass(frozen=True)
class Endpoint:
    """One method on a RapidAPI TikTok host: its path, query, cursor parameter and parser."""

    path: str
    query: Callable[[Mapping[str, Any]], dict[str, Any]]
    cursor_param: str | None
    parse: Callable[[dict[str, Any], Mapping[str, Any]], PageParts]


class RapidTikTokApi:
    """A RapidAPI TikTok host (``tikapi23``, ``tikwm``): ``GET {host}<path>`` with the
    ``x-rapidapi-*`` headers, paced by its rate headers. A subclass gives its ``endpoints``,
    how its body becomes the answer or an error (``unwrap``) and a listing's ``total``."""

    endpoints: ClassVar[Mapping[TikTokMethod, Endpoint]]
    methods: frozenset[TikTokMethod]

    def __init__(self, transport: Transport, *, base_url: str, api_key: str, name: str) -> None:
        self.name = name
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.pace = RapidApiPace(name)
        self._headers = {
            "x-rapidapi-key": api_key,
            "x-rapidapi-host": urlsplit(self.base_url).netloc,
        }

    def unwrap(self, body: dict[str, Any]) -> Any:
        """The answer inside a decoded body, or a ProviderError of the right kind."""
        raise NotImplementedError

    def total(self, body: Any) -> int | None:
        """A follower listing's real length, as the host reports it."""
        raise NotImplementedError

    def serves(self, method: TikTokMethod, params: Mapping[str, Any]) -> bool:
        return True

    def classify(self, response: httpx.Response) -> Any:
        error = self.pace.http_error(response)
        if error is not None:
            raise error
        return self.unwrap(obj(clean_body(response, decode_json(response)), "body"))

    async def fetch(
        self, method: TikTokMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        endpoint = self.endpoints[method]
        query = endpoint.query(params)
        if cursor is not None and endpoint.cursor_param is not None:
            query[endpoint.cursor_param] = cursor
        await self.pace.wait(method)
        request = self.transport.client.build_request(
            "GET", f"{self.base_url}{endpoint.path}", params=query, headers=self._headers
        )
        answer = await self.transport.request(method, request, self.classify)
        body = answer.payload
        page = answered(
            self.name,
            method,
            body,
            lambda: endpoint.parse(body, params),
            {"provider": self.name, "endpoint": endpoint.path, "params": query},
            served_at=answer.served_at,
        )
        if method in ("followers", "followings"):
            return accounts_page(page, self.total(body))
        return page


# --------------------------------------------------------------------------- the facade
class TikTokApi(Protocol):
    """One TikTok API provider (``tikapi23``, ``tikwm``, ``research``)."""

    name: str
    methods: frozenset[TikTokMethod]  # what it can serve at all

    def serves(self, method: TikTokMethod, params: Mapping[str, Any]) -> bool:
        """Whether it can serve this call with these identifiers (a sec_uid, a user id …)."""

    async def fetch(
        self, method: TikTokMethod, params: Mapping[str, Any], cursor: str | None
    ) -> Page[Any]:
        """One request (the Research API: a few); raises ProviderError on failure."""


class TikTok:
    """The facade for TikTok: Instagram's contract, failover by priority per method.

    A cursor goes back only to the provider that issued it; a provider that hands back the
    cursor it was sent ends the listing (``call_with_failover``) rather than loop.
    """

    def __init__(self, apis: Sequence[TikTokApi], available: Mapping[str, frozenset[str]]) -> None:
        """
        Args:
            apis: providers in priority order.
            available: per provider name, the methods it may be used for (default: all it has).
        """
        self.apis = list(apis)
        self.available = dict(available)

    def providers_for(self, method: TikTokMethod, params: Mapping[str, Any]) -> list[TikTokApi]:
        return [
            a
            for a in self.apis
            if method in a.methods
            and method in self.available.get(a.name, frozenset(METHODS))
            and a.serves(method, params)
        ]

    async def _call(
        self,
        method: TikTokMethod,
        params: dict[str, Any],
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Any]:
        return await call_with_failover(
            self.providers_for(method, params),
            lambda api: api.fetch(method, params, end_cursor),
            cursor=end_cursor,
            last_provider_name=last_provider_name,
            method=method,
        )

    async def user_info(
        self, *, username: str | None = None, user_id: str | None = None
    ) -> Page[Profile]:
        """One account by ``username`` or ``user_id`` (exactly one of them); a provider that
        cannot look up by id is skipped for ``user_id``."""
        if (username is None) == (user_id is None):
            raise ValueError("user_info takes a username or a user_id")
        params = {"username": username} if username is not None else {"user_id": str(user_id)}
        return await self._call("user_info", params)

    async def user_posts(
        self,
        *,
        user: TikTokUser,
        count: int = 35,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Post]:
        """The user's videos, newest first (pinned ones first on tikapi23's first page)."""
        return await self._call(
            "user_posts", {"user": user, "count": count}, end_cursor, last_provider_name
        )

    async def followers(
        self,
        *,
        user: TikTokUser,
        count: int = 200,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> AccountsPage:
        """Accounts following ``user``, newest first; ``total`` is the real count (the listing
        stops near 5,000). ``count``: per page, each provider capped at its own maximum."""
        page = await self._call(
            "followers", {"user": user, "count": count}, end_cursor, last_provider_name
        )
        return page if isinstance(page, AccountsPage) else accounts_page(page, None)

    async def followings(
        self,
        *,
        user: TikTokUser,
        count: int = 200,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> AccountsPage:
        """Accounts ``user`` follows; as :meth:`followers`."""
        page = await self._call(
            "followings", {"user": user, "count": count}, end_cursor, last_provider_name
        )
        return page if isinstance(page, AccountsPage) else accounts_page(page, None)

    async def post_comments(
        self, *, post_id: str, end_cursor: str | None = None, last_provider_name: str | None = None
    ) -> Page[Comment]:
        """A video's comments (the Research API lists their replies among them, each with
        ``parent_ext_id``; the others list top-level comments only)."""
        return await self._call(
            "post_comments", {"post_id": str(post_id)}, end_cursor, last_provider_name
        )

    async def comment_replies(
        self,
        *,
        post_id: str,
        comment_id: str,
        end_cursor: str | None = None,
        last_provider_name: str | None = None,
    ) -> Page[Comment]:
        """The replies to one comment of a video, each with ``parent_ext_id``."""
        return await self._call(
            "comment_replies",
            {"post_id": str(post_id), "comment_id": str(comment_id)},
            end_cursor,
            last_provider_name,
        )
