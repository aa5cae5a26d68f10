"""Per-provider rate limits that hold across processes and machines, kept in PostgreSQL.

GCRA (the generic cell rate algorithm) in one statement: each call moves the provider's
theoretical arrival time (``tat``) forward by one interval and learns how long it must wait
for its slot. No polling loops, one round trip per request, and a 429 pushes ``tat`` out for
every worker at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from smcore.metrics import RATE_LIMIT_WAIT

_RESERVE = text(
    """
    INSERT INTO provider_rate_limits AS r (provider, tat)
    VALUES (:provider, clock_timestamp() + make_interval(secs => :interval))
    ON CONFLICT (provider) DO UPDATE
        SET tat = GREATEST(r.tat, clock_timestamp()) + make_interval(secs => :interval)
    RETURNING GREATEST(0, EXTRACT(EPOCH FROM (r.tat - clock_timestamp())) - :burst * :interval)
    """
)
_PENALIZE = text(
    """
    INSERT INTO provider_rate_limits AS r (provider, tat)
    VALUES (:provider, clock_timestamp() + make_interval(secs => :hold))
    ON CONFLICT (provider) DO UPDATE
        SET tat = GREATEST(r.tat, clock_timestamp() + make_interval(secs => :hold))
    """
)


@dataclass(frozen=True)
class Limit:
    """``rps`` requests a second on average, bursts of up to ``burst`` at once."""

    rps: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.rps <= 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs rps > 0 and burst >= 1, got {self}")


class PostgresRateLimiter:
    """The shared limiter; providers without a limit pass straight through."""

    def __init__(self, engine: AsyncEngine, limits: Mapping[str, Limit]) -> None:
        self.engine = engine
        self.limits = dict(limits)

    async def reserve(self, provider: str) -> float:
        """Reserve the next slot; return the seconds to wait for it."""
        limit = self.limits.get(provider)
        if limit is None:
            return 0.0
        async with self.engine.begin() as conn:
            wait = await conn.scalar(
                _RESERVE, {"provider": provider, "interval": 1.0 / limit.rps, "burst": limit.burst}
            )
        return float(wait or 0.0)

    async def acquire(self, provider: str) -> None:
        wait = await self.reserve(provider)
        if provider in self.limits:
            RATE_LIMIT_WAIT.labels(provider, "limiter").observe(wait)
        if wait > 0:
            await asyncio.sleep(wait)

    async def penalize(self, provider: str, seconds: float) -> None:
        limit = self.limits.get(provider)
        if limit is None or seconds <= 0:
            return
        hold = seconds + limit.burst / limit.rps
        async with self.engine.begin() as conn:
            await conn.execute(_PENALIZE, {"provider": provider, "hold": hold})
