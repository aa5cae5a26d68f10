"""Activities: thin calls into the sync services, with heartbeats and typed failures."""

from __future__ import annotations

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
from smcore.sync.service import JobNotFoundError, SyncService, TransientStreamError, create_job


class SyncActivities:
    """Activities over one shared service (one engine, one provider client per worker)."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        service.heartbeat = self._heartbeat

    @staticmethod
    def _heartbeat(details: dict[str, Any]) -> None:
        if activity.in_activity():
            activity.heartbeat(details)

    @activity.defn(name="start_job")
    async def start_job(self, request: StartInput) -> None:
        await self.service.start(request.job_call_id, request.workflow_id)

    @activity.defn(name="run_stream")
    async def run_stream(self, request: StreamInput) -> StreamOutcome:
        try:
            return await self.service.run(request.job_call_id, request.stream)
        except TransientStreamError as exc:
            # Retried by Temporal with backoff; the next attempt resumes from the ledger.
            raise ApplicationError(str(exc), type="TransientStreamError") from exc
        except (JobNotFoundError, ValueError) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc

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
        return SyncInput(job_id, request.platform, request.scope)

    def all(self) -> list[Any]:
        return [self.start_job, self.run_stream, self.finish_job, self.create_job]
