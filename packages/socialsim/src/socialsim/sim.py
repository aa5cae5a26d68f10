"""Everything a request can touch: the world, cursors, faults, rate limits, quota, stats,
media."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from socialsim import media
from socialsim.cursors import Cursors
from socialsim.faults import DailyQuota, FaultConfig, FaultPlan, Quota, TokenBucket
from socialsim.stats import Stats
from socialsim.world import World, WorldConfig

ApiName = Literal["rocket", "scraper", "youtube", "tikapi23", "tikwm", "research"]
API_NAMES: tuple[ApiName, ...] = ("rocket", "scraper", "youtube", "tikapi23", "tikwm", "research")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """A simulator's settings (the ``serve`` command's options).

    Attributes:
        world: what the world is made of.
        faults: injected latency, rate limits, quota and faults.
        api_key: the one key every API accepts.
        expire_cursors: reject cursors older than ``cursor_ttl_s``.
        cursor_ttl_s: cursor lifetime in wall-clock seconds, when they expire.
        research_daily_requests: TikTok Research API requests per UTC day (followers and
            following apart).
        research_daily_records: records the Research API returns per UTC day (idem).
        research_follow_daily_requests: Research API follower/following requests per UTC day.
        research_follow_daily_records: follower/following records per UTC day.
        cdn_ttl_hours: how long a media URL works after the API served it (simulated hours).
    """

    world: WorldConfig = field(default_factory=WorldConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    api_key: str = "sim-key"
    expire_cursors: bool = False
    cursor_ttl_s: float = 20.0
    research_daily_requests: int = 1_000
    research_daily_records: int = 100_000
    research_follow_daily_requests: int = 20_000
    research_follow_daily_records: int = 2_000_000
    cdn_ttl_hours: float = 72.0


class Sim:
    """The simulator's state, shared by every endpoint.

    Args:
        config: the simulator's settings.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        seed = config.world.seed
        self.world = World(config.world)
        self.cursors = Cursors(seed, config.cursor_ttl_s if config.expire_cursors else None)
        self.faults = FaultPlan(seed, config.faults)
        self.stats = Stats()
        rate = config.faults.rate_limit
        self.buckets: dict[ApiName, TokenBucket] = (
            {name: TokenBucket(rate) for name in API_NAMES} if rate else {}
        )
        self.quota = Quota(config.faults.quota) if config.faults.quota is not None else None
        self.research_quota = DailyQuota(
            config.research_daily_requests, config.research_daily_records
        )
        """The Research API's daily budget (video and user info, comments)."""
        self.research_follow_quota = DailyQuota(
            config.research_follow_daily_requests, config.research_follow_daily_records
        )
        """The Research API's daily budget for followers and following."""
        self.media = media.Library(seed)
        """Content plans and rendered bytes of the world's media (the CDN's)."""
        self.short_users: dict[int, dict[str, Any]] = {}
        """Rendered ``SHORT_USER`` payloads by account index (accounts never change)."""
