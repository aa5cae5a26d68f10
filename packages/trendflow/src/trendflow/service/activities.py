"""The job activities: thin calls into the runner and the repository.

``run_job`` heartbeats every few seconds while the job runs (download, DataProcessor in a
thread) and writes the per-component progress to the job row as it changes. It maps a
:class:`JobFailure` to an ``ApplicationError`` whose type is the error code and whose
``non_retryable`` says whether Temporal may try again; anything unexpected is ``internal``,
retryable.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from trendflow.service import jobs, repository, webhook
from trendflow.service.errors import JobFailure
from trendflow.service.runner import JobRunner
from trendflow.service.workflows import FAIL_JOB, NOTIFY, RUN_JOB, FailInput, JobInput, JobOutcome

log = structlog.get_logger("trendflow.service")
HEARTBEAT_EVERY_S = 5.0


class _Progress:
    """Component states reported from the DataProcessor's threads, flushed from the loop."""

    def __init__(self, initial: dict[str, str]) -> None:
        self._lock = threading.Lock()
        self._states = dict(initial)
        self._version = 0
        self._flushed = -1

    def __call__(self, name: str, status: str) -> None:
        with self._lock:
            self._states[name] = status
            self._version += 1

    def pending(self) -> dict[str, str] | None:
        """The states if they changed since the last call, else None."""
        with self._lock:
            if self._version == self._flushed:
                return None
            self._flushed = self._version
            return dict(self._states)

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._states)


class JobActivities:
    """The activities over one engine, runner, HTTP client and webhook secret."""

    def __init__(
        self, engine: AsyncEngine, runner: JobRunner, http: httpx.AsyncClient, secret: str
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.http = http
        self.secret = secret

    def job_activities(self) -> list[Callable[..., Any]]:
        return [self.run_job]

    def light_activities(self) -> list[Callable[..., Any]]:
        return [self.fail_job, self.notify]

    @contextlib.asynccontextmanager
    async def _heartbeat(self, job_id: uuid.UUID, progress: _Progress) -> AsyncIterator[None]:
        async def beat() -> None:
            while True:
                activity.heartbeat()
                states = progress.pending()
                if states is not None:
                    async with self.engine.begin() as conn:
                        await repository.set_progress(conn, job_id, states)
                await asyncio.sleep(HEARTBEAT_EVERY_S)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @activity.defn(name=RUN_JOB)
    async def run_job(self, job: JobInput) -> JobOutcome:
        job_id = uuid.UUID(job.job_id)
        async with self.engine.begin() as conn:
            row = await repository.start(conn, job_id)
            existing = await repository.get(conn, job_id) if row is None else row
        if existing is None:
            raise ApplicationError(
                f"job {job.job_id} no longer exists", type="internal", non_retryable=True
            )
        if row is None:
            return JobOutcome(existing.status, notify=False)  # it ended already
        bound = log.bind(job_id=job.job_id, kind=row.kind, attempt=row.attempts)
        try:
            initial = dict.fromkeys(self.runner.components(row), "pending")
        except Exception as error:  # a spec this version cannot run
            raise ApplicationError(str(error), type="internal", non_retryable=True) from error
        progress = _Progress(initial)
        folder = self.runner.run_dir(row)
        if folder is not None:
            async with self.engine.begin() as conn:
                await repository.set_run_dir(conn, job_id, str(folder))
        bound.info("job.start")
        try:
            async with self._heartbeat(job_id, progress):
                outcome = await self.runner.run(row, progress)
        except JobFailure as failure:
            bound.warning("job.attempt_failed", code=failure.code, error=failure.message)
            raise ApplicationError(
                failure.message, type=failure.code, non_retryable=not failure.retryable
            ) from failure
        except Exception as error:
            bound.exception("job.attempt_crashed")
            message = f"{type(error).__name__}: {error}"
            raise ApplicationError(message, type="internal") from error
        async with self.engine.begin() as conn:
            won = await repository.finish_done(
                conn,
                job_id,
                result=outcome.result,
                run_dir=str(outcome.run_dir) if outcome.run_dir else None,
                progress={**progress.snapshot(), **outcome.progress},
            )
        bound.info("job.done", recorded=won)
        return JobOutcome("done", notify=won and row.webhook_url is not None)

    @activity.defn(name=FAIL_JOB)
    async def fail_job(self, failure: FailInput) -> JobOutcome:
        job_id = uuid.UUID(failure.job_id)
        error = {"code": failure.code, "message": failure.message, "retryable": failure.retryable}
        async with self.engine.begin() as conn:
            won = await repository.finish_failed(conn, job_id, error=error)
            row = await repository.get(conn, job_id)
        log.warning("job.failed", job_id=failure.job_id, recorded=won, **error)
        notify = won and row is not None and row.webhook_url is not None
        return JobOutcome(row.status if row else "failed", notify=notify)

    @activity.defn(name=NOTIFY)
    async def notify(self, job: JobInput) -> None:
        async with self.engine.connect() as conn:
            row = await repository.get(conn, uuid.UUID(job.job_id))
        if row is None or row.webhook_url is None:
            return
        try:
            await webhook.deliver(self.http, row.webhook_url, jobs.job_json(row), self.secret)
        except webhook.WebhookError as error:
            async with self.engine.begin() as conn:
                await repository.record_webhook(conn, row.id, delivered=False, error=str(error))
            raise ApplicationError(f"webhook: {error}", type="webhook") from error
        async with self.engine.begin() as conn:
            await repository.record_webhook(conn, row.id, delivered=True, error=None)
