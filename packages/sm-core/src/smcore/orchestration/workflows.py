"""Workflows: a profile sync runs its streams in the seed's order; a batch runs profile syncs
as child workflows, a bounded number at once, continuing as new between batches."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from smcore.sync.models import (
        BatchInput,
        FinishInput,
        JobResult,
        ScheduleInput,
        StartInput,
        StreamInput,
        StreamOutcome,
        SyncInput,
        plan,
    )

QUICK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=20)
QUICK_TIMEOUT = timedelta(minutes=2)
# A stream pages inside one activity and commits every page; a worker that dies stops
# heartbeating, and the retry resumes from the ledger's last cursor.
STREAM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=12,
    non_retryable_error_types=["JobNotFoundError", "ValueError"],
)
BATCH_SIZE = 100


def workflow_id(request: SyncInput) -> str:
    """One workflow id per JobCall: starting it again resumes it, never duplicates it."""
    return (
        f"sync-{request.db}-job-{request.job_call_id}"
        if request.db
        else f"sync-job-{request.job_call_id}"
    )


@workflow.defn(name="SyncProfile")
class SyncProfileWorkflow:
    """One profile: its streams one after another (one request in flight per profile)."""

    @workflow.run
    async def run(self, request: SyncInput) -> JobResult:
        await workflow.execute_activity(
            "start_job",
            StartInput(request.job_call_id, workflow.info().workflow_id),
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        outcomes: list[StreamOutcome] = []
        streams = plan(request.platform, request.scope)
        for stream in streams:
            outcome = await self._stream(request.job_call_id, stream)
            outcomes.append(outcome)
            if stream == streams[0] and outcome.status in ("skipped", "failed"):
                break  # no profile: nothing else to sync
        result: JobResult = await workflow.execute_activity(
            "finish_job",
            FinishInput(request.job_call_id, outcomes),
            result_type=JobResult,
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        return result

    async def _stream(self, job_call_id: int, stream: str) -> StreamOutcome:
        while True:
            try:
                outcome: StreamOutcome = await workflow.execute_activity(
                    "run_stream",
                    StreamInput(job_call_id, stream),
                    result_type=StreamOutcome,
                    start_to_close_timeout=timedelta(hours=12),
                    heartbeat_timeout=timedelta(seconds=10),
                    retry_policy=STREAM_RETRY,
                )
            except ActivityError as exc:
                # Retries exhausted: the stream stays partial, the ledger keeps its progress.
                cause = exc.cause or exc
                return StreamOutcome(stream, "partial", message=f"gave up: {cause}")
            if outcome.status != "waiting":
                return outcome
            # A provider asked for a pause (rate limit, quota): a durable timer, not a failure.
            await workflow.sleep(timedelta(seconds=max(1.0, outcome.retry_after_s or 30.0)))


@workflow.defn(name="SyncBatch")
class SyncBatchWorkflow:
    """Many profiles: child workflows, ``concurrency`` at once, 100 per run of history."""

    @workflow.run
    async def run(self, request: BatchInput) -> list[JobResult]:
        now, rest = request.jobs[:BATCH_SIZE], request.jobs[BATCH_SIZE:]
        gate = asyncio.Semaphore(max(1, request.concurrency))

        async def child(job: SyncInput) -> JobResult:
            async with gate:
                try:
                    result: JobResult = await workflow.execute_child_workflow(
                        SyncProfileWorkflow.run, job, id=workflow_id(job)
                    )
                except workflow.ChildWorkflowError as exc:  # type: ignore[attr-defined]
                    return JobResult(job.job_call_id, "failed", {"error": str(exc.cause or exc)})
                return result

        done = [*request.done, *await asyncio.gather(*(child(job) for job in now))]
        if rest:
            workflow.continue_as_new(BatchInput(rest, request.concurrency, done))
        return done


@workflow.defn(name="ScheduledSync")
class ScheduledSyncWorkflow:
    """A schedule's tick: a new JobCall, then its profile sync as a child."""

    @workflow.run
    async def run(self, request: ScheduleInput) -> JobResult:
        job: SyncInput = await workflow.execute_activity(
            "create_job",
            request,
            result_type=SyncInput,
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        result: JobResult = await workflow.execute_child_workflow(
            SyncProfileWorkflow.run, job, id=workflow_id(job)
        )
        return result
