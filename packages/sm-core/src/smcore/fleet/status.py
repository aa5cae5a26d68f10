"""The fleet at a glance: accounts by state, and how late they are against their cadence.

States, each account in exactly one (the first that applies):

``disabled``
    not synced on a cadence.
``running``
    a sync is in flight.
``failing``
    its last sync failed; it is retried with backoff (``failures`` in a row).
``overdue``
    due for longer than a tenth of its cadence (at least a minute): the fleet is behind.
``due``
    due, and about to be started.
``scheduled``
    synced, next due later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class State(StrEnum):
    DISABLED = "disabled"
    RUNNING = "running"
    FAILING = "failing"
    OVERDUE = "overdue"
    DUE = "due"
    SCHEDULED = "scheduled"


# The one definition of the states, in SQL (the order of the CASE is the precedence).
_STATE = """
    CASE
        WHEN NOT s.enabled THEN 'disabled'
        WHEN s.running_job_call_id IS NOT NULL THEN 'running'
        WHEN s.failures > 0 THEN 'failing'
        WHEN s.next_due_at < CAST(:now AS timestamptz)
            - make_interval(secs => greatest(60, s.interval_seconds * 0.1)) THEN 'overdue'
        WHEN s.next_due_at <= CAST(:now AS timestamptz) THEN 'due'
        ELSE 'scheduled'
    END
"""
_LAG = "greatest(0, extract(epoch FROM CAST(:now AS timestamptz) - s.next_due_at))"

_SUMMARY = text(
    f"""
    SELECT s.platform, {_STATE} AS state, count(*) AS n
    FROM sync_schedules s GROUP BY 1, 2
    """,  # noqa: S608 - only the constants _STATE and _LAG are formatted in
)
_LAGS = text(
    f"""
    SELECT
        percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY {_LAG}),
        max({_LAG}),
        percentile_cont(ARRAY[0.5, 0.9, 0.99])
            WITHIN GROUP (ORDER BY {_LAG} / s.interval_seconds),
        percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY s.last_lag_s)
    FROM sync_schedules s
    WHERE s.enabled AND s.running_job_call_id IS NULL
    """,  # noqa: S608 - only the constants _STATE and _LAG are formatted in
)
_ACCOUNTS = text(
    f"""
    SELECT s.id, s.platform, s.username, s.ext_id, s.scope, s.interval_seconds AS cadence_s,
           {_STATE} AS state, s.next_due_at, {_LAG} AS lag_s, s.failures, s.last_status,
           s.last_error, s.last_job_call_id, s.last_started_at, s.last_finished_at
    FROM sync_schedules s
    WHERE (CAST(:state AS text) IS NULL OR {_STATE} = :state)
      AND (CAST(:platform AS text) IS NULL OR s.platform = :platform)
      AND s.id > :after_id
    ORDER BY s.id
    LIMIT :limit
    """,  # noqa: S608 - only the constants _STATE and _LAG are formatted in
)


@dataclass
class Lag:
    """Percentiles of how late idle accounts are (seconds, and as a fraction of cadence)."""

    p50_s: float = 0.0
    p90_s: float = 0.0
    p99_s: float = 0.0
    max_s: float = 0.0
    p50_of_cadence: float = 0.0
    p90_of_cadence: float = 0.0
    p99_of_cadence: float = 0.0
    # How late the last syncs started (seconds after their due time).
    started_p50_s: float | None = None
    started_p90_s: float | None = None
    started_p99_s: float | None = None


@dataclass
class FleetStatus:
    accounts: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_platform: dict[str, dict[str, int]] = field(default_factory=dict)
    lag: Lag = field(default_factory=Lag)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def status(engine: AsyncEngine, *, now: datetime | None = None) -> FleetStatus:
    """Counts by state (and by platform), and the lag percentiles."""
    now = now or datetime.now(UTC)
    report = FleetStatus(by_state=dict.fromkeys(State, 0))
    async with engine.connect() as conn:
        for platform, state, n in (await conn.execute(_SUMMARY, {"now": now})).all():
            report.accounts += n
            report.by_state[state] += n
            report.by_platform.setdefault(platform, dict.fromkeys(State, 0))[state] += n
        row = (await conn.execute(_LAGS, {"now": now})).one()
    lag_s, lag_max, of_cadence, started = row
    if lag_s is not None:
        p50, p90, p99 = (float(v) for v in lag_s)
        c50, c90, c99 = (float(v) for v in of_cadence)
        s50, s90, s99 = ((float(v) if v is not None else None) for v in (started or [None] * 3))
        report.lag = Lag(p50, p90, p99, float(lag_max), c50, c90, c99, s50, s90, s99)
    return report


async def accounts(
    engine: AsyncEngine,
    *,
    state: State | None = None,
    platform: str | None = None,
    limit: int = 100,
    after_id: int = 0,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Accounts with their state and last result, by id (``state`` / ``platform`` filter),
    those after ``after_id`` (the previous page's last)."""
    params = {
        "now": now or datetime.now(UTC),
        "state": str(state) if state else None,
        "platform": platform,
        "limit": limit,
        "after_id": after_id,
    }
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(_ACCOUNTS, params)).all()]
