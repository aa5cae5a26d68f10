"""Workflows: a profile sync runs its streams in the seed's order; a batch runs its children's
profile syncs as child workflows, a bounded number at once, one slice per run of history."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from smcore.sync.models import (
        BatchInput,
        BatchResult,
        BatchSlice,
        ChildFailed,
        Dispatched,
        FinishInput,
        FleetInput,
        JobResult,
        ScheduleInput,
        Started,
        StartInput,
        StreamInput,
        StreamOutcome,
        SyncGroupInput,
        SyncInput,
        ends_job,
    )
    from smcore.transform.models import (
        Downloads,
        FetchInput,
        Round,
        TransformInput,
        TransformResult,
    )

QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_attempts=20,
    non_retryable_error_types=["JobError"],
)
QUICK_TIMEOUT = timedelta(minutes=2)
# A stream pages inside one activity and commits every page; a worker that dies stops
# heartbeating, and the retry resumes from the ledger's last cursor.
STREAM_BACKOFF_MAX = timedelta(minutes=2)
STREAM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=STREAM_BACKOFF_MAX,
    maximum_attempts=12,
    non_retryable_error_types=["JobError"],
)
BATCH_SLICE = 100  # children per run of a batch's history (then continue-as-new)
# Inline children synced by one activity, side by side: Temporal's per-activity cost is paid
# once per group (see ``sync_jobs``), and a group holds its activity slot until its slowest
# sync ends (each sync also takes one of the worker's sync slots while it runs).
SYNC_GROUP = 8
DISPATCH_ROUNDS = 200  # dispatcher rounds per run of its history (then continue-as-new)
TRANSFORM_MEDIA_ROUND = 32  # downloads per activity (a round heartbeats; the workflow loops)
UPKEEP_EVERY = timedelta(days=1)  # partitions ahead, raw retention (smcore.store.retention)


def workflow_id(request: SyncInput) -> str:
    """One workflow id per JobCall: starting it again resumes it, never duplicates it."""
    return (
        f"sync-{request.db}-job-{request.job_call_id}"
        if request.db
        else f"sync-job-{request.job_call_id}"
    )


def _root_cause(exc: BaseException) -> str:
    """The innermost failure's message (a child's failure wraps an activity's, which wraps
    the error the activity raised)."""
    while getattr(exc, "cause", None) is not None:
        exc = exc.cause  # type: ignore[attr-defined]  # FailureError.cause, checked above
    return str(exc)


def batch_workflow_id(db: str, batch_job_call_id: int) -> str:
    return f"batch-{db}-job-{batch_job_call_id}" if db else f"batch-job-{batch_job_call_id}"


def fleet_workflow_id(db: str) -> str:
    """One dispatcher per database: starting it again finds the one running."""
    return f"fleet-{db}" if db else "fleet"


def transform_workflow_id(request: TransformInput) -> str:
    return (
        f"transform-{request.db}-job-{request.job_call_id}"
        if request.db
        else f"transform-job-{request.job_call_id}"
    )


async def _fail_child(job_id: int, exc: BaseException) -> None:
    """A child that could not close its JobCall: closed here, failed, with why."""
    await workflow.execute_activity(
        "fail_job",
        ChildFailed(job_id, _root_cause(exc)),
        start_to_close_timeout=QUICK_TIMEOUT,
        retry_policy=QUICK_RETRY,
    )


async def start_transform(result: JobResult) -> None:
    """Start the Transform of what a sync stored, as an abandoned child: the sync is done
    (its JobCall closed), and the downloads and analyses go on after it."""
    if result.transform is None or result.status == "failed":
        return
    with contextlib.suppress(WorkflowAlreadyStartedError):  # a retry of the same sync
        await workflow.start_child_workflow(
            TransformWorkflow.run,
            result.transform,
            id=transform_workflow_id(result.transform),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )


@workflow.defn(name="Transform")
class TransformWorkflow:
    """The Transform stage after one sync (``smcore.transform``): its profile's new media
    downloaded before their links expire, then media, captions and comments analysed, the
    analysis jobs polled with durable sleeps and backoff until every one is finished or
    ``wait_s`` has passed (what is left open, the next sync's Transform takes up).

    Nothing here fails the sync: the service being down only makes the rounds wait longer.
    """

    @workflow.run
    async def run(self, request: TransformInput) -> TransformResult:
        deadline = request.deadline or workflow.now().timestamp() + request.wait_s
        fetched = request.fetched
        totals = {"stored": 0, "expired": 0, "failed": 0, "analysed": 0}
        while True:
            room = request.max_media - fetched if request.max_media else TRANSFORM_MEDIA_ROUND
            downloads: Downloads = await workflow.execute_activity(
                "fetch_media",
                FetchInput(request.job_call_id, max(0, min(room, TRANSFORM_MEDIA_ROUND))),
                result_type=Downloads,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=QUICK_RETRY,
            )
            settled = downloads.stored + downloads.expired + downloads.failed
            fetched += settled
            totals["stored"] += downloads.stored
            totals["expired"] += downloads.expired
            totals["failed"] += downloads.failed
            analyses: Round = await workflow.execute_activity(
                "advance_analyses",
                request.job_call_id,
                result_type=Round,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=QUICK_RETRY,
            )
            totals["analysed"] += analyses.done
            more_media = (
                downloads.left > 0
                and (not request.max_media or fetched < request.max_media)
                and settled > 0
            )
            now = workflow.now().timestamp()
            if (not more_media and analyses.open == 0) or now >= deadline:
                return TransformResult(request.job_call_id, open=analyses.open, **totals)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    dataclasses.replace(request, fetched=fetched, deadline=deadline)
                )
            if more_media:
                continue
            wait = analyses.next_in_s if analyses.next_in_s is not None else 30.0
            if downloads.retrying:
                wait = min(wait, 30.0)
            await workflow.sleep(timedelta(seconds=max(1.0, min(wait, deadline - now))))


@workflow.defn(name="SyncProfile")
class SyncProfileWorkflow:
    """One profile: its streams one after another (one listing in flight per profile; per-post
    units run several at once inside their stream)."""

    @workflow.run
    async def run(self, request: SyncInput) -> JobResult:
        started: Started = await workflow.execute_activity(
            "start_job",
            StartInput(request.job_call_id, workflow.info().workflow_id),
            result_type=Started,
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        outcomes: list[StreamOutcome] = []
        for stream in started.streams:
            outcome = await self._stream(request.job_call_id, stream)
            outcomes.append(outcome)
            if ends_job(started, stream, outcome):
                break
        result: JobResult = await workflow.execute_activity(
            "finish_job",
            FinishInput(request.job_call_id, outcomes),
            result_type=JobResult,
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        await start_transform(result)
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
    """A batch JobCall's children, ``concurrency`` at once: as child workflows, or inline (the
    fleet's batches) as ``sync_jobs`` activities of up to ``SYNC_GROUP`` syncs each.

    Its input and state are the same size whatever the batch's size: it reads its children's
    ids from the store a slice at a time and continues as new after each slice; each child's
    outcome is recorded in the child's own JobCall, never carried here.
    """

    @workflow.run
    async def run(self, request: BatchInput) -> BatchResult:
        if request.after_id == 0:
            await workflow.execute_activity(
                "start_job",
                StartInput(request.batch_job_call_id, workflow.info().workflow_id),
                result_type=Started,
                start_to_close_timeout=QUICK_TIMEOUT,
                retry_policy=QUICK_RETRY,
            )
        ids: list[int] = await workflow.execute_activity(
            "batch_children",
            BatchSlice(request.batch_job_call_id, request.after_id, BATCH_SLICE),
            result_type=list[int],
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        if request.inline and workflow.patched("sync-groups"):
            await self._groups(request, ids)
        else:
            await self._children(request, ids)
        if len(ids) == BATCH_SLICE:
            workflow.continue_as_new(dataclasses.replace(request, after_id=ids[-1]))
        result: BatchResult = await workflow.execute_activity(
            "finish_batch",
            request.batch_job_call_id,
            result_type=BatchResult,
            start_to_close_timeout=QUICK_TIMEOUT,
            retry_policy=QUICK_RETRY,
        )
        return result

    async def _groups(self, request: BatchInput, ids: list[int]) -> None:
        """The children in groups of up to ``SYNC_GROUP``, one ``sync_jobs`` activity each,
        ``concurrency`` syncs at once in all."""
        size = max(1, min(SYNC_GROUP, request.concurrency))
        gate = asyncio.Semaphore(max(1, request.concurrency // size))

        async def group(job_ids: list[int]) -> None:
            async with gate:
                try:
                    results: list[JobResult] = await workflow.execute_activity(
                        "sync_jobs",
                        SyncGroupInput(job_ids, request.db),
                        result_type=list[JobResult],
                        start_to_close_timeout=timedelta(hours=24),
                        heartbeat_timeout=timedelta(seconds=10),
                        retry_policy=STREAM_RETRY,
                    )
                except ActivityError as exc:
                    for job_id in job_ids:
                        await _fail_child(job_id, exc)
                    return
                for result in results:
                    await start_transform(result)

        await asyncio.gather(*(group(ids[i : i + size]) for i in range(0, len(ids), size)))

    async def _children(self, request: BatchInput, ids: list[int]) -> None:
        """Each child on its own: a child workflow, or (inline, histories from before the
        groups) a ``sync_job`` activity, ``concurrency`` at once."""
        gate = asyncio.Semaphore(max(1, request.concurrency))

        async def child(job_id: int) -> None:
            async with gate:
                job = SyncInput(job_id, request.db)
                try:
                    if request.inline:
                        result: JobResult = await workflow.execute_activity(
                            "sync_job",
                            job,
                            result_type=JobResult,
                            start_to_close_timeout=timedelta(hours=24),
                            heartbeat_timeout=timedelta(seconds=10),
                            retry_policy=STREAM_RETRY,
                        )
                        await start_transform(result)
                    else:
                        await workflow.execute_child_workflow(
                            SyncProfileWorkflow.run, job, id=workflow_id(job)
                        )
                except (ChildWorkflowError, ActivityError) as exc:
                    await _fail_child(job_id, exc)

        await asyncio.gather(*(child(i) for i in ids))


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


@workflow.defn(name="FleetDispatcher")
class FleetDispatcherWorkflow:
    """The fleet's one dispatcher: every round it starts the due accounts there is room for
    (``smcore.fleet.dispatch``) as batches, then sleeps until the next is due. Once a day it
    also runs the store's upkeep: the coming month partitions, and raw payloads past
    ``RAW_RETENTION_DAYS`` dropped a month at a time.

    The batches are abandoned children: they outlive the dispatcher's continue-as-new, and a
    batch's accounts are marked in flight in the store, so no round starts them twice.
    """

    def __init__(self) -> None:
        self._woken = False

    async def _start(self, request: FleetInput, batch: int) -> None:
        await workflow.start_child_workflow(
            SyncBatchWorkflow.run,
            BatchInput(batch, request.db, request.concurrency, inline=True),
            id=batch_workflow_id(request.db, batch),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )

    @workflow.signal
    def wake(self) -> None:
        """Look now (accounts were added, or made due)."""
        self._woken = True

    @workflow.run
    async def run(self, request: FleetInput) -> None:
        for _ in range(DISPATCH_ROUNDS):
            self._woken = False
            if workflow.now().timestamp() - request.upkeep_at >= UPKEEP_EVERY.total_seconds():
                await workflow.execute_activity(
                    "store_upkeep",
                    start_to_close_timeout=timedelta(minutes=30),
                    retry_policy=QUICK_RETRY,
                )
                request = dataclasses.replace(request, upkeep_at=workflow.now().timestamp())
            done: Dispatched = await workflow.execute_activity(
                "dispatch_fleet",
                result_type=Dispatched,
                start_to_close_timeout=QUICK_TIMEOUT,
                retry_policy=QUICK_RETRY,
            )
            for batch in done.batches:
                await self._start(request, batch)
            for batch in done.orphans:
                with contextlib.suppress(WorkflowAlreadyStartedError):  # it was only slow
                    await self._start(request, batch)
            if done.full or done.batches:
                wait = request.busy_s
            elif done.next_due_in_s is None:
                wait = request.idle_s
            else:
                wait = min(max(done.next_due_in_s, request.busy_s), request.idle_s)
            with contextlib.suppress(TimeoutError):  # the wait's end, not a failure
                await workflow.wait_condition(lambda: self._woken, timeout=timedelta(seconds=wait))
        workflow.continue_as_new(request)
