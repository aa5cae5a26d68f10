"""How a video gains views: its visible content, its channel and noise (all simulated).

The one place the process lives; ``README.md`` ("How views are made") describes it for users.
A video's final view count ``V_final``, the time constant ``tau`` of its growth and its like
ratio are::

    V_final = min(cap, channel_views * scale(content) * noise_views)
    tau     = base_tau * tau_factor(content) * channel_tau * noise_tau
    likes / views = like_base * like_factor(content)

and the count at age ``t`` is ``V_final * long_tail(t, tau)``
(:func:`~socialsim.world.randomness.long_tail`: 80 % along ``1 - exp(-t / tau)``, 20 % over a
year), so it never falls. The content is the media's plan (:func:`socialsim.media.plan`), the
very plan whose bytes the CDN serves for the video:

====================  ============================  =============================
what is in view       final views (``scale``)       growth (``tau_factor``)
====================  ============================  =============================
a face                x :data:`FACE_VIEWS`          x :data:`FACE_TAU` (sooner)
each word on screen   x :data:`WORD_VIEWS`          x :data:`WORD_TAU` (later)
length ``d`` seconds  x DURATION_VIEWS ** (d - 3)   x (d / 3) ** DURATION_TAU
brightness ``b``      x b ** BRIGHTNESS_VIEWS       none
====================  ============================  =============================

A still (a YouTube thumbnail) has no length: its duration plays no part. Faces also lift the
like ratio (x :data:`FACE_LIKES`), words lower it (x :data:`TEXT_LIKES`). The channel sets the
median (TikTok: three views per follower, at least 200; YouTube: a fifth of a view per
subscriber, at least 50) and, being large, brings its views sooner (``channel_tau``); the noise
is lognormal on both the count and ``tau``. Every function here is pure: the world draws the
noise from its own generators and passes it in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socialsim.media import Plan

FACE_VIEWS = 1.8
"""Final views of a video with a face in view, against one without."""
WORD_VIEWS = 1.2
"""Final views gained per word on screen (compounded: three words x 1.73)."""
DURATION_VIEWS = 0.75
"""Final views per second of length beyond 3 s (compounded: 2 s x 1.33, 4 s x 0.75)."""
BRIGHTNESS_VIEWS = 1.0
"""Elasticity of final views to the brightness factor (0.6 x 0.6, 1.4 x 1.4)."""
FACE_TAU = 0.6
"""Time constant of a video with a face (a face's views come sooner)."""
WORD_TAU = 1.25
"""Time constant per word on screen (words are read and shared later: three words x 1.95)."""
DURATION_TAU = 1.0
"""Elasticity of the time constant to the length (2 s x 0.67, 4 s x 1.33)."""
FACE_LIKES = 1.3
"""Like ratio of a video with a face."""
TEXT_LIKES = 0.85
"""Like ratio of a video with words on screen."""
MID_DURATION_S = 3.0
"""The length at which duration plays no part."""
TAU_DAYS = (0.05, 60.0)
"""``tau`` stays within these bounds (days)."""


@dataclass(frozen=True, slots=True)
class Platform:
    """The constants of one platform's process.

    Attributes:
        views_per_member: the channel's median final views per follower (subscriber).
        min_views: the channel's median final views at least.
        cap: final views at most.
        views_sigma: sigma of the lognormal noise on final views.
        base_tau_days: the median time constant (days).
        tau_sigma: sigma of the lognormal noise on the time constant.
        reference_members: a channel this size leaves the time constant as it is.
        channel_tau_elasticity: elasticity of the time constant to the channel's size.
        max_like_ratio: the like ratio at most.
    """

    views_per_member: float
    min_views: float
    cap: int
    views_sigma: float
    base_tau_days: float
    tau_sigma: float
    reference_members: float
    channel_tau_elasticity: float
    max_like_ratio: float


TIKTOK = Platform(
    views_per_member=3.0,
    min_views=200.0,
    cap=50_000_000,
    views_sigma=1.3,
    base_tau_days=1.5,
    tau_sigma=0.4,
    reference_members=400.0,
    channel_tau_elasticity=-0.15,
    max_like_ratio=0.25,
)
YOUTUBE = Platform(
    views_per_member=0.2,
    min_views=50.0,
    cap=2_000_000_000,
    views_sigma=1.2,
    base_tau_days=8.0,
    tau_sigma=0.6,
    reference_members=20_000.0,
    channel_tau_elasticity=-0.1,
    max_like_ratio=0.15,
)


@dataclass(frozen=True, slots=True)
class Appeal:
    """What a plan's visible content does to a video's views.

    Attributes:
        face: whether a face is in view.
        text_words: words on screen (0 but for ``text`` plans).
        duration_s: the video's length (None for a still, whose length plays no part).
        brightness: the plan's brightness factor.
    """

    face: bool
    text_words: int
    duration_s: float | None
    brightness: float

    @property
    def scale(self) -> float:
        """The product of the content's effects on final views."""
        return math.prod(self.views_effects().values())

    @property
    def tau_factor(self) -> float:
        """The product of the content's effects on the time constant."""
        return math.prod(self.tau_effects().values())

    @property
    def like_factor(self) -> float:
        """The product of the content's effects on the like ratio."""
        return math.prod(self.likes_effects().values())

    def views_effects(self) -> dict[str, float]:
        """Each factor's multiplier on final views (their product is :attr:`scale`)."""
        seconds = MID_DURATION_S if self.duration_s is None else self.duration_s
        return {
            "face": FACE_VIEWS if self.face else 1.0,
            "text": WORD_VIEWS**self.text_words,
            "duration": DURATION_VIEWS ** (seconds - MID_DURATION_S),
            "brightness": self.brightness**BRIGHTNESS_VIEWS,
        }

    def tau_effects(self) -> dict[str, float]:
        """Each factor's multiplier on the time constant (their product is
        :attr:`tau_factor`)."""
        seconds = MID_DURATION_S if self.duration_s is None else self.duration_s
        return {
            "face": FACE_TAU if self.face else 1.0,
            "text": WORD_TAU**self.text_words,
            "duration": (seconds / MID_DURATION_S) ** DURATION_TAU,
        }

    def likes_effects(self) -> dict[str, float]:
        """Each factor's multiplier on the like ratio (their product is :attr:`like_factor`)."""
        return {
            "face": FACE_LIKES if self.face else 1.0,
            "text": TEXT_LIKES if self.text_words else 1.0,
        }


def appeal(plan: Plan, *, moving: bool = True) -> Appeal:
    """What a media plan's visible content does to views.

    Args:
        plan: the plan whose bytes the CDN serves for the video.
        moving: whether the media is a video (False: a still, e.g. a YouTube thumbnail, whose
            length plays no part).

    Returns:
        The plan's appeal.
    """
    return Appeal(
        face=plan.face,
        text_words=len(plan.text.split()) if plan.content == "text" and plan.text else 0,
        duration_s=plan.duration_s if moving else None,
        brightness=plan.brightness,
    )


def normal(uniform: float) -> float:
    """A standard normal variate from a uniform one in ``[0, 1)`` (inverse CDF, clamped)."""
    return NormalDist().inv_cdf(min(max(uniform, 1e-9), 1.0 - 1e-9))


@dataclass(frozen=True, slots=True)
class Popularity:
    """A video's views, growth and likes, with everything they came from.

    Attributes:
        views_final: the count the views tend to.
        tau_s: the time constant of their growth (seconds).
        like_ratio: likes per view.
        appeal: the content's part.
        channel_size: followers (TikTok) or subscribers (YouTube) the channel's part comes
            from.
        channel_views: the channel's median final views (before content and noise).
        channel_tau: the channel's multiplier on the time constant.
        views_noise: the lognormal multiplier on final views.
        tau_noise: the lognormal multiplier on the time constant.
        like_base: the like ratio before the content's part.
        base_tau_days: the platform's median time constant.
    """

    views_final: int
    tau_s: float
    like_ratio: float
    appeal: Appeal
    channel_size: int
    channel_views: float
    channel_tau: float
    views_noise: float
    tau_noise: float
    like_base: float
    base_tau_days: float

    def truth(self) -> dict[str, Any]:
        """The process's factors and effects, as the truth endpoints serve them."""
        a = self.appeal
        return {
            "views_final": self.views_final,
            "scale": round(a.scale, 6),
            "tau_days": round(self.tau_s / 86400, 6),
            "like_ratio": round(self.like_ratio, 6),
            "factors": {
                "face": a.face,
                "text_words": a.text_words,
                "duration_s": a.duration_s,
                "brightness": a.brightness,
                "channel": self.channel_size,
                "noise": round(self.views_noise, 6),
                "tau_noise": round(self.tau_noise, 6),
            },
            "effects": {
                "views": {
                    "channel": round(self.channel_views, 3),
                    **{k: round(v, 6) for k, v in a.views_effects().items()},
                    "noise": round(self.views_noise, 6),
                },
                "tau_days": {
                    "base": self.base_tau_days,
                    **{k: round(v, 6) for k, v in a.tau_effects().items()},
                    "channel": round(self.channel_tau, 6),
                    "noise": round(self.tau_noise, 6),
                },
                "like_ratio": {
                    "base": round(self.like_base, 6),
                    **{k: round(v, 6) for k, v in a.likes_effects().items()},
                },
            },
        }


def combine(
    platform: Platform,
    content: Appeal,
    channel_size: int,
    *,
    views_noise: float,
    tau_uniform: float,
    like_base: float,
) -> Popularity:
    """A video's final views, time constant and like ratio.

    Args:
        platform: the platform's constants (:data:`TIKTOK`, :data:`YOUTUBE`).
        content: the appeal of the video's media (:func:`appeal`).
        channel_size: the channel's followers (subscribers).
        views_noise: a lognormal multiplier of median 1 and sigma ``platform.views_sigma``.
        tau_uniform: a uniform draw in ``[0, 1)`` for the time constant's noise.
        like_base: the like ratio before the content's part.

    Returns:
        The video's popularity.
    """
    channel_views = max(platform.min_views, channel_size * platform.views_per_member)
    views = min(platform.cap, int(channel_views * content.scale * views_noise))
    channel_tau = (max(1, channel_size) / platform.reference_members) ** (
        platform.channel_tau_elasticity
    )
    tau_noise = math.exp(platform.tau_sigma * normal(tau_uniform))
    low, high = TAU_DAYS
    tau_days = platform.base_tau_days * content.tau_factor * channel_tau * tau_noise
    return Popularity(
        views_final=views,
        tau_s=min(max(tau_days, low), high) * 86400,
        like_ratio=min(platform.max_like_ratio, like_base * content.like_factor),
        appeal=content,
        channel_size=channel_size,
        channel_views=channel_views,
        channel_tau=channel_tau,
        views_noise=views_noise,
        tau_noise=tau_noise,
        like_base=like_base,
        base_tau_days=platform.base_tau_days,
    )
