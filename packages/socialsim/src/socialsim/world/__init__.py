"""The simulated world: Instagram, YouTube and TikTok under one simulated clock.

Importable and usable without a server::

    world = World(WorldConfig(seed=7, profiles=50))
    world.instagram.find_username("user_0001")
    world.advance(24)
"""

from __future__ import annotations

from dataclasses import dataclass

from socialsim.world.clock import Clock, Step
from socialsim.world.instagram import Instagram
from socialsim.world.tiktok import TikTok
from socialsim.world.youtube import YouTube

__all__ = ["World", "WorldConfig"]


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """What a world is made of; the same config always builds the same world.

    Attributes:
        seed: the seed every random choice derives from.
        profiles: Instagram profiles ``user_0001`` ….
        channels: YouTube channels ``@channel0001`` ….
        giant_followers: followers of an extra ``giant`` profile (0 and no giant posts: none).
        giant_posts: posts of the ``giant`` profile.
        tiktok_accounts: TikTok creators ``tt_user_0001`` … (a ``tt_giant`` comes on top; 0:
            no TikTok accounts at all).
    """

    seed: int = 0
    profiles: int = 200
    channels: int = 20
    giant_followers: int = 0
    giant_posts: int = 0
    tiktok_accounts: int = 30


class World:
    """Instagram, YouTube and TikTok, deterministic from the config and the clock's steps.

    Args:
        config: the world's config (defaults when None).
    """

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.clock = Clock()
        self.instagram = Instagram(
            seed=self.config.seed,
            profiles=self.config.profiles,
            giant_followers=self.config.giant_followers,
            giant_posts=self.config.giant_posts,
            clock=self.clock,
        )
        self.youtube = YouTube(
            seed=self.config.seed, channels=self.config.channels, clock=self.clock
        )
        self.tiktok = TikTok(
            seed=self.config.seed, accounts=self.config.tiktok_accounts, clock=self.clock
        )

    @property
    def now(self) -> int:
        """Simulated time, unix seconds."""
        return self.clock.now

    def advance(self, hours: float) -> Step:
        """Move simulated time forward: new posts, videos and followers, some unfollows.

        Args:
            hours: how far (positive).

        Returns:
            The step taken.
        """
        return self.clock.advance(hours)
