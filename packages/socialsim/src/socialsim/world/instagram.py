"""Instagram: profiles, a shared pool of accounts, follow lists, posts, comments and their
replies, likers, stories, highlights.

Profiles are pool accounts ``0 … N-1`` (``user_0001`` is account 0), the giant profile, when
configured, is account ``N``; every other account of the pool exists only as a function of
its index (pk, username, name), so following lists store small integers and nothing else.

A profile's follow lists and posts are generated on first use and then brought up to the
clock by replaying its steps; both use generators derived from (seed, profile, step), so the
result does not depend on the order in which clients touch the profiles.

Follow lists and posts only grow at their end (an unfollow marks an entry dead), so a
position in them is stable: cursors carry a position, and a page is "the items before
position X", newest first.

About one in four profiles with at least 6 posts when first generated pins 1 to 3 of
those posts, never among its 5 newest (:meth:`Instagram.pinned`): the feed
(:meth:`Instagram.posts_page`) lists them first on page one and skips them further down, so
a complete listing still holds every post once.

Stories, likers and comment replies are functions of the seed and the clock, never stored:

- A profile with a story habit (:attr:`Profile.stories_per_day`; some profiles have none)
  posts stories on each UTC day by a generator of (seed, profile, day); a story lives
  :data:`STORY_TTL` seconds, so the live ones are those of today and yesterday taken in
  the last 24 hours (:meth:`Instagram.live_stories`).
- A highlight keeps the stories it was made of (found walking back from its creation), and
  the newest one of a profile is still being added to: one in three of the stories posted
  since it was made joins it once posted (:meth:`Instagram.highlight_items`); a story in
  a highlight is the same story, same pk, as the live one.
- A post's likers are a permutation of account indexes keyed by the post: the first
  :meth:`Instagram.like_count` of them have liked it, so the set only grows.
- A comment's replies arrive after it along :func:`~socialsim.world.randomness.arrival`
  (all within :data:`REPLY_WINDOW`); its ``child_comment_count`` counts those arrived now.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
from dataclasses import dataclass, field

from socialsim.world import captions, words
from socialsim.world import randomness as rnd
from socialsim.world.clock import SIM_START, Clock, Step

IG_EPOCH_MS = 1314220021721
"""Instagram's id epoch (ms); media pks are ``(ms since epoch) << 23 | shard << 10 | seq``."""

FIRST_POST_AT = 1464739200
"""2016-06-01: early enough for history, late enough that every media pk has 19 digits."""

MAX_FOLLOWERS = 20_000
MAX_CHILDREN = 10
"""A carousel holds 2 to this many media."""
MAX_COMMENTS = 3_000
SHARD_BITS = 13
PINNING_MIN_POSTS = 6
"""Only a profile with this many posts (when first generated) may pin some."""
NEVER_PINNED_NEWEST = 5
"""Pinned posts are old ones: never among the profile's newest five."""

DAY = 86400
STORY_TTL = DAY
"""A story is seen for 24 hours after it is taken (``expiring_at = taken_at + STORY_TTL``)."""
STORY_MS = 500
"""A story's pk sits this many ms into its second: never a post's or a carousel child's."""
HIGHLIGHT_PK_BASE = 17_900_000_000_000_000
HIGHLIGHT_PROFILE_BITS = 24
"""A highlight pk carries its profile's index in its low bits (so a pk finds its owner)."""
OPEN_HIGHLIGHT_SHARE = 3
"""One in this many of the stories posted after the newest highlight was made join it."""
MAX_REPLIES = 60
REPLY_TAU = 4 * 3600.0
"""Replies of a comment arrive along a saturating curve of this time constant."""
REPLY_WINDOW = math.ceil(REPLY_TAU * math.log(2 * MAX_REPLIES)) + 1
"""Every reply of a comment has arrived this many seconds after the comment."""

# Labels for :func:`~socialsim.world.randomness.mix` of the attributes defined here: 3xx,
# apart from the shared ones of :mod:`~socialsim.world.randomness` and the other worlds' own.
STORY_HABIT = 301
STORY_IN_HIGHLIGHT = 302
REPLY_PK = 303
REPLY_TEXT = 304
REPLY_LIKES = 305
REPLY_AUTHOR = 306
LIKERS = 307


@dataclass(frozen=True, slots=True)
class Account:
    """Any Instagram account, as follow lists and comments show it."""

    index: int
    pk: str
    username: str
    full_name: str
    is_private: bool
    is_verified: bool
    profile_pic_url: str


@dataclass(frozen=True, slots=True)
class Profile:
    """A monitored profile: an account with a full public page."""

    index: int
    username: str
    pk: str
    full_name: str
    biography: str
    external_url: str | None
    is_private: bool
    is_verified: bool
    followers_target: int
    following_target: int
    posts_target: int
    posts_per_day: float
    has_reels: bool
    highlights: int
    joined_at: int
    is_giant: bool = False
    stories_per_day: float = 0.0
    """Mean stories a day (0: the profile never posts stories)."""


@dataclass(frozen=True, slots=True)
class Post:
    """One post; its like and comment counts grow towards their final values over time."""

    pk: int
    code: str
    index: int
    taken_at: int
    media_type: int
    product_type: str
    children: int
    has_caption: bool
    likes_final: int
    comments_final: int
    tau: float


@dataclass(frozen=True, slots=True)
class Comment:
    """One top-level comment of a post, as it is now.

    Attributes:
        child_comment_count: replies arrived by now (those :meth:`Instagram.replies_page`
            lists).
        reply_total: replies it will ever have.
    """

    pk: str
    text: str
    created_at: int
    like_count: int
    child_comment_count: int
    author: int
    reply_total: int


@dataclass(frozen=True, slots=True)
class CommentReply:
    """One reply to a top-level comment."""

    pk: str
    parent_pk: str
    text: str
    created_at: int
    like_count: int
    author: int


@dataclass(frozen=True, slots=True)
class Story:
    """One story of a profile (live for :data:`STORY_TTL` seconds after ``taken_at``)."""

    pk: int
    taken_at: int
    media_type: int

    @property
    def expiring_at(self) -> int:
        """When the story stops being shown."""
        return self.taken_at + STORY_TTL


@dataclass(frozen=True, slots=True)
class MediaItem:
    """Anything with a picture of its own: a post, a carousel's child, a story.

    Attributes:
        pk: its pk.
        video: whether it is a video (its picture is the video's cover).
        story: whether it is a story (shown full screen, 9:16).
        shown_pk: the pk whose picture it shows: its own, or a carousel's first child's.
    """

    pk: int
    video: bool
    story: bool
    shown_pk: int


@dataclass(frozen=True, slots=True)
class Highlight:
    """One story highlight of a profile.

    Attributes:
        kept: the stories it was made of, oldest first.
        open: whether stories posted after ``created_at`` still join it (the newest
            highlight of a profile).
    """

    pk: str
    title: str
    created_at: int
    kept: tuple[Story, ...]
    open: bool


class FollowList:
    """The accounts following a profile (or followed by it), in follow order.

    Entries are only appended; an unfollow marks its entry dead, and an account that left
    never comes back, so each account appears at most once and positions never move.
    """

    __slots__ = ("_positions", "alive", "alive_count", "members")

    def __init__(self, members: list[int]) -> None:
        self.members = members
        self.alive = bytearray(b"\x01") * len(members)
        self.alive_count = len(members)
        self._positions: dict[int, int] | None = None

    def _index(self) -> dict[int, int]:
        if self._positions is None:
            self._positions = {member: i for i, member in enumerate(self.members)}
        return self._positions

    def page(self, before: int | None, count: int) -> tuple[list[int], int | None]:
        """Up to ``count`` live members older than position ``before``, newest first.

        Args:
            before: a position returned by an earlier page, or None for the newest.
            count: page size.

        Returns:
            The members and the position to continue from (None on the last page).
        """
        members, alive = self.members, self.alive
        i = len(members) if before is None else min(before, len(members))
        out: list[int] = []
        last = i
        i -= 1
        while i >= 0 and len(out) < count:
            if alive[i]:
                out.append(members[i])
                last = i
            i -= 1
        while i >= 0 and not alive[i]:
            i -= 1
        return out, (last if i >= 0 else None)

    def live(self) -> list[int]:
        """Every live member, newest first."""
        members, alive = self.members, self.alive
        return [members[i] for i in range(len(members) - 1, -1, -1) if alive[i]]

    def follow(self, generator: random.Random, count: int, pool: int, exclude: int) -> None:
        """Append ``count`` accounts of the pool that never were on the list."""
        positions = self._index()
        for _ in range(count):
            for _attempt in range(50):
                member = generator.randrange(pool)
                if member != exclude and member not in positions:
                    positions[member] = len(self.members)
                    self.members.append(member)
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


@dataclass(slots=True)
class ProfileState:
    """The generated, changing part of a profile."""

    followers: FollowList
    following: FollowList
    posts: list[Post]
    clips: list[int] = field(default_factory=list)
    pinned: list[int] = field(default_factory=list)
    """Positions of the pinned posts, newest first (never changes once generated)."""
    steps_applied: int = 0


class Instagram:
    """The Instagram side of a world.

    Args:
        seed: the world's seed.
        profiles: number of ``user_NNNN`` profiles.
        giant_followers: followers of the ``giant`` profile (0 for no giant).
        giant_posts: posts of the ``giant`` profile.
        clock: the world's clock, shared with YouTube.
    """

    def __init__(
        self, *, seed: int, profiles: int, giant_followers: int, giant_posts: int, clock: Clock
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.pool_size = 50_000 + 50 * profiles
        # Odd multipliers make ``index -> (index * a + c) mod 2**32`` a permutation.
        self._pk_old = ((rnd.mix(seed, rnd.PK_LOW, 1) | 1) & 0xFFFFFFFF, rnd.mix(seed, 2) >> 32)
        self._pk_new = ((rnd.mix(seed, rnd.PK_LOW, 3) | 1) & 0xFFFFFFFF, rnd.mix(seed, 4) >> 32)
        width = max(4, len(str(profiles)))
        self.profiles: list[Profile] = [self._make_profile(i, width) for i in range(profiles)]
        self.missing: list[str] = [
            f"missing_{i + 1:0{width}d}" for i in range(max(1, profiles // 20))
        ]
        if giant_followers > 0 or giant_posts > 0:
            self.profiles.append(self._make_giant(profiles, giant_followers, giant_posts))
        self._by_username = {p.username: p for p in self.profiles}
        self._by_pk = {p.pk: p for p in self.profiles}
        self._states: dict[int, ProfileState] = {}
        self._media: dict[int, tuple[int, int]] = {}
        self._accounts: dict[int, Account] = {}
        self._story_days: dict[tuple[int, int], tuple[Story, ...]] = {}
        self._highlights: dict[int, list[Highlight]] = {}
        self._comment_numbers: dict[int, dict[str, int]] = {}

    # ------------------------------------------------------------------ accounts

    def _pk(self, index: int, h: int) -> int:
        """A unique pk for account ``index`` (``h`` is the account's hash)."""
        if h % 100 < 30:
            # An early account: a 9-10 digit pk (below 2**53).
            return 100_000_000 + ((index * self._pk_old[0] + self._pk_old[1]) & 0xFFFFFFFF)
        # A recent account: 17-19 digits. The permuted index picks a block of 2e9 and the
        # hash a number inside it, so two accounts never share a pk.
        block = (index * self._pk_new[0] + self._pk_new[1]) & 0xFFFFFFFF
        return 10**16 + block * 2_000_000_000 + (h >> 7) % 2_000_000_000

    def account(self, index: int) -> Account:
        """Any account of the pool (profiles included), computed on demand and cached."""
        cached = self._accounts.get(index)
        if cached is not None:
            return cached
        if index < len(self.profiles):
            p = self.profiles[index]
            account = Account(
                index, p.pk, p.username, p.full_name, p.is_private, p.is_verified, _pic(p.pk)
            )
        else:
            h = rnd.mix(self.seed, rnd.NAME, index)
            g = rnd.mix(h)
            first = words.pick(words.FIRST_NAMES, g)
            last = words.pick(words.LAST_NAMES, g >> 8)
            style = (g >> 16) % 3
            if style == 0:
                username = f"{first.lower()}.{last.lower()}_{index}"
            elif style == 1:
                username = f"{first.lower()}_{words.pick(words.TOPICS, g >> 24)}{index}"
            else:
                username = f"{last.lower()}{first[0].lower()}_{index}"
            pk = str(self._pk(index, h))
            account = Account(
                index=index,
                pk=pk,
                username=username,
                full_name=f"{first} {last}",
                is_private=(g >> 32) % 100 < 15,
                is_verified=(g >> 40) % 1000 < 5,
                profile_pic_url=_pic(pk),
            )
        if len(self._accounts) > 500_000:
            self._accounts.clear()
        self._accounts[index] = account
        return account

    # ------------------------------------------------------------------ profiles

    def _make_profile(self, index: int, width: int) -> Profile:
        r = rnd.rng(self.seed, "ig-profile-meta", index)
        first = words.pick(words.FIRST_NAMES, r.getrandbits(32))
        last = words.pick(words.LAST_NAMES, r.getrandbits(32))
        topics = r.sample(words.TOPICS, 3)
        username = f"user_{index + 1:0{width}d}"
        profile = Profile(
            index=index,
            username=username,
            pk=str(self._pk(index, rnd.mix(self.seed, rnd.NAME, index))),
            full_name=f"{first} {last}",
            biography=" · ".join(topics) + f" | {first} from {last.lower()}ville",
            external_url=f"https://example.com/{username}" if r.random() < 0.3 else None,
            is_private=r.random() < 0.05,
            is_verified=r.random() < 0.03,
            followers_target=rnd.heavy_tailed(r, 300, 1.5, MAX_FOLLOWERS),
            following_target=rnd.heavy_tailed(r, 200, 0.9, 7_500),
            posts_target=rnd.heavy_tailed(r, 30, 1.1, 1_500),
            posts_per_day=r.uniform(0.05, 1.5),
            has_reels=r.random() < 0.4,
            highlights=r.randint(1, 12) if r.random() < 0.3 else 0,
            joined_at=r.randint(FIRST_POST_AT, SIM_START - 200 * 86400),
        )
        # A hash of its own, so that the story habit shifts no other draw of the world. A
        # profile with highlights has posted stories; about 4 in 10 of the others never do.
        h = rnd.mix(self.seed, STORY_HABIT, index)
        if profile.highlights == 0 and h % 10 < 4:
            return profile
        rate = 0.3 + 2.7 * ((h >> 8) % 1000) / 1000
        return dataclasses.replace(profile, stories_per_day=rate)

    def _make_giant(self, index: int, followers: int, posts: int) -> Profile:
        return Profile(
            index=index,
            username="giant",
            pk=str(self._pk(index, rnd.mix(self.seed, rnd.NAME, index))),
            full_name="Giant Account",
            biography="A very large account for load tests",
            external_url="https://example.com/giant",
            is_private=False,
            is_verified=True,
            followers_target=followers,
            following_target=50,
            posts_target=posts,
            posts_per_day=3.0,
            has_reels=True,
            highlights=5,
            joined_at=FIRST_POST_AT,
            is_giant=True,
            stories_per_day=3.0,
        )

    def find_username(self, username: str) -> Profile | None:
        """The profile with this username (None for missing and unknown names)."""
        return self._by_username.get(username.lstrip("@").lower())

    def find_pk(self, pk: str) -> Profile | None:
        """The profile with this pk (None for anything else)."""
        return self._by_pk.get(pk.strip())

    def _pool_for(self, profile: Profile) -> int:
        return max(self.pool_size, 2 * profile.followers_target + 1)

    def state(self, profile: Profile) -> ProfileState:
        """The profile's lists and posts, generated on first use, caught up with the clock."""
        state = self._states.get(profile.index)
        if state is None:
            state = self._generate(profile)
            self._states[profile.index] = state
        steps = self.clock.steps
        while state.steps_applied < len(steps):
            self._apply(profile, state, steps[state.steps_applied])
            state.steps_applied += 1
        return state

    def _generate(self, profile: Profile) -> ProfileState:
        r = rnd.rng(self.seed, "ig-profile", profile.index)
        pool = self._pool_for(profile)
        state = ProfileState(
            followers=FollowList(_sample(r, pool, profile.followers_target, profile.index)),
            following=FollowList(
                _sample(r, self.pool_size, profile.following_target, profile.index)
            ),
            posts=[],
        )
        last = SIM_START - 3600
        span = last - profile.joined_at
        count = min(profile.posts_target, span)
        for offset in sorted(r.sample(range(span), count)):
            self._add_post(r, profile, state, profile.joined_at + offset)
        state.pinned = self._pick_pinned(profile, len(state.posts))
        return state

    def _pick_pinned(self, profile: Profile, posts: int) -> list[int]:
        """Positions of the posts a profile pins: about 1 in 4 of the profiles with at least
        :data:`PINNING_MIN_POSTS` posts pin 1 to 3 of them, never among the newest five.

        A generator of its own, so that pinning shifts no other draw of the world.
        """
        r = rnd.rng(self.seed, "ig-pinned", profile.index)
        if posts < PINNING_MIN_POSTS or r.random() >= 0.25:
            return []
        old = range(posts - NEVER_PINNED_NEWEST)
        return sorted(r.sample(old, min(len(old), r.randint(1, 3))), reverse=True)

    def _apply(self, profile: Profile, state: ProfileState, step: Step) -> None:
        r = rnd.rng(self.seed, "ig-step", profile.index, step.number)
        days = step.days
        followers, following = state.followers, state.following
        followers.unfollow(r, rnd.poisson(r, followers.alive_count * 0.003 * days))
        followers.follow(
            r,
            rnd.poisson(r, followers.alive_count * 0.01 * days + 0.5 * days),
            self._pool_for(profile),
            profile.index,
        )
        following.unfollow(r, rnd.poisson(r, following.alive_count * 0.002 * days))
        following.follow(
            r,
            rnd.poisson(r, following.alive_count * 0.004 * days + 0.2 * days),
            self.pool_size,
            profile.index,
        )
        new_posts = min(rnd.poisson(r, profile.posts_per_day * days), step.end - step.start)
        for moment in sorted(r.sample(range(step.start + 1, step.end + 1), new_posts)):
            self._add_post(r, profile, state, moment)

    def _add_post(
        self, r: random.Random, profile: Profile, state: ProfileState, taken_at: int
    ) -> None:
        index = len(state.posts)
        kind = r.random()
        children = 0
        if profile.has_reels and kind < 0.3:
            media_type, product_type = 2, "clips"
        elif kind < 0.4:
            media_type, product_type = 2, "feed"
        elif kind < 0.7:
            media_type, product_type, children = 8, "carousel_container", r.randint(2, MAX_CHILDREN)
        else:
            media_type, product_type = 1, "feed"
        likes = rnd.heavy_tailed(r, max(3.0, profile.followers_target * 0.04), 1.0, 2_000_000)
        comments = rnd.heavy_tailed(r, max(1.0, likes * 0.03), 1.0, MAX_COMMENTS)
        pk = (
            ((taken_at * 1000 - IG_EPOCH_MS) << 23)
            | ((profile.index % (1 << SHARD_BITS)) << 10)
            | (index % 1024)
        )
        post = Post(
            pk=pk,
            code=rnd.shortcode(pk),
            index=index,
            taken_at=taken_at,
            media_type=media_type,
            product_type=product_type,
            children=children,
            has_caption=r.random() > 0.15,
            likes_final=likes,
            comments_final=comments,
            tau=r.uniform(0.5, 5.0) * 86400,
        )
        state.posts.append(post)
        if product_type == "clips":
            state.clips.append(index)
        self._media[pk] = (profile.index, index)

    # ------------------------------------------------------------------ pages

    def pinned(self, profile: Profile) -> list[Post]:
        """The posts the profile has pinned to the top of its feed, newest first."""
        state = self.state(profile)
        return [state.posts[i] for i in state.pinned]

    @staticmethod
    def posts_page(
        state: ProfileState, before: int | None, count: int
    ) -> tuple[list[Post], int | None]:
        """A page of the feed: up to ``count`` posts (or all the pinned ones), newest first.

        The first page (``before`` None) starts with the pinned posts, then the newest
        others; later pages hold the unpinned posts older than position ``before``, so each
        post appears once in a complete listing.

        Args:
            state: the profile's state.
            before: a position returned by an earlier page, or None for the first page.
            count: page size (the pinned posts count towards it).

        Returns:
            The posts and the position to continue from (None on the last page).
        """
        posts, pinned = state.posts, state.pinned
        out: list[Post] = []
        if before is None:
            out = [posts[i] for i in pinned]
            i = len(posts)
        else:
            i = min(before, len(posts))
        i -= 1
        while i >= 0 and len(out) < count:
            if i not in pinned:
                out.append(posts[i])
            i -= 1
        # Position i + 1: the next page starts before it; none when only pinned posts remain.
        rest = any(j not in pinned for j in range(max(0, i - len(pinned)), i + 1))
        return out, (i + 1 if rest else None)

    @staticmethod
    def clips_page(
        state: ProfileState, before: int | None, count: int
    ) -> tuple[list[Post], int | None]:
        """Up to ``count`` reels older than post position ``before``, newest first."""
        clips = state.clips
        end = len(clips) if before is None else bisect.bisect_left(clips, before)
        start = max(0, end - count)
        page = [state.posts[i] for i in reversed(clips[start:end])]
        return page, (clips[start] if start > 0 else None)

    def comments_page(
        self, post: Post, before: int | None, count: int
    ) -> tuple[list[Comment], int | None]:
        """Up to ``count`` comments older than comment number ``before``, newest first."""
        visible = self.comment_count(post)
        end = visible if before is None else min(before, visible)
        start = max(0, end - count)
        page = [self.comment(post, k) for k in range(end - 1, start - 1, -1)]
        return page, (start if start > 0 else None)

    # ------------------------------------------------------------------ media

    def find_media(self, pk: int) -> tuple[Profile, Post] | None:
        """The profile and post of a media pk (generating its owner if needed)."""
        found = self._media.get(pk)
        if found is None:
            shard = (pk >> 10) & ((1 << SHARD_BITS) - 1)
            for index in range(shard, len(self.profiles), 1 << SHARD_BITS):
                self.state(self.profiles[index])
            found = self._media.get(pk)
            if found is None:
                return None
        profile = self.profiles[found[0]]
        return profile, self.state(profile).posts[found[1]]

    def find_item(self, pk: int) -> MediaItem | None:
        """The post, carousel child or story of a pk, if it has been posted by now.

        A pk's millisecond tells which: a post's sits on a whole second, a carousel's child
        ``j`` (from 1) ``j`` ms after its post, a story :data:`STORY_MS` ms into its second.
        """
        ms = (pk >> 23) + IG_EPOCH_MS
        offset = ms % 1000
        if pk > 0 and offset == STORY_MS:
            return self._find_story(pk, (ms - STORY_MS) // 1000)
        found = self.find_media(pk - (offset << 23)) if pk > 0 and offset <= MAX_CHILDREN else None
        if found is None:
            return None
        post = found[1]
        if offset == 0:
            shown = post.pk + (1 << 23) if post.media_type == 8 else post.pk
            return MediaItem(pk, post.media_type == 2, False, shown)
        if post.media_type == 8 and offset <= post.children:
            return MediaItem(pk, child_is_video(offset - 1), False, pk)
        return None

    def _find_story(self, pk: int, taken_at: int) -> MediaItem | None:
        shard = (pk >> 10) & ((1 << SHARD_BITS) - 1)
        for index in range(shard, len(self.profiles), 1 << SHARD_BITS):
            for story in self.stories_of_day(self.profiles[index], taken_at // DAY):
                if story.pk == pk and story.taken_at <= self.clock.now:
                    return MediaItem(pk, story.media_type == 2, True, pk)
        return None

    def like_count(self, post: Post) -> int:
        """Likes of a post now."""
        return round(post.likes_final * rnd.long_tail(self.clock.now - post.taken_at, post.tau))

    def comment_count(self, post: Post) -> int:
        """Comments of a post now (exactly those :meth:`comments_page` lists)."""
        return rnd.arrived(post.comments_final, post.taken_at, post.tau, self.clock.now)

    def play_count(self, post: Post) -> int:
        """Plays of a video post now."""
        return 7 * self.like_count(post) + post.pk % 97

    def comment(self, post: Post, k: int) -> Comment:
        """Comment number ``k`` (in arrival order) of a post, as it is now."""
        seed, pk = self.seed, post.pk
        likes_hash = rnd.mix(seed, rnd.COMMENT_LIKES, pk, k)
        children_hash = rnd.mix(seed, rnd.COMMENT_CHILDREN, pk, k)
        text_hash = rnd.mix(seed, rnd.COMMENT_TEXT, pk, k)
        created_at = rnd.arrival(k, post.comments_final, post.taken_at, post.tau)
        if children_hash % 10 < 8:
            replies = 0
        elif (children_hash >> 20) % 10 == 0:
            replies = 6 + (children_hash >> 8) % (MAX_REPLIES - 5)
        else:
            replies = 1 + children_hash % 5
        return Comment(
            pk=self._comment_pk(post, k),
            text=words.sentence(text_hash, 2 + text_hash % 7),
            created_at=created_at,
            like_count=likes_hash % 4 if likes_hash % 100 < 70 else likes_hash % 500,
            child_comment_count=rnd.arrived(replies, created_at, REPLY_TAU, self.clock.now),
            author=rnd.mix(seed, rnd.COMMENT_AUTHOR, pk, k) % self.pool_size,
            reply_total=replies,
        )

    def _comment_pk(self, post: Post, k: int) -> str:
        return str(10**17 + rnd.mix(self.seed, rnd.COMMENT_PK, post.pk, k) % (8 * 10**17))

    def find_comment(self, post: Post, comment_pk: str) -> Comment | None:
        """The top-level comment of a post with this pk, if the post shows it now."""
        numbers = self._comment_numbers.get(post.pk)
        if numbers is None:
            numbers = {self._comment_pk(post, k): k for k in range(post.comments_final)}
            if len(self._comment_numbers) > 1_000:
                self._comment_numbers.clear()
            self._comment_numbers[post.pk] = numbers
        k = numbers.get(comment_pk.strip())
        if k is None or k >= self.comment_count(post):
            return None
        return self.comment(post, k)

    def reply(self, post: Post, parent: Comment, j: int) -> CommentReply:
        """Reply number ``j`` (in arrival order) of a top-level comment."""
        seed, pk = self.seed, int(parent.pk)
        text_hash = rnd.mix(seed, REPLY_TEXT, pk, j)
        likes_hash = rnd.mix(seed, REPLY_LIKES, pk, j)
        return CommentReply(
            pk=str(10**17 + rnd.mix(seed, REPLY_PK, pk, j) % (8 * 10**17)),
            parent_pk=parent.pk,
            text=words.sentence(text_hash, 1 + text_hash % 6),
            created_at=rnd.arrival(j, parent.reply_total, parent.created_at, REPLY_TAU),
            like_count=likes_hash % 3 if likes_hash % 100 < 85 else likes_hash % 100,
            author=rnd.mix(seed, REPLY_AUTHOR, pk, j) % self.pool_size,
        )

    def replies(self, post: Post, parent: Comment) -> list[CommentReply]:
        """Every reply of a comment arrived by now, oldest first."""
        return [self.reply(post, parent, j) for j in range(parent.child_comment_count)]

    def replies_page(
        self, post: Post, parent: Comment, position: int | None, count: int, *, newest_first: bool
    ) -> tuple[list[CommentReply], int | None]:
        """A page of a comment's replies; replies only ever arrive at the newer end.

        Args:
            post: the comment's post.
            parent: the comment.
            position: from an earlier page, or None to start. Oldest first, the page starts
                at reply number ``position``; newest first, it holds those before it.
            count: page size.
            newest_first: page from the newest reply towards older ones ("head"), or from
                the oldest towards newer ones ("tail").

        Returns:
            The replies and the position to continue from (None on the last page).
        """
        visible = parent.child_comment_count
        if newest_first:
            end = visible if position is None else min(position, visible)
            start = max(0, end - count)
            page = [self.reply(post, parent, j) for j in range(end - 1, start - 1, -1)]
            return page, (start if start > 0 else None)
        start = 0 if position is None else min(position, visible)
        end = min(visible, start + count)
        page = [self.reply(post, parent, j) for j in range(start, end)]
        return page, (end if end < visible else None)

    def caption(self, post: Post) -> tuple[str, captions.Caption]:
        """The caption's pk and caption (whether the post shows one is ``post.has_caption``):
        sentences in one language, mentions of other profiles, an emoji and a hashtag."""
        h = rnd.mix(self.seed, rnd.CAPTION, post.pk)
        owner = self._media[post.pk][0]
        picks = captions.mention_picks(h, len(self.profiles), owner)
        written = captions.compose(h, [self.profiles[i].username for i in picks])
        tag = words.pick(words.TOPICS, h >> 40)
        text = f"{written.text} {words.pick(words.EMOJI, h >> 20)} #{tag}"
        pk = str(17_800_000_000_000_000 + h % 10**17)
        return pk, captions.Caption(text, written.language, written.mentions)

    # ------------------------------------------------------------------ likers

    def likers(self, post: Post, limit: int | None = None) -> list[int]:
        """The account indexes that like a post now, newest first (the newest ``limit``).

        The ``i``-th account to like a post is a keyed permutation of ``[0, n)`` at ``i``
        (``n`` at least the pool and above the post's final likes; walked until it lands
        inside; the owner's own index maps to ``n``), so the likers only ever grow.
        """
        owner = self._media[post.pk][0]
        size = max(self.pool_size, post.likes_final + 1)
        bits = size.bit_length()
        mask, shift = (1 << bits) - 1, bits // 2 + 1
        rounds = [
            ((key | 1) & mask, key >> 40)
            for key in (rnd.mix(self.seed, LIKERS, post.pk, r) for r in range(3))
        ]
        count = self.like_count(post)
        last = 0 if limit is None else max(0, count - limit)
        out = []
        for i in range(count - 1, last - 1, -1):
            x = i
            while True:
                for multiplier, offset in rounds:
                    x = (x * multiplier + offset) & mask
                    x ^= x >> shift
                if x < size:
                    break
            out.append(size if x == owner else x)
        return out

    # ------------------------------------------------------------------ stories

    def stories_of_day(self, profile: Profile, day: int) -> tuple[Story, ...]:
        """The stories a profile posts on UTC day ``day`` (unix seconds // 86400), oldest
        first, whether or not the clock has reached them."""
        key = (profile.index, day)
        cached = self._story_days.get(key)
        if cached is not None:
            return cached
        stories: tuple[Story, ...] = ()
        start = max(day * DAY, profile.joined_at)
        if profile.stories_per_day > 0 and start < (day + 1) * DAY:
            r = rnd.rng(self.seed, "ig-stories", profile.index, day)
            count = min(rnd.poisson(r, profile.stories_per_day), (day + 1) * DAY - start)
            moments = sorted(r.sample(range(start, (day + 1) * DAY), count))
            shard = (profile.index % (1 << SHARD_BITS)) << 10
            stories = tuple(
                Story(
                    pk=((t * 1000 + STORY_MS - IG_EPOCH_MS) << 23) | shard | (k % 1024),
                    taken_at=t,
                    media_type=2 if r.random() < 0.35 else 1,
                )
                for k, t in enumerate(moments)
            )
        if len(self._story_days) > 200_000:
            self._story_days.clear()
        self._story_days[key] = stories
        return stories

    def live_stories(self, profile: Profile) -> list[Story]:
        """The profile's stories shown now (taken in the last 24 hours), oldest first."""
        now = self.clock.now
        today = now // DAY
        return [
            story
            for day in (today - 1, today)
            for story in self.stories_of_day(profile, day)
            if story.taken_at <= now < story.expiring_at
        ]

    def _stories_before(self, profile: Profile, moment: int, count: int) -> list[Story]:
        """Up to ``count`` of the profile's newest stories taken at ``moment`` or before,
        oldest first."""
        out: list[Story] = []
        day = moment // DAY
        while len(out) < count and day >= profile.joined_at // DAY:
            for story in reversed(self.stories_of_day(profile, day)):
                if story.taken_at <= moment and len(out) < count:
                    out.append(story)
            day -= 1
        return out[::-1]

    # ------------------------------------------------------------------ highlights

    def highlights(self, profile: Profile) -> list[Highlight]:
        """The profile's highlights, newest first (one without stories is never made)."""
        cached = self._highlights.get(profile.index)
        if cached is not None:
            return cached
        r = rnd.rng(self.seed, "ig-highlights", profile.index)
        out = []
        for n in range(profile.highlights):
            pk = HIGHLIGHT_PK_BASE + (
                (r.randrange(10**17 >> HIGHLIGHT_PROFILE_BITS) << HIGHLIGHT_PROFILE_BITS)
                | profile.index
            )
            title = r.choice(words.TOPICS).capitalize()
            size = r.randint(1, 40)
            # The newest one (made last month) is still open; the others are older.
            if n == 0:
                created_at = SIM_START - r.randint(DAY, 30 * DAY)
            else:
                created_at = r.randint(profile.joined_at + 30 * DAY, SIM_START - 31 * DAY)
            kept = self._stories_before(profile, created_at, size)
            if kept:
                out.append(Highlight(str(pk), title, created_at, tuple(kept), open=n == 0))
        out.sort(key=lambda h: h.created_at, reverse=True)
        if len(self._highlights) > 100_000:
            self._highlights.clear()
        self._highlights[profile.index] = out
        return out

    def find_highlight(self, pk: str) -> tuple[Profile, Highlight] | None:
        """The owner and highlight of a highlight pk (with or without ``highlight:``)."""
        text = pk.strip().removeprefix("highlight:")
        if not text.isdigit() or int(text) < HIGHLIGHT_PK_BASE:
            return None
        index = (int(text) - HIGHLIGHT_PK_BASE) & ((1 << HIGHLIGHT_PROFILE_BITS) - 1)
        if index >= len(self.profiles):
            return None
        profile = self.profiles[index]
        found = next((h for h in self.highlights(profile) if h.pk == text), None)
        return None if found is None else (profile, found)

    def highlight_items(self, profile: Profile, highlight: Highlight) -> list[Story]:
        """The stories a highlight holds now, oldest first (its ``media_count``)."""
        items = list(highlight.kept)
        if highlight.open:
            now = self.clock.now
            for day in range(highlight.created_at // DAY, now // DAY + 1):
                items += [
                    story
                    for story in self.stories_of_day(profile, day)
                    if highlight.created_at < story.taken_at <= now
                    and rnd.mix(self.seed, STORY_IN_HIGHLIGHT, story.pk) % OPEN_HIGHLIGHT_SHARE == 0
                ]
        return items


def child_pk(post: Post, j: int) -> int:
    """The pk of a carousel's child ``j`` (from 0): ``j + 1`` ms after its post's (unique,
    since one owner's posts are whole seconds apart)."""
    return post.pk + ((j + 1) << 23)


def child_is_video(j: int) -> bool:
    """Whether a carousel's child ``j`` (from 0) is a video (every third one)."""
    return j % 3 == 2


def _sample(r: random.Random, pool: int, count: int, exclude: int) -> list[int]:
    count = min(count, pool - 1)
    picked = r.sample(range(pool), count + 1)
    if exclude in picked:
        picked.remove(exclude)
    else:
        picked.pop()
    return picked


def _pic(pk: str) -> str:
    return f"https://scontent.cdninstagram.com/v/t51.2885-19/{pk}_n.jpg"
