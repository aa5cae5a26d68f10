"""The dispatcher's work in the store: pick due accounts, start them as batches, close them.

Every step is one SQL statement over ``sync_schedules``:

- ``dispatch``: per platform, as many due accounts as the platform has room for, oldest due
  first, taken with ``FOR UPDATE SKIP LOCKED`` (two dispatchers never take the same account),
  each given a pending JobCall under a new batch JobCall in the same transaction. An account
  with a sync in flight (``running_job_call_id``) is never taken again until it closes.
- ``job_closed``: called in the transaction that closes a JobCall. A failed sync is due again
  after a backoff (1 min, doubling, at most the cadence) and the account counts as failing; any
  other outcome clears the failures. The account learns its external id from the profile.
- ``dispatch`` also returns the batches an earlier round made whose workflow never started
  (a worker died between the commit and the result): the dispatcher starts them.
- ``reap``: accounts whose JobCall was closed without them hearing of it, or that has shown no
  sign of life for ``STALE_AFTER``, are closed as failed (and so retried), never left stuck.

Room: a platform's accounts in flight are capped by what its providers' configured rate can
serve (``fleet_in_flight_per_rps`` per request/s; ``fleet_max_in_flight`` when unlimited), so
a fleet larger than the rate waits in the store as lag, not in the providers as 429s.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.providers import instagram_priority, rate_limits, tiktok_priority
from smcore.settings import Settings
from smcore.store import ledger
from smcore.store.models import JobKind, Status
from smcore.sync.models import Dispatched, Platform

log = structlog.get_logger(__name__)

STALE_AFTER = timedelta(hours=6)  # no ServiceCall or JobCall update for this long: reaped
BACKOFF_FIRST_S = 60
# A fleet batch still pending this long after it was made: its round's result was lost (the
# worker died between committing the batch and returning it); the dispatcher starts it again.
ORPHAN_AFTER = timedelta(minutes=2)


def providers_of(settings: Settings) -> dict[Platform, tuple[str, ...]]:
    """The providers each platform's calls go to (Instagram's in failover order)."""
    return {
        Platform.INSTAGRAM: tuple(instagram_priority(settings)),
        Platform.YOUTUBE: ("youtube",),
        Platform.TIKTOK: tuple(tiktok_priority(settings)),
    }


def capacity(settings: Settings) -> dict[Platform, int]:
    """Accounts each platform may have in flight at once."""
    limits = rate_limits(settings)
    room: dict[Platform, int] = {}
    for platform, providers in providers_of(settings).items():
        if not providers or any(p not in limits for p in providers):
            room[platform] = settings.fleet_max_in_flight
        else:
            rps = sum(limits[p].rps for p in providers)
            room[platform] = max(1, math.ceil(rps * settings.fleet_in_flight_per_rps))
    return room


_IN_FLIGHT = text(
    "SELECT platform, count(*) FROM sync_schedules "
    "WHERE running_job_call_id IS NOT NULL GROUP BY platform"
)
_PICK = text(
    """
    SELECT id FROM sync_schedules
    WHERE platform = :platform AND enabled AND running_job_call_id IS NULL
      AND next_due_at <= :now
    ORDER BY next_due_at
    LIMIT :n
    FOR UPDATE SKIP LOCKED
    """
)
# The children's params are what ``sync.service.create_job`` writes, plus the account's id.
_START = text(
    """
    WITH jobs AS (
        INSERT INTO job_calls (platform, kind, params, subject_id, parent_job_call_id)
        SELECT s.platform, 'sync',
               jsonb_build_object(
                   'username', CASE WHEN s.ext_id IS NULL THEN s.username END,
                   'ext_id', s.ext_id, 'scope', s.scope, 'until_id', NULL,
                   'until_taken_at', NULL, 'full', false, 'refresh_days', s.refresh_days,
                   'fleet_account_id', s.id),
               (SELECT p.id FROM social_profiles p
                WHERE p.platform = s.platform AND CASE WHEN s.ext_id IS NOT NULL
                    THEN p.ext_id = s.ext_id ELSE p.username = s.username END
                LIMIT 1),
               :batch
        FROM sync_schedules s
        WHERE s.id = ANY(CAST(:ids AS bigint[]))
        ORDER BY s.id
        RETURNING id, CAST(params ->> 'fleet_account_id' AS bigint) AS account_id
    )
    UPDATE sync_schedules s SET
        running_job_call_id = jobs.id,
        last_job_call_id = jobs.id,
        last_started_at = :now,
        last_lag_s = greatest(0, extract(epoch FROM CAST(:now AS timestamptz) - s.next_due_at)),
        -- in phase with the cadence; a late account is not due again within half a cadence;
        -- a little jitter keeps accounts imported together from staying together
        next_due_at = greatest(
                s.next_due_at + make_interval(secs => s.interval_seconds),
                CAST(:now AS timestamptz) + make_interval(secs => s.interval_seconds * 0.5))
            + make_interval(secs => random() * least(s.interval_seconds * 0.05, 300)),
        updated_at = :now
    FROM jobs WHERE s.id = jobs.account_id
    RETURNING s.id
    """
)
_ORPHANS = text(
    """
    SELECT id FROM job_calls
    WHERE kind = 'batch' AND status = 'pending' AND params ->> 'fleet' = 'true'
      AND created_at < :before
    ORDER BY id LIMIT 20
    """
)
_NEXT_DUE = text(
    "SELECT extract(epoch FROM min(next_due_at) - CAST(:now AS timestamptz)) "
    "FROM sync_schedules WHERE enabled AND running_job_call_id IS NULL"
)


async def dispatch(
    engine: AsyncEngine,
    room: dict[Platform, int],
    *,
    batch_size: int = 100,
    now: datetime | None = None,
) -> Dispatched:
    """Start the due accounts there is room for, as batches of at most ``batch_size``."""
    now = now or datetime.now(UTC)
    reaped = await reap(engine, now=now)
    batches: list[int] = []
    accounts = 0
    full = False
    async with engine.connect() as conn:
        in_flight = {str(p): int(n) for p, n in (await conn.execute(_IN_FLIGHT)).all()}
    for platform, cap in room.items():
        free = cap - in_flight.get(str(platform), 0)
        while free > 0:
            async with engine.begin() as conn:
                ids = [
                    r[0]
                    for r in await conn.execute(
                        _PICK,
                        {"platform": str(platform), "now": now, "n": min(batch_size, free)},
                    )
                ]
                if not ids:
                    break
                batch = await ledger.create_job(
                    conn,
                    platform=str(platform),
                    kind=JobKind.BATCH,
                    params={"size": len(ids), "fleet": True},
                )
                started = (
                    await conn.execute(_START, {"ids": ids, "batch": batch, "now": now})
                ).all()
            batches.append(batch)
            accounts += len(started)
            free -= len(started)
        if free <= 0:
            full = True
    async with engine.connect() as conn:
        wait = await conn.scalar(_NEXT_DUE, {"now": now})
        orphans = list(await conn.scalars(_ORPHANS, {"before": now - ORPHAN_AFTER}))
    if accounts or reaped:
        log.info("fleet_dispatched", batches=len(batches), accounts=accounts, reaped=reaped)
    return Dispatched(
        batches, accounts, reaped, None if wait is None else float(wait), full, orphans
    )


_CLOSE = text(
    """
    UPDATE sync_schedules s SET
        running_job_call_id = NULL,
        last_status = :status,
        last_error = :error,
        last_finished_at = :now,
        failures = CASE WHEN :failed THEN s.failures + 1 ELSE 0 END,
        next_due_at = CASE WHEN :failed
            THEN CAST(:now AS timestamptz) + make_interval(secs =>
                least(s.interval_seconds, :backoff * power(2, least(s.failures, 20))))
            ELSE s.next_due_at END,
        ext_id = CASE
            WHEN s.ext_id IS NULL AND p.ext_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM sync_schedules o
                WHERE o.platform = s.platform AND o.ext_id = p.ext_id)
            THEN p.ext_id ELSE s.ext_id END,
        username = CASE WHEN s.ext_id IS NOT NULL THEN coalesce(p.username, s.username)
            ELSE s.username END,
        updated_at = :now
    FROM job_calls j LEFT JOIN social_profiles p ON p.id = j.subject_id
    WHERE s.running_job_call_id = :job AND j.id = :job
    RETURNING s.id
    """
)


async def job_closed(
    conn: AsyncConnection,
    job_id: int,
    status: Status,
    error: str | None,
    *,
    now: datetime | None = None,
) -> bool:
    """Tell the fleet a JobCall closed (in the closing transaction); False: not a fleet job."""
    result = await conn.execute(
        _CLOSE,
        {
            "job": job_id,
            "status": str(status),
            "error": error,
            "failed": status is Status.FAILED,
            "backoff": BACKOFF_FIRST_S,
            "now": now or datetime.now(UTC),
        },
    )
    return bool(result.all())


_STUCK = text(
    """
    SELECT s.running_job_call_id, j.status FROM sync_schedules s
    JOIN job_calls j ON j.id = s.running_job_call_id
    WHERE s.running_job_call_id IS NOT NULL AND (
        j.status NOT IN ('pending', 'running')
        OR (j.updated_at < :stale AND NOT EXISTS (
            SELECT 1 FROM service_calls c
            WHERE c.job_call_id = j.id AND c.updated_at >= :stale)))
    """
)


async def reap(engine: AsyncEngine, *, now: datetime | None = None) -> int:
    """Close the accounts whose sync ended without closing them, or went silent; how many."""
    now = now or datetime.now(UTC)
    async with engine.begin() as conn:
        stuck = (await conn.execute(_STUCK, {"stale": now - STALE_AFTER})).all()
        for job_id, status in stuck:
            if status in (Status.PENDING, Status.RUNNING):
                why = f"no sign of life for {STALE_AFTER}: closed by the fleet dispatcher"
                await ledger.fail_job(conn, job_id, why)
                await job_closed(conn, job_id, Status.FAILED, why, now=now)
            else:
                await job_closed(conn, job_id, Status(status), None, now=now)
    return len(stuck)
