"""TikTok: creators, a pool of accounts, timed follow lists, videos, comments and their replies.

Creators are accounts ``0 … N-1`` (``tt_user_0001`` is account 0) and the big ``tt_giant``
(account N); every other account of the pool (``N+1 …``) exists only as a function of its index,
so follow lists store small integers and nothing else. A creator's follow lists and videos are
generated on first use and then brought up to the clock by replaying its steps, each from a
generator derived from (seed, creator, step): the result does not depend on the order in which
clients touch the creators.

Ids are TikTok's: a video's, comment's or reply's id is its creation time (unix seconds) shifted
left 32 bits plus 32 low bits, a user id likewise from the account's sign-up time; all are
19-digit numbers above 2**53. The low bits of a video id encode its creator and position, those
of a comment id its video and number (each XOR a mask drawn from the seed), so an id alone finds
its object whatever was generated before. Hence the limits: at most :data:`MAX_CREATORS`
creators, :data:`MAX_VIDEOS` videos each (later ones are not posted) and :data:`MAX_COMMENTS`
top-level comments a video.

Follow lists only grow at their end and each entry has its own follow time, strictly increasing
along the list (an unfollow marks the entry dead): TikTok pages them by time, newest first, and
stops after :data:`LIST_CAP` entries whatever the real count (:meth:`FollowList.page`).

Top-level comment ``k`` of a video arrives along :func:`~socialsim.world.randomness.arrival`;
its replies follow it one every ``reply_gap`` seconds, so reply counts (and the video's comment
count, replies included) grow with the clock.

Some texts hold a NUL character (``\\u0000``), as TikTok's do: nicknames, descriptions, comment
texts.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import random
from dataclasses import dataclass, field
from itertools import accumulate

from socialsim import media
from socialsim.world import captions, popularity, words
from socialsim.world import randomness as rnd
from socialsim.world.clock import SIM_START, Clock, Step

TIKTOK_LAUNCH = 1472688000
"""2016-09-01: the earliest sign-up, video or follow time."""

MAX_CREATORS = 1023
"""Creators (the giant included) whose video ids fit :func:`video_id`'s 10 bits."""
MAX_VIDEOS = 2047
MAX_COMMENTS = 2000
MAX_REPLIES = 20
MAX_REPLY_GAP = 6 * 3600
LIST_CAP = 5000
"""Entries a follower or following listing shows at most, whatever the real count."""
GIANT_FOLLOWERS = 12_000
GIANT_VIDEOS = 60
PINNING_MIN_VIDEOS = 6
NEVER_PINNED_NEWEST = 5
REGIONS = ("US", "GB", "DE", "FR", "BR", "IN", "ID", "IQ", "MX", "TR")
NUL = "\u0000"

# Labels for :func:`~socialsim.world.randomness.mix`: TikTok owns 100-199 (the APIs use 110-119),
# clear of the Instagram and YouTube ones.
_USER = 101
_NAME = 102
_MASK = 104
_COMMENT = 105
_REPLY = 106
_VIDEO_MS = 107


@dataclass(frozen=True, slots=True)
class Account:
    """Any TikTok account, as profiles, follow lists and comments show it."""

    index: int
    user_id: str
    username: str
    sec_uid: str
    nickname: str
    signature: str
    is_private: bool
    is_verified: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class AccountStats:
    """An account's counters: followers, followings, likes received, videos, likes given,
    mutual follows."""

    followers: int
    following: int
    hearts: int
    videos: int
    diggs: int
    friends: int


@dataclass(frozen=True, slots=True)
class Creator:
    """A monitored account: its own page, videos and lists."""

    account: Account
    followers_target: int
    following_target: int
    videos_target: int
    videos_per_day: float
    diggs: int
    is_giant: bool = False

    @property
    def index(self) -> int:
        """The creator's account index."""
        return self.account.index


@dataclass(frozen=True, slots=True)
class Video:
    """One video; its counts grow towards final values over time."""

    video_id: str
    owner: int
    position: int
    create_time: int
    create_ms: int
    """``create_time`` in milliseconds (plus a sub-second part): the posts listing's cursor."""
    desc: str
    hashtags: tuple[str, ...]
    language: str
    """The description's language (ISO 639-1)."""
    mentions: tuple[str, ...]
    """Usernames of the creators the description mentions (``@`` left out), in order."""
    duration: int
    region: str
    music_id: str
    plays_final: int
    like_ratio: float
    share_ratio: float
    collect_ratio: float
    comments_final: int
    tau: float
    popularity: popularity.Popularity
    """Where ``plays_final``, ``tau`` and ``like_ratio`` come from (:mod:`~socialsim.world.
    popularity`: the content of the video's media, its creator and noise)."""


@dataclass(frozen=True, slots=True)
class Comment:
    """Top-level comment number ``number`` (in arrival order) of a video."""

    comment_id: str
    video_id: str
    number: int
    create_time: int
    text: str
    like_count: int
    replies_final: int
    reply_gap: int
    author: int


@dataclass(frozen=True, slots=True)
class Reply:
    """Reply number ``number`` (in arrival order) to a comment."""

    comment_id: str
    parent_id: str
    number: int
    create_time: int
    text: str
    like_count: int
    author: int


@dataclass(frozen=True, slots=True)
class FollowPage:
    """A page of a follow list.

    Attributes:
        members: account indices, newest follow first.
        min_time: follow time of the last member listed (the next page's cursor), or the
            cursor asked for when the page is empty.
        has_more: whether a next page exists (never past :data:`LIST_CAP` entries).
    """

    members: list[int]
    min_time: int
    has_more: bool


class FollowList:
    """Who follows a creator (or whom it follows), in follow order, each with a follow time.

    Times strictly increase along the list; entries are only appended and an unfollow marks
    its entry dead, so an account appears at most once and positions never move.
    """

    __slots__ = ("_seen", "alive", "alive_count", "members", "times")

    def __init__(self, members: list[int], times: list[int]) -> None:
        self.members = members
        self.times = times
        self.alive = bytearray(b"\x01") * len(members)
        self.alive_count = len(members)
        self._seen = set(members)

    def follow(self, generator: random.Random, moments: list[int], pool: range) -> None:
        """Append one account of the pool that never was on the list per moment (sorted,
        distinct, later than every follow time so far)."""
        for moment in moments:
            for _attempt in range(50):
                member = generator.choice(pool)
                if member not in self._seen:
                    self._seen.add(member)
                    self.members.append(member)
                    self.times.append(moment)
                    self.alive.append(1)
                    self.alive_count += 1
                    break

    def unfollow(self, generator: random.Random, count: int) -> None:
        """Mark ``count`` random live entries dead."""
        for _ in range(count):
            if self.alive_count == 0:
                return
            for _attempt in range(50):
                position = generator.randrange(len(self.members))
                if self.alive[position]:
                    self.alive[position] = 0
                    self.alive_count -= 1
                    break

    def page(self, before: int | None, count: int, cap: int = LIST_CAP) -> FollowPage:
        """Up to ``count`` live members who followed before time ``before``, newest first.

        The listing as a whole stops after ``cap`` live members: a page never goes past it and
        the page that reaches it says there is no more.

        Args:
            before: a follow time from an earlier page (exclusive), or None for the newest.
            count: page size.
            cap: live members the whole listing shows at most.
        """
        members, alive, times = self.members, self.alive, self.times
        end = len(members) if before is None else bisect.bisect_left(times, before)
        listed = self.alive_count - alive.count(1, 0, end)
        take = min(count, max(0, cap - listed))
        out: list[int] = []
        last = None
        i = end - 1
        while i >= 0 and len(out) < take:
            if alive[i]:
                out.append(members[i])
                last = i
            i -= 1
        more = i >= 0 and alive.count(1, 0, i + 1) > 0 and listed + len(out) < cap
        min_time = times[last] if last is not None else (before or 0)
        return FollowPage(out, min_time, more)

    def live(self) -> list[int]:
        """Every live member, newest first."""
        members, alive = self.members, self.alive
        return [members[i] for i in range(len(members) - 1, -1, -1) if alive[i]]


@dataclass(slots=True)
class CreatorState:
    """The generated, changing part of a creator."""

    followers: FollowList
    following: FollowList
    videos: list[Video]
    pinned: list[int] = field(default_factory=list)
    """Positions of the pinned videos, newest first (never changes once generated)."""
    steps_applied: int = 0


@dataclass(frozen=True, slots=True)
class PostsPage:
    """A page of a creator's videos: the videos, the next cursor (ms), whether more exist."""

    videos: list[Video]
    cursor: int
    has_more: bool


class TikTok:
    """The TikTok side of a world.

    Args:
        seed: the world's seed.
        accounts: number of ``tt_user_NNNN`` creators (the ``tt_giant`` comes on top; 0: no
            TikTok at all, neither the giant nor missing names).
        clock: the world's clock, shared with Instagram and YouTube.

    Raises:
        ValueError: more creators than ids can encode (:data:`MAX_CREATORS`).
    """

    def __init__(self, *, seed: int, accounts: int, clock: Clock) -> None:
        if accounts + 1 > MAX_CREATORS:
            raise ValueError(f"at most {MAX_CREATORS - 1} TikTok accounts")
        self.seed = seed
        self.clock = clock
        self._user_perm = ((rnd.mix(seed, _USER, 1) | 1) & 0xFFFFFFFF, rnd.mix(seed, _USER, 2))
        self._video_mask = rnd.mix(seed, _MASK, 1) & 0xFFFFFFFF
        self._comment_mask = rnd.mix(seed, _MASK, 2) & 0xFFFFFFFF
        width = max(4, len(str(accounts)))
        self.creators: list[Creator] = [self._make_creator(i, width) for i in range(accounts)]
        if accounts:
            self.creators.append(self._make_giant(accounts))
        missing = max(1, accounts // 10) if accounts else 0
        self.missing: list[str] = [f"tt_missing_{i + 1}" for i in range(missing)]
        self.pool = range(len(self.creators), len(self.creators) + 50_000 + 50 * accounts)
        self._by_username = {c.account.username: c for c in self.creators}
        self._by_user_id = {c.account.user_id: c for c in self.creators}
        self._by_sec_uid = {c.account.sec_uid: c for c in self.creators}
        self._states: dict[int, CreatorState] = {}
        self._accounts: dict[int, Account] = {}
        self._reply_sums: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ accounts

    def _user_id(self, index: int, created_at: int) -> str:
        low = (index * self._user_perm[0] + self._user_perm[1]) & 0xFFFFFFFF
        return str((created_at << 32) | low)

    def _sec_uid(self, index: int) -> str:
        digest = hashlib.blake2b(f"{self.seed}/sec-uid/{index}".encode(), digest_size=48)
        return "MS4wLjABAAAA" + base64.urlsafe_b64encode(digest.digest()).decode()

    def account(self, index: int) -> Account:
        """Any account (creators included), computed on demand and cached."""
        if index < len(self.creators):
            return self.creators[index].account
        cached = self._accounts.get(index)
        if cached is not None:
            return cached
        h = rnd.mix(self.seed, _NAME, index)
        g = rnd.mix(h)
        first = words.pick(words.FIRST_NAMES, g)
        last = words.pick(words.LAST_NAMES, g >> 8)
        style = (g >> 16) % 3
        if style == 0:
            username = f"{first.lower()}.{last.lower()}{index}"
        elif style == 1:
            username = f"{first.lower()}_{words.pick(words.TOPICS, g >> 24)}{index}"
        else:
            username = f"user{index}{last.lower()}"
        nickname = f"{first}{NUL}{last}" if (g >> 48) % 50 == 0 else f"{first} {last}"
        created_at = TIKTOK_LAUNCH + h % (SIM_START - 86400 - TIKTOK_LAUNCH)
        account = Account(
            index=index,
            user_id=self._user_id(index, created_at),
            username=username,
            sec_uid=self._sec_uid(index),
            nickname=nickname,
            signature=words.sentence(h >> 5, 1 + h % 6) if (g >> 56) % 3 else "",
            is_private=(g >> 32) % 100 < 15,
            is_verified=(g >> 40) % 1000 < 5,
            created_at=created_at,
        )
        if len(self._accounts) > 500_000:
            self._accounts.clear()
        self._accounts[index] = account
        return account

    def pool_stats(self, index: int) -> AccountStats:
        """The counters of a pool account (fixed: nobody monitors them)."""
        r = rnd.rng(self.seed, "tt-pool-stats", index)
        followers = rnd.heavy_tailed(r, 150, 2.0, 20_000_000)
        videos = rnd.heavy_tailed(r, 8, 1.8, 12_000)
        return AccountStats(
            followers=followers,
            following=rnd.heavy_tailed(r, 300, 1.0, 10_000),
            hearts=videos * rnd.heavy_tailed(r, 40, 2.0, 2_000_000),
            videos=videos,
            diggs=rnd.heavy_tailed(r, 2_000, 1.5, 500_000),
            friends=rnd.heavy_tailed(r, 20, 1.0, 5_000),
        )

    def stats(self, index: int) -> AccountStats:
        """Any account's counters now (a creator's are its lists and videos)."""
        if index >= len(self.creators):
            return self.pool_stats(index)
        creator = self.creators[index]
        state = self.state(creator)
        followers, following = set(state.followers.live()), set(state.following.live())
        return AccountStats(
            followers=len(followers),
            following=len(following),
            hearts=sum(self.likes(v) for v in state.videos),
            videos=len(state.videos),
            diggs=creator.diggs,
            friends=len(followers & following),
        )

    # ------------------------------------------------------------------ creators

    def _make_creator(self, index: int, width: int) -> Creator:
        r = rnd.rng(self.seed, "tt-creator", index)
        first = words.pick(words.FIRST_NAMES, r.getrandbits(32))
        last = words.pick(words.LAST_NAMES, r.getrandbits(32))
        topics = r.sample(words.TOPICS, 2)
        created_at = r.randint(TIKTOK_LAUNCH, SIM_START - 200 * 86400)
        nul = r.random() < 0.15
        account = Account(
            index=index,
            user_id=self._user_id(index, created_at),
            username=f"tt_user_{index + 1:0{width}d}",
            sec_uid=self._sec_uid(index),
            nickname=f"{first}{NUL}{last}" if nul else f"{first} {last}",
            signature=f"{topics[0]} & {topics[1]} | {first} {last}",
            is_private=r.random() < 0.12,
            is_verified=r.random() < 0.1,
            created_at=created_at,
        )
        return Creator(
            account=account,
            followers_target=rnd.heavy_tailed(r, 400, 1.3, 4_000),
            following_target=rnd.heavy_tailed(r, 150, 0.9, 2_000),
            videos_target=rnd.heavy_tailed(r, 30, 1.0, 400),
            videos_per_day=r.uniform(0.1, 1.5),
            diggs=rnd.heavy_tailed(r, 3_000, 1.2, 300_000),
        )

    def _make_giant(self, index: int) -> Creator:
        created_at = TIKTOK_LAUNCH + 86400
        account = Account(
            index=index,
            user_id=self._user_id(index, created_at),
            username="tt_giant",
            sec_uid=self._sec_uid(index),
            nickname="Giant Creator",
            signature="A very large account: its follower list stops at the cap",
            is_private=False,
            is_verified=True,
            created_at=created_at,
        )
        return Creator(
            account=account,
            followers_target=GIANT_FOLLOWERS,
            following_target=40,
            videos_target=GIANT_VIDEOS,
            videos_per_day=2.0,
            diggs=1_234,
            is_giant=True,
        )

    def find_username(self, username: str) -> Creator | None:
        """The creator with this username (``@`` and case ignored; None for anything else)."""
        return self._by_username.get(username.strip().lstrip("@").lower())

    def find_user_id(self, user_id: str) -> Creator | None:
        """The creator with this user id."""
        return self._by_user_id.get(user_id.strip())

    def find_sec_uid(self, sec_uid: str) -> Creator | None:
        """The creator with this secUid."""
        return self._by_sec_uid.get(sec_uid.strip())

    def _pool_for(self, creator: Creator) -> range:
        start = self.pool.start
        return range(start, max(self.pool.stop, start + 2 * creator.followers_target + 1))

    def state(self, creator: Creator) -> CreatorState:
        """The creator's lists and videos, generated on first use, caught up with the clock."""
        state = self._states.get(creator.index)
        if state is None:
            state = self._generate(creator)
            self._states[creator.index] = state
        steps = self.clock.steps
        while state.steps_applied < len(steps):
            self._apply(creator, state, steps[state.steps_applied])
            state.steps_applied += 1
        return state

    def _follow_list(
        self, r: random.Random, creator: Creator, pool: range, count: int
    ) -> FollowList:
        start = creator.account.created_at
        span = SIM_START - 1 - start
        count = min(count, len(pool), span)
        members = r.sample(pool, count)
        times = [start + offset for offset in sorted(r.sample(range(span), count))]
        return FollowList(members, times)

    def _generate(self, creator: Creator) -> CreatorState:
        r = rnd.rng(self.seed, "tt-creator-lists", creator.index)
        state = CreatorState(
            followers=self._follow_list(
                r, creator, self._pool_for(creator), creator.followers_target
            ),
            following=self._follow_list(r, creator, self.pool, creator.following_target),
            videos=[],
        )
        start = creator.account.created_at
        span = SIM_START - 3600 - start
        for offset in sorted(r.sample(range(span), min(creator.videos_target, span))):
            self._add_video(r, creator, state, start + offset)
        state.pinned = self._pick_pinned(creator, len(state.videos))
        return state

    def _pick_pinned(self, creator: Creator, videos: int) -> list[int]:
        """Positions of the videos a creator pins: about 1 in 4 creators with at least
        :data:`PINNING_MIN_VIDEOS` videos pin 1 to 3, never among the newest five (the giant
        always pins 2)."""
        r = rnd.rng(self.seed, "tt-pinned", creator.index)
        if videos < PINNING_MIN_VIDEOS or (not creator.is_giant and r.random() >= 0.25):
            return []
        old = range(videos - NEVER_PINNED_NEWEST)
        count = 2 if creator.is_giant else r.randint(1, 3)
        return sorted(r.sample(old, min(len(old), count)), reverse=True)

    def _apply(self, creator: Creator, state: CreatorState, step: Step) -> None:
        r = rnd.rng(self.seed, "tt-step", creator.index, step.number)
        days = step.days
        seconds = range(step.start + 1, step.end + 1)
        for follow_list, pool, rate in (
            (state.followers, self._pool_for(creator), 0.01),
            (state.following, self.pool, 0.004),
        ):
            follow_list.unfollow(r, rnd.poisson(r, follow_list.alive_count * 0.003 * days))
            joined = rnd.poisson(r, follow_list.alive_count * rate * days + days)
            follow_list.follow(r, sorted(r.sample(seconds, min(joined, len(seconds)))), pool)
        room = MAX_VIDEOS - len(state.videos)
        new = min(rnd.poisson(r, creator.videos_per_day * days), len(seconds), room)
        for moment in sorted(r.sample(seconds, max(0, new))):
            self._add_video(r, creator, state, moment)

    def _add_video(
        self, r: random.Random, creator: Creator, state: CreatorState, create_time: int
    ) -> None:
        position = len(state.videos)
        low = ((creator.index << 22) | (position << 11) | r.getrandbits(11)) ^ self._video_mask
        video_id = str((create_time << 32) | low)
        hashtags = tuple(r.sample(words.TOPICS, r.randint(0, 3)))
        bits = r.getrandbits(64)
        # Drawn and unused (it was the length of an older description) so that everything
        # drawn after it, hence the rest of the world, stays as it was.
        r.randint(2, 9)
        picks = captions.mention_picks(bits, len(self.creators), creator.index)
        written = captions.compose(bits, [self.creators[i].account.username for i in picks])
        text = f"{written.text} {words.pick(words.EMOJI, bits >> 20)}"
        if r.random() < 0.06:
            text = text.replace(" ", NUL, 1)
        desc = " ".join([text, *(f"#{tag}" for tag in hashtags)]) + " "
        # Drawn in the order the plays, duration … tau always were, so that the rest of the
        # world stays as it was; the popularity process combines the noise with the content of
        # the plan the CDN serves for this video and with the creator's size.
        views_noise = r.lognormvariate(0.0, popularity.TIKTOK.views_sigma)
        duration = r.randint(5, 180)
        region = r.choice(REGIONS)
        music_id = str(((create_time - r.randint(0, 10**7)) << 32) | r.getrandbits(32))
        like_base = r.uniform(0.02, 0.12)
        share_ratio = r.uniform(0.0005, 0.01)
        collect_ratio = r.uniform(0.001, 0.02)
        comments_noise = r.lognormvariate(0.0, 1.0)
        made = popularity.combine(
            popularity.TIKTOK,
            popularity.appeal(media.plan(self.seed, "tiktok", video_id)),
            creator.followers_target,
            views_noise=views_noise,
            tau_uniform=r.random(),
            like_base=like_base,
        )
        comments_median = max(2.0, made.views_final * 0.002)
        video = Video(
            video_id=video_id,
            owner=creator.index,
            position=position,
            create_time=create_time,
            create_ms=create_time * 1000 + rnd.mix(self.seed, _VIDEO_MS, int(video_id)) % 1000,
            desc=desc,
            hashtags=hashtags,
            language=written.language,
            mentions=written.mentions,
            duration=duration,
            region=region,
            music_id=music_id,
            plays_final=made.views_final,
            like_ratio=made.like_ratio,
            share_ratio=share_ratio,
            collect_ratio=collect_ratio,
            comments_final=min(MAX_COMMENTS, int(comments_median * comments_noise)),
            tau=made.tau_s,
            popularity=made,
        )
        state.videos.append(video)

    # ------------------------------------------------------------------ lookups

    def find_video(self, video_id: str) -> tuple[Creator, Video] | None:
        """The creator and video of a video id (None for anything else)."""
        if not video_id.isdigit():
            return None
        low = (int(video_id) & 0xFFFFFFFF) ^ self._video_mask
        owner, position = low >> 22, (low >> 11) & 0x7FF
        if owner >= len(self.creators):
            return None
        creator = self.creators[owner]
        videos = self.state(creator).videos
        if position >= len(videos) or videos[position].video_id != video_id:
            return None
        return creator, videos[position]

    def find_comment(self, comment_id: str) -> tuple[Creator, Video, Comment] | None:
        """The creator, video and top-level comment of a comment id, if listed now."""
        if not comment_id.isdigit():
            return None
        low = (int(comment_id) & 0xFFFFFFFF) ^ self._comment_mask
        owner, position, number = low >> 22, (low >> 11) & 0x7FF, low & 0x7FF
        if owner >= len(self.creators):
            return None
        creator = self.creators[owner]
        videos = self.state(creator).videos
        if position >= len(videos) or number >= self.top_count(videos[position]):
            return None
        comment = self.comment(videos[position], number)
        if comment.comment_id != comment_id:
            return None
        return creator, videos[position], comment

    # ------------------------------------------------------------------ pages

    @staticmethod
    def posts_page(state: CreatorState, before_ms: int | None, count: int) -> PostsPage:
        """A page of a creator's videos, newest first.

        The first page (``before_ms`` None) starts with the pinned videos, then the newest
        others; later pages hold the unpinned videos created before ``before_ms``, so each video
        appears once in a complete listing.

        Args:
            state: the creator's state.
            before_ms: a cursor from an earlier page (exclusive), or None for the first page.
            count: page size (the pinned videos count towards it).
        """
        videos, pinned = state.videos, state.pinned
        out: list[Video] = []
        if before_ms is None:
            out = [videos[i] for i in pinned][:count]
            end = len(videos)
        else:
            end = bisect.bisect_left(videos, before_ms, key=lambda v: v.create_ms)
        i = end - 1
        cursor = videos[end - 1].create_ms + 1 if end else 0
        while i >= 0 and len(out) < count:
            if i not in pinned:
                out.append(videos[i])
                cursor = videos[i].create_ms
            i -= 1
        more = any(j not in pinned for j in range(i, max(-1, i - len(pinned) - 1), -1))
        return PostsPage(out, cursor, more)

    # ------------------------------------------------------------------ video counts

    def plays(self, video: Video) -> int:
        """Plays of a video now."""
        elapsed = self.clock.now - video.create_time
        return round(video.plays_final * rnd.long_tail(elapsed, video.tau))

    def likes(self, video: Video) -> int:
        """Likes of a video now."""
        return round(self.plays(video) * video.like_ratio)

    def shares(self, video: Video) -> int:
        """Shares of a video now."""
        return round(self.plays(video) * video.share_ratio)

    def collects(self, video: Video) -> int:
        """Saves ("collects") of a video now."""
        return round(self.plays(video) * video.collect_ratio)

    def top_count(self, video: Video) -> int:
        """Top-level comments listed now."""
        return rnd.arrived(video.comments_final, video.create_time, video.tau, self.clock.now)

    def comment_count(self, video: Video) -> int:
        """Comments now, replies included (TikTok's ``commentCount``)."""
        now = self.clock.now
        top = self.top_count(video)
        settled = rnd.arrived(
            video.comments_final, video.create_time, video.tau, now - MAX_REPLIES * MAX_REPLY_GAP
        )
        sums = self._reply_sums.get(video.video_id)
        if sums is None:
            finals = (self._reply_plan(video, k)[0] for k in range(video.comments_final))
            sums = [0, *accumulate(finals)]
            self._reply_sums[video.video_id] = sums
        recent = sum(self._visible_replies(video, k) for k in range(settled, top))
        return top + sums[settled] + recent

    # ------------------------------------------------------------------ comments

    def _reply_plan(self, video: Video, k: int) -> tuple[int, int]:
        """Replies comment ``k`` gets in the end, and the seconds between two of them."""
        h = rnd.mix(self.seed, _REPLY, int(video.video_id), k)
        final = 0 if h % 10 < 7 else 1 + (h >> 8) % MAX_REPLIES
        return final, 60 + (h >> 16) % (MAX_REPLY_GAP - 59)

    def _visible_replies(self, video: Video, k: int) -> int:
        final, gap = self._reply_plan(video, k)
        created = rnd.arrival(k, video.comments_final, video.create_time, video.tau)
        return min(final, max(0, (self.clock.now - created) // gap))

    def comment(self, video: Video, k: int) -> Comment:
        """Top-level comment number ``k`` (in arrival order) of a video."""
        seed, vid = self.seed, int(video.video_id)
        h = rnd.mix(seed, _COMMENT, vid, k)
        created = rnd.arrival(k, video.comments_final, video.create_time, video.tau)
        low = ((video.owner << 22) | (video.position << 11) | k) ^ self._comment_mask
        final, gap = self._reply_plan(video, k)
        text = words.sentence(h >> 3, 1 + h % 8)
        if (h >> 40) % 40 == 0:
            text = text.replace(" ", NUL, 1)
        return Comment(
            comment_id=str((created << 32) | low),
            video_id=video.video_id,
            number=k,
            create_time=created,
            text=text,
            like_count=(h >> 20) % 4 if (h >> 30) % 100 < 70 else (h >> 20) % 3000,
            replies_final=final,
            reply_gap=gap,
            author=self.pool.start + (h >> 24) % len(self.pool),
        )

    def reply_count(self, comment: Comment) -> int:
        """Replies to a comment listed now."""
        elapsed = self.clock.now - comment.create_time
        return min(comment.replies_final, max(0, elapsed // comment.reply_gap))

    def reply(self, comment: Comment, j: int) -> Reply:
        """Reply number ``j`` (in arrival order) to a comment."""
        h = rnd.mix(self.seed, _REPLY, int(comment.comment_id), j)
        created = comment.create_time + (j + 1) * comment.reply_gap
        return Reply(
            comment_id=str((created << 32) | (h & 0xFFFFFFFF)),
            parent_id=comment.comment_id,
            number=j,
            create_time=created,
            text=words.sentence(h >> 7, 1 + (h >> 32) % 6),
            like_count=(h >> 40) % 5,
            author=self.pool.start + (h >> 12) % len(self.pool),
        )

    def comments(self, video: Video) -> list[Comment]:
        """Every top-level comment listed now, newest first."""
        return [self.comment(video, k) for k in range(self.top_count(video) - 1, -1, -1)]

    def replies(self, comment: Comment) -> list[Reply]:
        """Every reply to a comment listed now, oldest first."""
        return [self.reply(comment, j) for j in range(self.reply_count(comment))]
