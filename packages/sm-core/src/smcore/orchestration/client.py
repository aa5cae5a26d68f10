"""Starting, resuming and scheduling syncs on Temporal (what the CLI and the API call)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from smcore.orchestration import task_queue
from smcore.orchestration.workflows import (
    SyncBatchWorkflow,
    SyncProfileWorkflow,
    batch_workflow_id,
    workflow_id,
)
from smcore.sync.models import (
    BatchInput,
    BatchResult,
    JobResult,
    Platform,
    ScheduleInput,
    Scope,
    SyncInput,
)


async def start_sync(
    client: Client, request: SyncInput
) -> WorkflowHandle[SyncProfileWorkflow, JobResult]:
    """Start (or resume: the same id again) the workflow of a JobCall.

    A run already in progress for this job is used as it is.
    """
    return await client.start_workflow(
        SyncProfileWorkflow.run,
        request,
        id=workflow_id(request),
        task_queue=task_queue(request.db),
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def start_batch(
    client: Client, batch_job_call_id: int, *, db: str, concurrency: int = 8
) -> WorkflowHandle[SyncBatchWorkflow, BatchResult]:
    """Start (or resume) the workflow of a batch JobCall (see ``sync.service.create_batch``)."""
    return await client.start_workflow(
        SyncBatchWorkflow.run,
        BatchInput(batch_job_call_id, db, concurrency),
        id=batch_workflow_id(db, batch_job_call_id),
        task_queue=task_queue(db),
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


def schedule_id(platform: Platform, target: str) -> str:
    return f"sync-{platform}-{target}"


async def add_schedule(
    client: Client,
    *,
    platform: Platform,
    target: str,
    scope: Scope,
    every: timedelta,
    database: str,
    refresh_days: float | None = None,
) -> str:
    """A Temporal Schedule that syncs ``target`` every ``every`` (replaces the seed's cron)."""
    sid = schedule_id(platform, target)
    await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "ScheduledSync",
                ScheduleInput(platform, target, scope, refresh_days),
                id=f"{sid}-run",
                task_queue=task_queue(database),
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        ),
    )
    return sid


async def remove_schedule(client: Client, sid: str) -> None:
    await client.get_schedule_handle(sid).delete()
