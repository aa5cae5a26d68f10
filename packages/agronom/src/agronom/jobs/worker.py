"""The jobs worker: the activities over one engine and object store, the workflows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.worker import Worker

from agronom import storage
from agronom.jobs import TASK_QUEUE
from agronom.jobs.activities import JobActivities
from agronom.jobs.workflows import WORKFLOWS
from agronom.settings import Settings
from agronom.store import db


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    *,
    database_url: str,
    client: Client,
    store: storage.ObjectStore,
    task_queue: str = TASK_QUEUE,
) -> AsyncIterator[Worker]:
    """A started worker for the duration of the block (tests, the demo, ``agronom worker``)."""
    engine = db.async_engine(database_url, pool_size=2)
    try:
        activities = JobActivities(engine, store, settings)
        worker = Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.all()
        )
        async with worker:
            yield worker
    finally:
        await engine.dispose()
