"""The Temporal side: starting a job's workflow, and the worker that runs jobs.

A worker process runs two Temporal workers: one for the workflows and the light activities
(record a failure, post a webhook), one for ``run_job`` on its own task queue with
``TRENDFLOW_WORKER_CONCURRENCY`` slots. Models load once per process: one :class:`JobRunner`
(one model store, one ``gpu_max_concurrent`` semaphore) serves every job it runs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import structlog
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.worker import Worker

from devstack.objectstore import open_store
from trendflow.config import load_config
from trendflow.models.registry import ModelStore
from trendflow.service import db, repository
from trendflow.service.activities import JobActivities
from trendflow.service.jobs import load_predictor
from trendflow.service.runner import JobRunner, Paths
from trendflow.service.workflows import JobInput, JobWorkflow, run_queue
from trendflow.settings import Settings
from trendflow.versions import DATAPROCESSOR_VERSION

log = structlog.get_logger("trendflow.service")
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Named, not derived: without it temporalio hashes the bytecode of every loaded module (numpy,
# ONNX Runtime, PyAV, OpenCV…), 5-10 s of start-up here. Only informational without versioning.
BUILD_ID = f"trendflow-{DATAPROCESSOR_VERSION}"


def task_queue(database_url: str) -> str:
    """One task queue per jobs database (tests run many databases on one Temporal)."""
    return f"trendflow.{db.database_name(database_url)}"


async def start_job(
    client: Client, job_id: uuid.UUID, *, queue: str, timeout_s: float, max_attempts: int
) -> None:
    """Start the job's workflow, or find it running: the same job id is one workflow."""
    await client.start_workflow(
        JobWorkflow.run,
        JobInput(str(job_id), timeout_s=timeout_s, max_attempts=max_attempts),
        id=str(job_id),
        task_queue=queue,
        # A job still live whose workflow has closed (terminated by hand) gets a new run.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, *, database_url: str, client: Client
) -> AsyncIterator[None]:
    """A started worker for the duration of the block (``serve``, ``worker``, tests).

    On start it makes sure every job not yet ended has its workflow (a crash between a job's
    insert and its start leaves one without).
    """
    base = load_config(settings.config)
    models = ModelStore(settings.models_dir, base.models, download=settings.model_download)
    engine = db.async_engine(database_url, pool_size=max(2, settings.worker_concurrency + 1))
    queue = task_queue(database_url)
    timeout = httpx.Timeout(settings.media_timeout_s)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as http:
            runner = JobRunner(
                paths=Paths(settings.result_store(), settings.frames_root(), settings.work_root()),
                models=models,
                store=open_store(
                    settings.object_store(), endpoint_url=settings.object_store_endpoint_url
                ),
                http=http,
                gpu_slots=base.gpu_max_concurrent,
                media_max_bytes=settings.media_max_bytes,
                predictor=load_predictor(settings.prediction_model),
            )
            activities = JobActivities(
                engine, runner, http, settings.webhook_secret.get_secret_value()
            )
            control = Worker(
                client,
                task_queue=queue,
                workflows=[JobWorkflow],
                activities=activities.light_activities(),
                max_concurrent_activities=16,
                build_id=BUILD_ID,
            )
            jobs = Worker(
                client,
                task_queue=run_queue(queue),
                activities=activities.job_activities(),
                max_concurrent_activities=settings.worker_concurrency,
                graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
                build_id=BUILD_ID,
            )
            async with control, jobs:
                async with engine.connect() as conn:
                    live = await repository.live(conn)
                for job_id in live:
                    await start_job(
                        client,
                        job_id,
                        queue=queue,
                        timeout_s=settings.job_timeout_s,
                        max_attempts=settings.job_max_attempts,
                    )
                log.info("worker.ready", task_queue=queue, resumed=len(live))
                yield
    finally:
        await engine.dispose()
