"""The worker: one engine, one provider client, the sync activities and workflows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.worker import Worker

from smcore.orchestration import task_queue
from smcore.orchestration.activities import SyncActivities
from smcore.orchestration.workflows import (
    ScheduledSyncWorkflow,
    SyncBatchWorkflow,
    SyncProfileWorkflow,
)
from smcore.providers import Providers, rate_limits
from smcore.providers.ratelimit import PostgresRateLimiter
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.service import SyncService

WORKFLOWS = [SyncProfileWorkflow, SyncBatchWorkflow, ScheduledSyncWorkflow]


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    *,
    database_url: str,
    client: Client,
    max_concurrent_activities: int = 16,
) -> AsyncIterator[Worker]:
    """A started worker for the duration of the block (tests, the demo, ``sm-core worker``)."""
    engine = db.async_engine(database_url, pool_size=max(4, max_concurrent_activities // 2))
    limits = rate_limits(settings)
    limiter = PostgresRateLimiter(engine, limits) if limits else None
    try:
        async with Providers.from_settings(settings, limiter=limiter) as providers:
            activities = SyncActivities(SyncService(engine, providers, limiter=limiter))
            worker = Worker(
                client,
                task_queue=task_queue(db.database_name(database_url)),
                workflows=WORKFLOWS,
                activities=activities.all(),
                max_concurrent_activities=max_concurrent_activities,
            )
            async with worker:
                yield worker
    finally:
        await engine.dispose()
