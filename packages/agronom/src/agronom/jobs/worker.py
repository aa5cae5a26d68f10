"""The jobs worker: the activities over one engine and object store, the workflows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from agronom.jobs import TASK_QUEUE
from agronom.jobs.activities import JobActivities
from agronom.jobs.workflows import WORKFLOWS
from agronom.payments import tbank
from agronom.settings import Settings
from agronom.store import db
from agronom.store import objects as storage


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
        async with httpx.AsyncClient() as http:
            bank = tbank.TBankClient(
                http,
                base_url=settings.tbank_api_base,
                terminal_key=settings.tbank_terminal_key,
                password=settings.tbank_password.get_secret_value(),
            )
            activities = JobActivities(engine, store, settings, bank)
            worker = Worker(
                client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.all()
            )
            async with worker:
                yield worker
    finally:
        await engine.dispose()
