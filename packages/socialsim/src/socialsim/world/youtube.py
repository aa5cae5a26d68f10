"""YouTube: channels, their uploads, videos whose statistics grow, comment threads.

Channels and their videos are generated when the world is built (they are few); clock steps
add videos, replayed on the next access. Comment threads exist only as functions of
(video, number): thread ``k`` arrives at a time that grows with ``k``, so the threads visible
now are the first ``n`` and a page is "threads before number X", newest first.

A thread's replies arrive after it the same way (all within :data:`REPLY_WINDOW`), so its
``reply_count`` counts those arrived now and a page of replies is "replies before number X",
newest first, as ``comments.list`` lists them. A thread id carries its (channel, video,
number) under a mask keyed by the seed, so :meth:`YouTube.find_thread` needs no index.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from itertools import accumulate

from socialsim import media
from socialsim.world import captions, popularity, words
from socialsim.world import randomness as rnd
from socialsim.world.clock import SIM_START, Clock, Step

FIRST_UPLOAD_AT = 1262304000
"""2010-01-01."""

MAX_THREADS = 2_000
EMBEDDED_REPLIES = 5
MAX_REPLIES = 30
REPLY_TAU = 6 * 3600.0
"""Replies of a thread arrive along a saturating curve of this time constant."""
REPLY_WINDOW = math.ceil(REPLY_TAU * math.log(2 * MAX_REPLIES)) + 1
"""Every reply of a thread has arrived this many seconds after the thread."""

THREAD_MASK = 401
"""Label for :func:`~socialsim.world.randomness.mix` of a thread id's mask (4xx: apart from the
shared labels of :mod:`~socialsim.world.randomness` and the other worlds' own)."""
DESCRIPTION = 402
"""Label of a video description's hash."""
_THREAD_PREFIX, _THREAD_SUFFIX = "Ugz", "4AaABAg"
_MASK48 = (1 << 48) - 1
_VIDEO_BITS, _NUMBER_BITS = 16, 12
"""A thread id's 48 coordinate bits: the channel's index in the top 20, the video's index in
its channel's uploads, the thread's number (below 4,096 > :data:`MAX_THREADS`); its other 48
bits are a hash."""
_B64_VALUES = {rnd.b64_chars(value, 1): value for value in range(64)}


@dataclass(frozen=True, slots=True)
class Channel:
    """A YouTube channel."""

    index: int
    channel_id: str
    handle: str
    title: str
    description: str
    published_at: int
    country: str
    subscribers_base: int
    videos_per_day: float

    @property
    def uploads_playlist_id(self) -> str:
        """The uploads playlist: ``UU`` and the channel id's suffix, as YouTube does."""
        return "UU" + self.channel_id[2:]


@dataclass(frozen=True, slots=True)
class Video:
    """A video; views, likes and comment threads grow towards final values."""

    video_id: str
    channel: int
    index: int
    published_at: int
    title: str
    description: str
    language: str
    """The description's language (ISO 639-1)."""
    mentions: tuple[str, ...]
    """Handles of the channels the description mentions (``@`` left out), in order."""
    tags: tuple[str, ...]
    duration_s: int
    views_final: int
    like_ratio: float
    threads_final: int
    tau_views: float
    tau_comments: float
    comments_disabled: bool
    popularity: popularity.Popularity
    """Where ``views_final``, ``tau_views`` and ``like_ratio`` come from (:mod:`~socialsim.
    world.popularity`: the content of the video's thumbnail, its channel and noise)."""


@dataclass(frozen=True, slots=True)
class Thread:
    """A comment thread: a top-level comment and its replies, as it is now.

    Attributes:
        reply_count: replies arrived by now (those :meth:`YouTube.replies_page` lists).
        reply_total: replies it will ever have.
    """

    thread_id: str
    author: str
    author_channel_id: str
    text: str
    created_at: int
    like_count: int
    reply_count: int
    reply_total: int


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply inside a thread."""

    comment_id: str
    author: str
    author_channel_id: str
    text: str
    created_at: int
    like_count: int


class YouTube:
    """The YouTube side of a world.

    Args:
        seed: the world's seed.
        channels: number of channels (``@channel0001`` …).
        clock: the world's clock, shared with Instagram.
    """

    def __init__(self, *, seed: int, channels: int, clock: Clock) -> None:
        self.seed = seed
        self.clock = clock
        self.channels: list[Channel] = [self._make_channel(i) for i in range(channels)]
        self._by_id = {c.channel_id: c for c in self.channels}
        self._by_handle = {c.handle.lower(): c for c in self.channels}
        self._by_playlist = {c.uploads_playlist_id: c for c in self.channels}
        self._uploads: list[list[Video]] = [[] for _ in self.channels]
        self._videos: dict[str, Video] = {}
        self._reply_sums: dict[str, list[int]] = {}
        self._steps_applied = 0
        for channel in self.channels:
            self._generate(channel)

    # ------------------------------------------------------------------ generation

    def _make_channel(self, index: int) -> Channel:
        r = rnd.rng(self.seed, "yt-channel", index)
        suffix = rnd.b64_chars(r.getrandbits(126), 21) + r.choice("AQgw")
        topic = r.choice(words.TOPICS)
        return Channel(
            index=index,
            channel_id="UC" + suffix,
            handle=f"@channel{index + 1:04d}",
            title=f"{words.pick(words.FIRST_NAMES, index)}'s {topic} channel",
            description=f"Videos about {topic}, {r.choice(words.TOPICS)} and more.",
            published_at=r.randint(FIRST_UPLOAD_AT - 3 * 365 * 86400, FIRST_UPLOAD_AT),
            country=r.choice(("US", "GB", "DE", "RU", "BR", "IN", "FR")),
            subscribers_base=rnd.heavy_tailed(r, 20_000, 1.8, 50_000_000),
            videos_per_day=r.uniform(0.05, 1.0),
        )

    def _generate(self, channel: Channel) -> None:
        r = rnd.rng(self.seed, "yt-uploads", channel.index)
        count = rnd.heavy_tailed(r, 60, 1.0, 600)
        span = SIM_START - 3600 - FIRST_UPLOAD_AT
        for offset in sorted(r.sample(range(span), count)):
            self._add_video(r, channel, FIRST_UPLOAD_AT + offset)

    def _apply(self, step: Step) -> None:
        for channel in self.channels:
            r = rnd.rng(self.seed, "yt-step", channel.index, step.number)
            count = min(rnd.poisson(r, channel.videos_per_day * step.days), step.end - step.start)
            for moment in sorted(r.sample(range(step.start + 1, step.end + 1), count)):
                self._add_video(r, channel, moment)

    def _add_video(self, r: random.Random, channel: Channel, published_at: int) -> None:
        uploads = self._uploads[channel.index]
        index = len(uploads)
        salt = 0
        while True:
            h = rnd.mix(self.seed, rnd.VIDEO_ID, channel.index, index, salt)
            video_id = rnd.b64_chars(h, 10) + "AEIMQUYcgkosw048"[(h >> 60) & 15]
            if video_id not in self._videos:
                break
            salt += 1
        # The views' noise is drawn where the views always were, and everything else in the
        # same order, so that the rest of the world stays as it was.
        views_noise = r.lognormvariate(0.0, popularity.YOUTUBE.views_sigma)
        topic = r.choice(words.TOPICS)
        # From the id's hash, not from ``r``: what ``r`` draws next stays as it was.
        text_hash = rnd.mix(self.seed, DESCRIPTION, h)
        picks = captions.mention_picks(text_hash, len(self.channels), channel.index)
        written = captions.compose(
            text_hash, [self.channels[i].handle.removeprefix("@") for i in picks]
        )
        title = f"{words.sentence(r.getrandbits(64), r.randint(2, 6))} | {topic}"
        tags = (topic, r.choice(words.TOPICS), "vlog")
        duration_s = r.randint(15, 3 * 3600)
        like_base = r.uniform(0.01, 0.06)
        threads_noise = r.lognormvariate(0.0, 1.0)
        # The thumbnail is a still: its faces, words and brightness play a part, not a length.
        made = popularity.combine(
            popularity.YOUTUBE,
            popularity.appeal(media.plan(self.seed, "youtube", video_id), moving=False),
            channel.subscribers_base,
            views_noise=views_noise,
            tau_uniform=r.random(),
            like_base=like_base,
        )
        threads_median = max(1.0, made.views_final * 0.0005)
        video = Video(
            video_id=video_id,
            channel=channel.index,
            index=index,
            published_at=published_at,
            title=title,
            description=f"{written.text} #{topic}",
            language=written.language,
            mentions=written.mentions,
            tags=tags,
            duration_s=duration_s,
            views_final=made.views_final,
            like_ratio=made.like_ratio,
            threads_final=min(MAX_THREADS, int(threads_median * threads_noise)),
            tau_views=made.tau_s,
            tau_comments=r.uniform(0.5, 5.0) * 86400,
            comments_disabled=r.random() < 0.05,
            popularity=made,
        )
        uploads.append(video)
        self._videos[video_id] = video

    def _catch_up(self) -> None:
        steps = self.clock.steps
        while self._steps_applied < len(steps):
            self._apply(steps[self._steps_applied])
            self._steps_applied += 1

    # ------------------------------------------------------------------ lookups

    def find_channel(self, channel_id: str) -> Channel | None:
        """The channel with this id."""
        return self._by_id.get(channel_id)

    def find_handle(self, handle: str) -> Channel | None:
        """The channel with this handle (with or without ``@``, any case)."""
        handle = handle.strip().lower()
        return self._by_handle.get(handle if handle.startswith("@") else "@" + handle)

    def find_playlist(self, playlist_id: str) -> Channel | None:
        """The channel whose uploads playlist this is."""
        return self._by_playlist.get(playlist_id)

    def find_video(self, video_id: str) -> Video | None:
        """The video with this id."""
        self._catch_up()
        return self._videos.get(video_id)

    def uploads(self, channel: Channel) -> list[Video]:
        """The channel's videos, oldest first (do not modify)."""
        self._catch_up()
        return self._uploads[channel.index]

    def uploads_page(
        self, channel: Channel, before: int | None, count: int
    ) -> tuple[list[Video], int | None]:
        """Up to ``count`` videos older than upload number ``before``, newest first."""
        uploads = self.uploads(channel)
        end = len(uploads) if before is None else min(before, len(uploads))
        start = max(0, end - count)
        return uploads[start:end][::-1], (start if start > 0 else None)

    # ------------------------------------------------------------------ statistics

    def views(self, video: Video) -> int:
        """Views of a video now."""
        elapsed = self.clock.now - video.published_at
        return round(video.views_final * rnd.long_tail(elapsed, video.tau_views))

    def likes(self, video: Video) -> int:
        """Likes of a video now."""
        return round(self.views(video) * video.like_ratio)

    def thread_count(self, video: Video) -> int:
        """Comment threads visible now (0 when comments are disabled)."""
        if video.comments_disabled:
            return 0
        return rnd.arrived(
            video.threads_final, video.published_at, video.tau_comments, self.clock.now
        )

    def comment_count(self, video: Video) -> int:
        """Comments now, replies included (YouTube's ``statistics.commentCount``)."""
        threads = self.thread_count(video)
        sums = self._reply_sums.get(video.video_id)
        if sums is None:
            replies = (self._reply_total(video, k) for k in range(video.threads_final))
            sums = [0, *accumulate(replies)]
            self._reply_sums[video.video_id] = sums
        count = threads + sums[threads]
        # Threads younger than the reply window may still be waiting for some replies.
        settled = rnd.arrived(
            video.threads_final,
            video.published_at,
            video.tau_comments,
            self.clock.now - REPLY_WINDOW,
        )
        for k in range(min(settled, threads), threads):
            thread = self.thread(video, k)
            count -= thread.reply_total - thread.reply_count
        return count

    def subscribers(self, channel: Channel) -> int:
        """Subscribers now (growing with simulated time)."""
        days = (self.clock.now - SIM_START) / 86400
        return channel.subscribers_base + round(channel.subscribers_base * 0.001 * days)

    def channel_views(self, channel: Channel) -> int:
        """Views of all the channel's videos now."""
        return sum(self.views(v) for v in self.uploads(channel))

    # ------------------------------------------------------------------ comments

    def _reply_total(self, video: Video, k: int) -> int:
        h = rnd.mix(self.seed, rnd.THREAD_REPLIES, video.index, video.channel, k)
        return 0 if h % 10 < 7 else 1 + (h >> 8) % MAX_REPLIES

    def _author(self, *coordinates: int) -> tuple[str, str]:
        h = rnd.mix(self.seed, rnd.THREAD_AUTHOR, *coordinates)
        name = f"{words.pick(words.FIRST_NAMES, h)} {words.pick(words.LAST_NAMES, h >> 8)}"
        suffix = rnd.b64_chars(h | (rnd.mix(h, 1) << 64), 21) + "AQgw"[(h >> 62) & 3]
        return name, "UC" + suffix

    def _thread_id(self, video: Video, k: int) -> str:
        """``Ugz`` + 16 characters + ``4AaABAg``: 48 bits of hash, then the coordinates
        masked by a hash of those 48 bits."""
        h = rnd.mix(self.seed, rnd.THREAD_ID, video.channel, video.index, k) & _MASK48
        coordinates = (
            (video.channel << (_VIDEO_BITS + _NUMBER_BITS)) | (video.index << _NUMBER_BITS) | k
        )
        masked = coordinates ^ (rnd.mix(self.seed, THREAD_MASK, h) & _MASK48)
        return _THREAD_PREFIX + rnd.b64_chars(h | (masked << 48), 16) + _THREAD_SUFFIX

    def find_thread(self, thread_id: str) -> tuple[Video, int] | None:
        """The video and number of a thread shown now, from its id (None otherwise)."""
        body = thread_id.removeprefix(_THREAD_PREFIX).removesuffix(_THREAD_SUFFIX)
        if len(body) != 16 or len(thread_id) != len(body) + 10:
            return None
        try:
            value = sum(_B64_VALUES[char] << (6 * i) for i, char in enumerate(body))
        except KeyError:
            return None
        h = value & _MASK48
        coordinates = (value >> 48) ^ (rnd.mix(self.seed, THREAD_MASK, h) & _MASK48)
        channel = coordinates >> (_VIDEO_BITS + _NUMBER_BITS)
        index = (coordinates >> _NUMBER_BITS) & ((1 << _VIDEO_BITS) - 1)
        k = coordinates & ((1 << _NUMBER_BITS) - 1)
        if channel >= len(self.channels):
            return None
        uploads = self.uploads(self.channels[channel])
        if index >= len(uploads) or k >= self.thread_count(uploads[index]):
            return None
        video = uploads[index]
        return (video, k) if self._thread_id(video, k) == thread_id else None

    def thread(self, video: Video, k: int) -> Thread:
        """Comment thread number ``k`` (in arrival order) of a video, as it is now."""
        seed = self.seed
        text_hash = rnd.mix(seed, rnd.COMMENT_TEXT, video.channel, video.index, k)
        like_hash = rnd.mix(seed, rnd.THREAD_LIKES, video.channel, video.index, k)
        author, author_channel_id = self._author(video.channel, video.index, k)
        created_at = rnd.arrival(k, video.threads_final, video.published_at, video.tau_comments)
        replies = self._reply_total(video, k)
        return Thread(
            thread_id=self._thread_id(video, k),
            author=author,
            author_channel_id=author_channel_id,
            text=words.sentence(text_hash, 2 + text_hash % 9),
            created_at=created_at,
            like_count=like_hash % 3 if like_hash % 100 < 75 else like_hash % 2_000,
            reply_count=rnd.arrived(replies, created_at, REPLY_TAU, self.clock.now),
            reply_total=replies,
        )

    def reply(self, video: Video, k: int, thread: Thread, j: int) -> Reply:
        """Reply number ``j`` (in arrival order) of thread number ``k``."""
        h = rnd.mix(self.seed, rnd.THREAD_ID, video.channel, video.index, k, j + 1)
        author, author_channel_id = self._author(video.channel, video.index, h)
        return Reply(
            comment_id=f"{thread.thread_id}.{rnd.b64_chars(h | (rnd.mix(h, 3) << 64), 22)}",
            author=author,
            author_channel_id=author_channel_id,
            text=words.sentence(h >> 3, 1 + h % 6),
            created_at=rnd.arrival(j, thread.reply_total, thread.created_at, REPLY_TAU),
            like_count=h % 4,
        )

    def replies_page(
        self, video: Video, k: int, thread: Thread, before: int | None, count: int
    ) -> tuple[list[Reply], int | None]:
        """Up to ``count`` replies of a thread older than reply number ``before``, newest
        first (``comments.list``'s order; its first page is what a thread embeds)."""
        end = thread.reply_count if before is None else min(before, thread.reply_count)
        start = max(0, end - count)
        page = [self.reply(video, k, thread, j) for j in range(end - 1, start - 1, -1)]
        return page, (start if start > 0 else None)

    def threads_page(
        self, video: Video, before: int | None, count: int
    ) -> tuple[list[int], int | None]:
        """Numbers of up to ``count`` threads older than number ``before``, newest first."""
        visible = self.thread_count(video)
        end = visible if before is None else min(before, visible)
        start = max(0, end - count)
        return list(range(end - 1, start - 1, -1)), (start if start > 0 else None)
