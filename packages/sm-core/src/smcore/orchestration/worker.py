"""The worker: one engine, one provider client, the sync activities and workflows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from smcore.fleet import accounts as fleet
from smcore.fleet.dispatch import capacity
from smcore.orchestration import client as orchestration
from smcore.orchestration import task_queue
from smcore.orchestration.activities import SyncActivities
from smcore.orchestration.workflows import (
    FleetDispatcherWorkflow,
    ScheduledSyncWorkflow,
    SyncBatchWorkflow,
    SyncProfileWorkflow,
    TransformWorkflow,
)
from smcore.providers import Providers, rate_limits
from smcore.providers.ratelimit import PostgresRateLimiter
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.models import Platform, ScheduleInput
from smcore.sync.service import SyncService
from smcore.transform.service import transformer

GRACEFUL_SHUTDOWN = timedelta(seconds=30)
POOL_SPARE = 4  # connections beyond the syncs': the bookkeeping activities, the dispatcher's


def pool_size(slots: int) -> int:
    """Connections a worker keeps open for ``slots`` syncs at once.

    Every stream holds a session connection for its lock (``Engine.locked``) while its pages
    commit on another: two per sync, so syncs holding their locks never all wait for a page's
    connection. They stay open: a connection opened and closed per page (a pool's overflow)
    costs PostgreSQL a backend start and the worker a connect, about every other account.
    """
    return 2 * slots + POOL_SPARE


WORKFLOWS = [
    SyncProfileWorkflow,
    SyncBatchWorkflow,
    ScheduledSyncWorkflow,
    FleetDispatcherWorkflow,
    TransformWorkflow,
]


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    *,
    database_url: str,
    client: Client,
    max_concurrent_activities: int = 16,
    dispatch: bool = False,
) -> AsyncIterator[Worker]:
    """A started worker for the duration of the block (tests, the demo, ``sm-core worker``).

    ``dispatch``: also make sure the database's fleet dispatcher runs (one per database,
    whatever the number of workers: starting it again finds the one running), after moving
    any per-profile Temporal Schedules of older versions into the fleet.
    """
    slots = max(1, max_concurrent_activities)
    engine = db.async_engine(database_url, pool_size=pool_size(slots), max_overflow=POOL_SPARE)
    limits = rate_limits(settings)
    limiter = PostgresRateLimiter(engine, limits) if limits else None
    try:
        async with (
            Providers.from_settings(settings, limiter=limiter) as providers,
            transformer(settings, engine) as transform,
        ):
            activities = SyncActivities(
                SyncService(engine, providers, limiter=limiter),
                room=capacity(settings),
                batch_size=settings.fleet_batch_size,
                slots=slots,
                raw_retention_days=settings.raw_retention_days,
                transformer=transform,
            )
            worker = Worker(
                client,
                task_queue=task_queue(db.database_name(database_url)),
                workflows=WORKFLOWS,
                activities=activities.all(),
                max_concurrent_activities=max_concurrent_activities,
                # On shutdown, activities in flight get this long to finish their page; one cut
                # short is retried elsewhere and resumes from the ledger's last cursor.
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            )
            async with worker:
                if dispatch:
                    database = db.database_name(database_url)
                    retired = await orchestration.retire_schedules(client, database)
                    if retired:
                        await fleet.add(engine, [_account(r) for r in retired])
                    await orchestration.start_fleet(
                        client, database, concurrency=max_concurrent_activities
                    )
                yield worker
    finally:
        await engine.dispose()


def _account(schedule: ScheduleInput) -> fleet.Account:
    """A per-profile Temporal Schedule of an older version, as a fleet account (its interval is
    not in its input: the fleet's default cadence)."""
    username, ext_id = schedule.keys()
    return fleet.Account(
        platform=Platform(schedule.platform),
        username=username,
        ext_id=ext_id,
        cadence_s=fleet.cadence(None),
        scope=schedule.scope,
        refresh_days=schedule.refresh_days,
    )
