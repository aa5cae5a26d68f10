"""Activities: thin calls into the sync services, with heartbeats and typed failures."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from smcore.sync.models import (
    FinishInput,
    JobResult,
    ScheduleInput,
    StartInput,
    StreamInput,
    StreamOutcome,
    SyncInput,
)
from smcore.sync.service import (
    PROGRESS,
    JobNotFoundError,
    SyncService,
    TransientStreamError,
    create_job,
)

HEARTBEAT_EVERY_S = 2.0


class SyncActivities:
    """Activities over one shared service (one engine, one provider client per worker)."""

    def __init__(self, service: SyncService) -> None:
        self.service = service

    @activity.defn(name="run_stream")
    async def run_stream(self, request: StreamInput) -> StreamOutcome:
        """Run a stream, heartbeating every few seconds while it is alive.

        The heartbeat runs beside the work, not only between pages: a page may spend a while in
        provider retries, and a heartbeat timeout must mean "the worker died", never "a slow
        page" (two attempts of one stream at once would fetch pages twice).
        """
        progress: dict[str, Any] = {"stream": request.stream}
        PROGRESS.set(progress.update)  # this task's context only

        async def beat() -> None:
            while True:
                activity.heartbeat(dict(progress))
                await asyncio.sleep(HEARTBEAT_EVERY_S)

        ticker = asyncio.create_task(beat())
        try:
            return await self.service.run(request.job_call_id, request.stream)
        except TransientStreamError as exc:
            # Retried by Temporal with backoff; the next attempt resumes from the ledger.
            raise ApplicationError(str(exc), type="TransientStreamError") from exc
        except (JobNotFoundError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
        finally:
            ticker.cancel()

    @activity.defn(name="start_job")
    async def start_job(self, request: StartInput) -> None:
        await self.service.start(request.job_call_id, request.workflow_id)

    @activity.defn(name="finish_job")
    async def finish_job(self, request: FinishInput) -> JobResult:
        return await self.service.finish(request)

    @activity.defn(name="create_job")
    async def create_job(self, request: ScheduleInput) -> SyncInput:
        """A new JobCall for a scheduled sync (Instagram: a username; YouTube: a channel id)."""
        youtube = request.platform == "youtube"
        try:
            job_id = await create_job(
                self.service.engine,
                platform=request.platform,
                scope=request.scope,
                username=None if youtube else request.target,
                ext_id=request.target if youtube else None,
            )
        except ValueError as exc:
            raise ApplicationError(str(exc), type="ValueError", non_retryable=True) from exc
        return SyncInput(
            job_id, request.platform, request.scope, self.service.engine.url.database or ""
        )

    def all(self) -> list[Any]:
        return [self.start_job, self.run_stream, self.finish_job, self.create_job]
