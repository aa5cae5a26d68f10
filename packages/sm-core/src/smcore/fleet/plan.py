"""Plan before load: the provider calls a day the fleet needs, against each provider's rate and
daily quota, and which cadences cannot be met.

Per account and stream, a steady-state sync costs what the stream's ``cost`` says
(``smcore.sync.streams``) for the account's stored sizes (followers, posts in the refresh
window); items a call returns are measured from the ledger's last week where it has enough
calls, else the stream's ``per_page``. Accounts never synced are costed as the fleet's median
known account (or one call per stream when none is known). Calls a day = calls a sync x
syncs a day (86,400 / cadence). Each platform's calls are charged to its first provider (the
others are failover). The first sync's history backfill is not in the figures: it is paid once.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from smcore.fleet.dispatch import providers_of
from smcore.providers import daily_quotas, rate_limits
from smcore.settings import Settings
from smcore.sync import streams
from smcore.sync.models import DEFAULT_REFRESH_DAYS, Platform, Scope
from smcore.sync.streams import Sizes

DAY_S = 86_400
MIN_MEASURED_CALLS = 20

_ACCOUNTS = text(
    """
    SELECT s.platform, s.scope, s.interval_seconds, p.id IS NOT NULL AS known,
           coalesce(p.followers_count, 0), coalesce(p.follows_count, 0),
           coalesce(p.posts_count, 0), coalesce(p.is_private, false),
           (SELECT count(*) FROM posts x WHERE x.social_profile_id = p.id
              AND x.product_type <> 'story'
              AND x.taken_at > CAST(:now AS timestamptz)
                  - make_interval(days => coalesce(s.refresh_days, :refresh)::int))
    FROM sync_schedules s
    LEFT JOIN LATERAL (
        SELECT * FROM social_profiles p WHERE p.platform = s.platform AND CASE
            WHEN s.ext_id IS NOT NULL THEN p.ext_id = s.ext_id ELSE p.username = s.username END
        LIMIT 1) p ON true
    WHERE s.enabled
    """
)
_PER_PAGE = text(
    """
    SELECT j.platform, c.stream, count(*),
           avg(CAST(c.result_summary ->> 'items' AS float8))
    FROM service_calls c JOIN job_calls j ON j.id = c.job_call_id
    WHERE c.status = 'succeeded' AND c.created_at > :since
      AND c.result_summary ? 'items' AND (c.result_summary ->> 'has_more') = 'true'
    GROUP BY 1, 2
    """
)


@dataclass
class CadenceLoad:
    cadence_s: int
    accounts: int = 0
    calls_per_day: float = 0.0


@dataclass
class ProviderLoad:
    """One provider: what the fleet asks of it a day, and what it can give."""

    provider: str
    platform: str
    accounts: int = 0
    calls_per_day: float = 0.0
    by_stream: dict[str, float] = field(default_factory=dict)
    by_cadence: list[CadenceLoad] = field(default_factory=list)
    rate_rps: float | None = None
    daily_quota: int | None = None
    capacity_per_day: float | None = None  # the lower of rate x 86,400 and the quota
    load: float | None = None  # needed / capacity (> 1: cannot be met)
    verdict: str = ""


@dataclass
class FleetPlan:
    accounts: int = 0
    unknown_accounts: int = 0
    calls_per_day: float = 0.0
    calls_per_s: float = 0.0
    providers: list[ProviderLoad] = field(default_factory=list)
    per_page: dict[str, float] = field(default_factory=dict)
    feasible: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def plan(
    settings: Settings, engine: AsyncEngine, *, now: datetime | None = None
) -> FleetPlan:
    """The fleet's provider load a day, per provider, stream and cadence."""
    now = now or datetime.now(UTC)
    async with engine.connect() as conn:
        rows = (await conn.execute(_ACCOUNTS, {"now": now, "refresh": DEFAULT_REFRESH_DAYS})).all()
        measured = (await conn.execute(_PER_PAGE, {"since": now - timedelta(days=7)})).all()
    per_page = {
        (str(platform), str(stream)): float(avg)
        for platform, stream, n, avg in measured
        if n >= MIN_MEASURED_CALLS and avg
    }
    known = [r for r in rows if r[3]]
    median = _median_sizes(known)
    providers = providers_of(settings)
    loads: dict[str, ProviderLoad] = {}
    cadences: dict[tuple[str, int], CadenceLoad] = {}
    result = FleetPlan(accounts=len(rows), unknown_accounts=len(rows) - len(known))
    for platform_s, scope, cadence_s, is_known, *size in rows:
        platform = Platform(platform_s)
        sizes = _sizes(size) if is_known else median
        provider = providers[platform][0]
        load = loads.setdefault(provider, ProviderLoad(provider, platform))
        cad = cadences.setdefault((provider, cadence_s), CadenceLoad(cadence_s))
        load.accounts += 1
        cad.accounts += 1
        per_day = DAY_S / cadence_s
        for name in streams.plan(platform, Scope(scope)):
            spec = streams.stream(platform, name)
            page = per_page.get((platform, name), float(spec.per_page))
            calls = spec.cost(sizes, page) * per_day
            load.by_stream[name] = load.by_stream.get(name, 0.0) + calls
            load.calls_per_day += calls
            cad.calls_per_day += calls
    for (provider, _), cad in sorted(cadences.items(), key=lambda kv: kv[0][1]):
        loads[provider].by_cadence.append(cad)
    for load in loads.values():
        _judge(settings, load)
        result.providers.append(load)
        result.calls_per_day += load.calls_per_day
        result.feasible = result.feasible and (load.load is None or load.load <= 1)
    result.calls_per_s = result.calls_per_day / DAY_S
    result.per_page = {f"{p}.{s}": round(v, 1) for (p, s), v in sorted(per_page.items())}
    return result


def _sizes(values: list[Any]) -> Sizes:
    followers, follows, posts, private, window = values
    return Sizes(int(followers), int(follows), int(posts), bool(private), int(window))


def _median_sizes(known: list[Any]) -> Sizes:
    if not known:
        return Sizes()
    columns = list(zip(*(r[4:] for r in known), strict=True))

    def med(i: int) -> int:
        return int(statistics.median(int(v) for v in columns[i]))

    private = sum(1 for v in columns[3] if v) > len(known) / 2
    return Sizes(med(0), med(1), med(2), private, med(4))


def _judge(settings: Settings, load: ProviderLoad) -> None:
    """Capacity, load and a verdict that says which cadence fails and by how much."""
    limit = rate_limits(settings).get(load.provider)
    load.rate_rps = limit.rps if limit else None
    load.daily_quota = daily_quotas(settings).get(load.provider)
    limits = [v for v in (load.rate_rps and load.rate_rps * DAY_S, load.daily_quota) if v]
    load.by_stream = {k: round(v, 1) for k, v in load.by_stream.items()}
    if not limits:
        load.verdict = "no rate or quota configured: nothing to check against"
        return
    load.capacity_per_day = float(min(limits))
    load.load = load.calls_per_day / load.capacity_per_day
    if load.load <= 1:
        load.verdict = f"fits: {load.load:.0%} of capacity"
        return
    worst = max(load.by_cadence, key=lambda c: c.calls_per_day)
    load.verdict = (
        f"cannot be met: needs {load.load:.2f}x the capacity "
        f"({load.calls_per_day:,.0f} calls/day, can serve {load.capacity_per_day:,.0f}); "
        f"every cadence would stretch by {load.load:.2f}x (e.g. {_human(worst.cadence_s)} → "
        f"{_human(int(worst.cadence_s * load.load))}); the heaviest is "
        f"{_human(worst.cadence_s)} with {worst.accounts} accounts, "
        f"{worst.calls_per_day / load.calls_per_day:.0%} of the calls"
    )


def _human(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if (seconds >= size and seconds % size == 0) or seconds >= 10 * size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds}s"
