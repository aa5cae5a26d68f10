"""Starting and resuming syncs and the fleet dispatcher on Temporal (what the CLI, the API and
the worker call)."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from smcore.orchestration import task_queue
from smcore.orchestration.workflows import (
    FleetDispatcherWorkflow,
    SyncBatchWorkflow,
    SyncProfileWorkflow,
    batch_workflow_id,
    fleet_workflow_id,
    workflow_id,
)
from smcore.sync.models import (
    BatchInput,
    BatchResult,
    FleetInput,
    JobResult,
    ScheduleInput,
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


def fleet_schedule_prefix() -> str:
    """The id prefix of the per-profile Temporal Schedules older versions made."""
    return "sync-"


async def start_fleet(
    client: Client, database: str, *, concurrency: int = 64
) -> WorkflowHandle[FleetDispatcherWorkflow, None]:
    """Start the database's fleet dispatcher, or find the one running (there is one)."""
    return await client.start_workflow(
        FleetDispatcherWorkflow.run,
        FleetInput(database, concurrency=concurrency),
        id=fleet_workflow_id(database),
        task_queue=task_queue(database),
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def wake_fleet(client: Client, database: str) -> bool:
    """Make the database's dispatcher look for due accounts now; False: none is running."""
    handle = client.get_workflow_handle(fleet_workflow_id(database))
    try:
        await handle.signal(FleetDispatcherWorkflow.wake)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def retire_schedules(client: Client, database: str) -> list[ScheduleInput]:
    """Delete this database's per-profile Temporal Schedules (older versions made one per
    account); what each scheduled, for the fleet to keep. The fleet's dispatcher replaces them.
    """
    queue = task_queue(database)
    retired: list[ScheduleInput] = []
    async for listed in await client.list_schedules():
        if not listed.id.startswith(fleet_schedule_prefix()):
            continue
        handle = client.get_schedule_handle(listed.id)
        action = (await handle.describe()).schedule.action
        if not isinstance(action, ScheduleActionStartWorkflow) or action.task_queue != queue:
            continue
        if action.workflow != "ScheduledSync" or len(action.args) != 1:
            continue
        payloads = list(action.args)
        if payloads and isinstance(payloads[0], Payload):
            (target,) = await client.data_converter.decode(payloads, [ScheduleInput])
        else:
            target = payloads[0]
        if isinstance(target, ScheduleInput):
            retired.append(target)
        await handle.delete()
    return retired
