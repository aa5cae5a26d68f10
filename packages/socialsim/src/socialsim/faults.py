"""Injected trouble: latency, rate limits, the YouTube and TikTok Research quotas, transport
faults, the providers' own errors, bad items.

Random choices come from generators seeded from the world's seed, one per concern, so the
sequence of faults depends only on the sequence of requests: a rate-limited request still
draws its fault first, and truncation draws never shift transport faults.

Malformed single items (``bad_item_rate``) are no draw at all: whether an item is malformed
is a hash of (seed, item kind, item id), so the same item is malformed on every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from socialsim.world.clock import pacific_day

TransportFault = Literal["5xx", "timeout", "drop", "malformed"]
TRANSPORT_FAULTS: tuple[TransportFault, ...] = ("5xx", "timeout", "drop", "malformed")
FaultKind = Literal[
    "5xx",
    "timeout",
    "drop",
    "malformed",
    "truncated",
    "expired_cursor",
    "rate_limited",
    "quota",
    "bad_item",
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "5xx",
    "timeout",
    "drop",
    "malformed",
    "truncated",
    "expired_cursor",
    "rate_limited",
    "quota",
    "bad_item",
)
ItemKind = Literal["media", "comment", "user", "playlistItem", "video", "commentThread"]
"""Kinds of list items that may be malformed; an item's id is unique within its kind."""


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Fault settings (see the ``serve`` command's options).

    Attributes:
        latency_ms: mean added latency per API response (0: none).
        rate_limit: requests per second per API (None: unlimited).
        fault_rate: share of API requests that get a transport fault.
        truncate_rate: share of follower/following pages that end early.
        quota: YouTube units per Pacific day (None: unlimited).
        timeout_fault_s: how long a "timeout" fault holds the response.
        bad_item_rate: share of list items served malformed (always the same items).
    """

    latency_ms: float = 0.0
    rate_limit: float | None = None
    fault_rate: float = 0.0
    truncate_rate: float = 0.0
    quota: int | None = None
    timeout_fault_s: float = 30.0
    bad_item_rate: float = 0.0


class TokenBucket:
    """A token bucket: ``rate`` tokens a second, at most a quarter second's worth stored.

    Providers meter short windows: a client that sits idle (say, after a timeout) may send a
    small burst, not a whole second's worth at once.

    Args:
        rate: refill per second.
        wall_clock: time source (monotonic seconds).
    """

    def __init__(self, rate: float, wall_clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate / 4)
        self.tokens = self.capacity
        self._wall_clock = wall_clock
        self._last = wall_clock()

    def take(self) -> float | None:
        """Take a token.

        Returns:
            None when granted, else the seconds until a token will be available.
        """
        now = self._wall_clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


def retry_after(wait_s: float) -> int:
    """The ``Retry-After`` value for a wait: whole seconds, rounded down (so 0 happens)."""
    return math.floor(wait_s)


class Quota:
    """YouTube's daily quota: ``units`` per calendar day in America/Los_Angeles.

    Args:
        units: units per day.
    """

    def __init__(self, units: int) -> None:
        self.units = units
        self.used = 0
        self.day: dt.date | None = None

    def charge(self, sim_now: int, cost: int = 1) -> bool:
        """Spend ``cost`` units at simulated time ``sim_now``; False when the day's are gone."""
        day = pacific_day(sim_now)
        if day != self.day:
            self.day, self.used = day, 0
        if self.used + cost > self.units:
            return False
        self.used += cost
        return True


class DailyQuota:
    """A budget of requests and of returned records per UTC day (TikTok's Research API).

    A request is refused once either is spent; the records a request returns are charged after
    it is answered, so the last answered request may overshoot the records budget.

    Args:
        requests: requests per day.
        records: records per day.
    """

    def __init__(self, requests: int, records: int) -> None:
        self.requests = requests
        self.records = records
        self.used_requests = 0
        self.used_records = 0
        self.day: dt.date | None = None

    def _roll(self, sim_now: int) -> None:
        day = dt.datetime.fromtimestamp(sim_now, dt.UTC).date()
        if day != self.day:
            self.day, self.used_requests, self.used_records = day, 0, 0

    def admit(self, sim_now: int) -> bool:
        """Spend one request at simulated time ``sim_now``; False when the day's budget is
        gone (requests or records)."""
        self._roll(sim_now)
        if self.used_requests >= self.requests or self.used_records >= self.records:
            return False
        self.used_requests += 1
        return True

    def charge_records(self, sim_now: int, records: int) -> None:
        """Spend the records an answered request returned."""
        self._roll(sim_now)
        self.used_records += records


class FaultPlan:
    """The random side of faults: which request fails, how, and how late answers come.

    Args:
        seed: the world's seed.
        config: fault settings.
    """

    def __init__(self, seed: int, config: FaultConfig) -> None:
        self.config = config
        self._seed = seed
        # A simulation wants reproducible draws, not secrets: random.Random is the point.
        self._faults = random.Random(f"{seed}/faults")  # noqa: S311
        self._truncation = random.Random(f"{seed}/truncation")  # noqa: S311
        self._latency = random.Random(f"{seed}/latency")  # noqa: S311
        self._provider = random.Random(f"{seed}/provider-errors")  # noqa: S311
        sigma = 0.5
        self._latency_mu = math.log(max(config.latency_ms, 1e-9) / 1000) - sigma * sigma / 2
        self._latency_sigma = sigma

    def transport_fault(self) -> TransportFault | None:
        """Whether this API request gets a transport fault, and which."""
        if self.config.fault_rate <= 0:
            return None
        draw = self._faults.random()
        kind = self._faults.choice(TRANSPORT_FAULTS)
        return kind if draw < self.config.fault_rate else None

    def provider_error(self, share: float = 1.0) -> bool:
        """Whether this request gets an error the provider answers itself (the Research API's
        ``internal_error``, an expired ``search_id``): ``share`` of ``fault_rate``, drawn apart
        from transport faults so that these never shift them."""
        if self.config.fault_rate <= 0:
            return False
        return self._provider.random() < self.config.fault_rate * share

    def truncate(self) -> bool:
        """Whether this follower/following page ends early."""
        if self.config.truncate_rate <= 0:
            return False
        return self._truncation.random() < self.config.truncate_rate

    def latency_s(self) -> float:
        """Delay for this response (lognormal with the configured mean; 0 when off)."""
        if self.config.latency_ms <= 0:
            return 0.0
        return self._latency.lognormvariate(self._latency_mu, self._latency_sigma)

    def server_error(self) -> int:
        """Which 5xx status a "5xx" fault answers."""
        return self._faults.choice((500, 502, 503))

    def bad_item(self, kind: ItemKind, item_id: str) -> bool:
        """Whether a list item is served malformed: a pure function of the seed, the item's
        kind and its id (Instagram pk, YouTube video or comment thread id)."""
        rate = self.config.bad_item_rate
        if rate <= 0:
            return False
        key = f"{self._seed}/bad-item/{kind}/{item_id}".encode()
        draw = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
        return draw < rate * 2**64
