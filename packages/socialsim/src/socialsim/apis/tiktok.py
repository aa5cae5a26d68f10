"""TikTok's lookups, cursors and counters, shared by the tikapi23, tikwm and Research API
simulations (``apis/tikapi23.py``, ``apis/tikwm.py``, ``apis/tiktok_research.py``).

Each provider pages differently, and the cursors say so: a creator's videos by a millisecond
timestamp (the last video's ``create_ms``), follow lists by a follow time in epoch seconds,
comments and replies by an offset. A value that cannot be that listing's cursor (a follow time
sent to the posts listing, a millisecond timestamp or an offset sent to a follow list, an offset
past the end) is refused (:class:`TikTokError` ``bad_cursor``).

A private creator's profile is readable; its lists are served empty (``has_more`` false), as
TikTok serves them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

from socialsim.sim import Sim
from socialsim.world import randomness as rnd
from socialsim.world.tiktok import (
    TIKTOK_LAUNCH,
    Account,
    AccountStats,
    Comment,
    Creator,
    FollowPage,
    Video,
)

ErrorKind = Literal["not_found", "bad_cursor", "bad_request"]
FollowStream = Literal["followers", "following"]
_LOG = 110  # TikTok labels are 1xx (see socialsim.world.tiktok)


class TikTokError(Exception):
    """What the providers refuse: an unknown user, video or comment, a bad cursor, a request
    without what it needs.

    Attributes:
        kind: which refusal.
        message: the provider's words for it.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message


# ---------------------------------------------------------------------- lookups


def creator_by_username(sim: Sim, username: object) -> Creator:
    """The creator named ``username``.

    Raises:
        TikTokError: ``not_found``.
    """
    creator = sim.world.tiktok.find_username(str(username)) if username else None
    if creator is None:
        raise TikTokError("not_found", "User does not exist")
    return creator


def creator_by_user_id(sim: Sim, user_id: object) -> Creator:
    """The creator whose user id is ``user_id`` (a string or an integer).

    Raises:
        TikTokError: ``not_found``.
    """
    creator = sim.world.tiktok.find_user_id(str(user_id)) if user_id else None
    if creator is None:
        raise TikTokError("not_found", "User does not exist")
    return creator


def creator_by_sec_uid(sim: Sim, sec_uid: object) -> Creator:
    """The creator whose secUid is ``sec_uid``.

    Raises:
        TikTokError: ``not_found``.
    """
    creator = sim.world.tiktok.find_sec_uid(str(sec_uid)) if sec_uid else None
    if creator is None:
        raise TikTokError("not_found", "User does not exist")
    return creator


def video_by_id(sim: Sim, video_id: object) -> tuple[Creator, Video]:
    """The creator and video of a video id (digits, or a ``…/video/<id>`` URL).

    Raises:
        TikTokError: ``not_found``.
    """
    text = str(video_id or "").strip().split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    found = sim.world.tiktok.find_video(text)
    if found is None:
        raise TikTokError("not_found", "Video does not exist")
    return found


def comment_by_id(sim: Sim, comment_id: object) -> tuple[Creator, Video, Comment]:
    """The creator, video and comment of a top-level comment id.

    Raises:
        TikTokError: ``not_found``.
    """
    found = sim.world.tiktok.find_comment(str(comment_id or "").strip())
    if found is None:
        raise TikTokError("not_found", "Comment does not exist")
    return found


# ---------------------------------------------------------------------- cursors


def _integer(value: object) -> int | None:
    text = str(value).strip() if value is not None else ""
    if text in {"", "0"}:
        return None
    if not text.isdigit():
        raise TikTokError("bad_cursor", "Invalid cursor")
    return int(text)


def posts_cursor(sim: Sim, value: object) -> int | None:
    """The millisecond timestamp a posts cursor holds (None: the first page).

    Raises:
        TikTokError: ``bad_cursor`` for anything but a millisecond time since TikTok began.
    """
    ms = _integer(value)
    if ms is not None and not TIKTOK_LAUNCH * 1000 <= ms <= (sim.world.now + 1) * 1000:
        raise TikTokError("bad_cursor", "Invalid cursor")
    return ms


def follow_cursor(sim: Sim, value: object) -> int | None:
    """The follow time (epoch seconds) a follow-list cursor holds (None: the first page).

    Raises:
        TikTokError: ``bad_cursor`` for anything but a time since TikTok began.
    """
    seconds = _integer(value)
    if seconds is not None and not TIKTOK_LAUNCH <= seconds <= sim.world.now + 1:
        raise TikTokError("bad_cursor", "Invalid cursor")
    return seconds


def offset_cursor(value: object, total: int) -> int:
    """The offset a comment or reply cursor holds (0: the first page).

    Raises:
        TikTokError: ``bad_cursor`` for anything but an offset within the listing.
    """
    offset = _integer(value) or 0
    if offset > total:
        raise TikTokError("bad_cursor", "Invalid cursor")
    return offset


def page_size(value: object, default: int, limit: int) -> int:
    """A ``count`` parameter clamped to ``[1, limit]`` (providers clamp rather than refuse)."""
    text = str(value).strip() if value is not None else ""
    if not text.isdigit():
        return default
    return max(1, min(limit, int(text)))


# ---------------------------------------------------------------------- pages


def follow_page(
    sim: Sim, creator: Creator, stream: FollowStream, before: int | None, count: int
) -> FollowPage:
    """A page of a creator's followers or followings (empty for a private creator)."""
    if creator.account.is_private:
        return FollowPage([], 0, False)
    state = sim.world.tiktok.state(creator)
    follow_list = state.followers if stream == "followers" else state.following
    return follow_list.page(before, count)


def follow_total(sim: Sim, creator: Creator, stream: FollowStream) -> int:
    """The real length of a follow list (what ``total`` says, whatever the cap)."""
    state = sim.world.tiktok.state(creator)
    return (state.followers if stream == "followers" else state.following).alive_count


@dataclass(frozen=True, slots=True)
class VideoCounts:
    """A video's counters now, exact."""

    plays: int
    likes: int
    comments: int
    shares: int
    collects: int


def counts(sim: Sim, video: Video) -> VideoCounts:
    """A video's counters at the simulated clock."""
    tt = sim.world.tiktok
    return VideoCounts(
        plays=tt.plays(video),
        likes=tt.likes(video),
        comments=tt.comment_count(video),
        shares=tt.shares(video),
        collects=tt.collects(video),
    )


# ---------------------------------------------------------------------- rendering helpers


def rounded(count: int) -> int:
    """A count as TikTok's web pages show it: exact below 10,000, then to a tenth of a
    thousand, million or billion (427682 → 427700, 6764096 → 6800000)."""
    if count < 10_000:
        return count
    unit = 100 if count < 1_000_000 else 100_000 if count < 1_000_000_000 else 100_000_000
    return (count + unit // 2) // unit * unit


def user_stats(stats: AccountStats) -> tuple[dict[str, int], dict[str, str]]:
    """An account's ``stats`` (rounded integers) and ``statsV2`` (exact, as strings)."""
    exact = {
        "diggCount": stats.diggs,
        "followerCount": stats.followers,
        "followingCount": stats.following,
        "friendCount": stats.friends,
        "heart": stats.hearts,
        "heartCount": stats.hearts,
        "videoCount": stats.videos,
    }
    return (
        {key: rounded(value) for key, value in exact.items()},
        {key: str(value) for key, value in exact.items()},
    )


def avatar(account: Account, size: int) -> str:
    """An avatar URL of the account at ``size`` pixels."""
    return (
        f"https://p16-sign.tiktokcdn-us.com/tos-useast5-avt-0068-tx/{account.user_id}"
        f"~tplv-tiktokx-cropcenter:{size}:{size}.jpeg"
    )


def video_url(creator: Creator, video: Video) -> str:
    """The public page of a video."""
    return f"https://www.tiktok.com/@{creator.account.username}/video/{video.video_id}"


def log_id(sim: Sim, *parts: object) -> str:
    """A TikTok log id for a response: the simulated time and 20 hex digits from a hash of
    the request (the same request at the same time gets the same id)."""
    stamp = dt.datetime.fromtimestamp(sim.world.now, dt.UTC).strftime("%Y%m%d%H%M%S")
    h = rnd.mix(sim.config.world.seed, _LOG, *(hash_text(str(part)) for part in parts))
    return f"{stamp}{h:016X}{h >> 48:04X}"


def hash_text(text: str) -> int:
    """A stable 64-bit hash of a string (``hash()`` changes with ``PYTHONHASHSEED``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
