"""Activities: thin calls into the sync service, with heartbeats and typed failures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from smcore.fleet import dispatch as fleet
from smcore.orchestration.workflows import STREAM_BACKOFF_MAX, STREAM_RETRY
from smcore.store import retention
from smcore.sync.errors import JobError, TransientStreamError
from smcore.sync.models import (
    BatchResult,
    BatchSlice,
    ChildFailed,
    Dispatched,
    FinishInput,
    JobResult,
    Platform,
    ScheduleInput,
    Started,
    StartInput,
    StreamInput,
    StreamOutcome,
    SyncGroupInput,
    SyncInput,
    ends_job,
)
from smcore.sync.service import SyncService, create_job
from smcore.transform.models import Downloads, FetchInput, Round
from smcore.transform.service import Transformer

HEARTBEAT_EVERY_S = 2.0


def _terminal(exc: JobError) -> ApplicationError:
    """A JobError as Temporal's terminal failure (the workflows never retry ``JobError``)."""
    return ApplicationError(f"{type(exc).__name__}: {exc}", type="JobError", non_retryable=True)


@contextlib.asynccontextmanager
async def _heartbeating(progress: dict[str, Any]) -> AsyncIterator[None]:
    """Heartbeat ``progress`` every few seconds beside the work, not only between pages: a
    page may spend a while in provider retries, and a heartbeat timeout must mean "the worker
    died", never "a slow page" (two attempts of one stream at once would fetch pages twice).
    The first beat comes after ``HEARTBEAT_EVERY_S``, well inside the timeout: the many
    syncs of a fleet that end sooner send Temporal none."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            activity.heartbeat(dict(progress))

    ticker = asyncio.create_task(beat())
    try:
        yield
    finally:
        ticker.cancel()


class SyncActivities:
    """Activities over one shared service (one engine, one provider client per worker).

    ``room``: accounts in flight each platform allows the fleet dispatcher (see
    ``smcore.fleet.dispatch.capacity``); ``batch_size``: accounts per batch it starts;
    ``slots``: syncs this worker runs at once, whatever the activities that carry them (a
    group activity carries up to ``SYNC_GROUP``): the worker's connections are sized by it
    (``pool_size``), and the fleet's room beyond it waits here, ready, for a free slot.
    """

    def __init__(
        self,
        service: SyncService,
        *,
        room: dict[Platform, int],
        batch_size: int,
        raw_retention_days: int,
        slots: int,
        transformer: Transformer | None = None,
    ) -> None:
        self.service = service
        self._slots = asyncio.Semaphore(slots)
        self.room = room
        self.batch_size = batch_size
        self.raw_retention_days = raw_retention_days
        self.transformer = transformer

    def _with_transform(self, result: JobResult) -> JobResult:
        """The sync's result, naming the Transform to start after it (when the stage is on and
        the sync stored anything it works on)."""
        if self.transformer is None or not result.feeds_transform:
            return result
        return dataclasses.replace(result, transform=self.transformer.request(result.job_call_id))

    @activity.defn(name="run_stream")
    async def run_stream(self, request: StreamInput) -> StreamOutcome:
        """Run a stream, heartbeating while it is alive (``_heartbeating``)."""
        progress: dict[str, Any] = {"stream": request.stream}
        try:
            async with _heartbeating(progress), self._slots:
                return await self.service.run(request.job_call_id, request.stream, progress.update)
        except TransientStreamError as exc:
            # Retried by Temporal with backoff; the next attempt resumes from the ledger.
            raise ApplicationError(str(exc), type="TransientStreamError") from exc
        except JobError as exc:
            raise _terminal(exc) from exc

    @activity.defn(name="sync_job")
    async def sync_job(self, request: SyncInput) -> JobResult:
        """A whole sync in one activity (a fleet batch's child): its streams in order, a
        provider's pause waited out here, transient failures retried with backoff; killed, the
        retry starts again and every finished stream returns at once from the ledger."""
        job_id = request.job_call_id
        progress: dict[str, Any] = {"job_call_id": job_id}
        try:
            async with _heartbeating(progress):
                return await self._sync(job_id, progress)
        except JobError as exc:
            raise _terminal(exc) from exc

    @activity.defn(name="sync_jobs")
    async def sync_jobs(self, request: SyncGroupInput) -> list[JobResult]:
        """Several syncs of a fleet batch side by side, each as ``sync_job`` runs one: one
        activity task, and one workflow task of the batch, for the group instead of one per
        account (per account, those cost Temporal's server and the SDK more than a profile
        sync costs the engine). A sync that fails for good closes its own JobCall here and
        is left out of the results; killed, the retry runs the group again and every sync
        that ended returns at once from the ledger."""
        progress: dict[str, Any] = {"job_call_ids": request.job_call_ids}

        async def one(job_id: int) -> JobResult | None:
            try:
                return await self._sync(job_id, progress)
            except JobError as exc:
                await self.service.fail(job_id, f"{type(exc).__name__}: {exc}")
                return None

        async with _heartbeating(progress):
            results = await asyncio.gather(*(one(j) for j in request.job_call_ids))
        return [r for r in results if r is not None]

    async def _sync(self, job_id: int, progress: dict[str, Any]) -> JobResult:
        async with self._slots:
            started = await self.service.start(job_id, activity.info().workflow_id)
            outcomes: list[StreamOutcome] = []
            for stream in started.streams:
                outcome = await self._stream(job_id, stream, progress)
                outcomes.append(outcome)
                if ends_job(started, stream, outcome):
                    break
            finished = await self.service.finish(FinishInput(job_id, outcomes))
        return self._with_transform(finished)

    async def _stream(self, job_id: int, stream: str, progress: dict[str, Any]) -> StreamOutcome:
        """One stream to its end, as the profile workflow runs it: a provider's pause waited
        out, a transient failure retried with backoff (``STREAM_RETRY``), then given up."""
        delay = STREAM_RETRY.initial_interval.total_seconds()
        failures = 0
        while True:
            try:
                outcome = await self.service.run(job_id, stream, progress.update)
            except TransientStreamError as exc:
                failures += 1
                if failures >= STREAM_RETRY.maximum_attempts:
                    return StreamOutcome(stream, "partial", message=f"gave up: {exc}")
                await asyncio.sleep(delay)
                delay = min(
                    delay * STREAM_RETRY.backoff_coefficient,
                    STREAM_BACKOFF_MAX.total_seconds(),
                )
                continue
            if outcome.status != "waiting":
                return outcome
            await asyncio.sleep(max(1.0, outcome.retry_after_s or 30.0))

    @activity.defn(name="start_job")
    async def start_job(self, request: StartInput) -> Started:
        try:
            return await self.service.start(request.job_call_id, request.workflow_id)
        except JobError as exc:
            raise _terminal(exc) from exc

    @activity.defn(name="finish_job")
    async def finish_job(self, request: FinishInput) -> JobResult:
        try:
            return self._with_transform(await self.service.finish(request))
        except JobError as exc:
            raise _terminal(exc) from exc

    @activity.defn(name="fail_job")
    async def fail_job(self, request: ChildFailed) -> None:
        await self.service.fail(request.job_call_id, request.error)

    @activity.defn(name="batch_children")
    async def batch_children(self, request: BatchSlice) -> list[int]:
        return await self.service.batch_children(
            request.batch_job_call_id, after_id=request.after_id, limit=request.limit
        )

    @activity.defn(name="finish_batch")
    async def finish_batch(self, batch_job_call_id: int) -> BatchResult:
        return await self.service.finish_batch(batch_job_call_id)

    @activity.defn(name="create_job")
    async def create_job(self, request: ScheduleInput) -> SyncInput:
        """A new JobCall for a scheduled sync (Instagram: a username; YouTube: a channel id)."""
        username, ext_id = request.keys()
        try:
            job_id = await create_job(
                self.service.db,
                platform=request.platform,
                scope=request.scope,
                username=username,
                ext_id=ext_id,
                refresh_days=request.refresh_days,
            )
        except JobError as exc:
            raise _terminal(exc) from exc
        return SyncInput(job_id, self.service.db.url.database or "")

    @activity.defn(name="dispatch_fleet")
    async def dispatch_fleet(self) -> Dispatched:
        """Start the fleet's due accounts there is room for (one dispatcher round)."""
        return await fleet.dispatch(self.service.db, self.room, batch_size=self.batch_size)

    @activity.defn(name="store_upkeep")
    async def store_upkeep(self) -> list[str]:
        """The daily upkeep: month partitions ahead, expired raw months dropped; what it did."""
        report = await retention.run(
            self.service.db, now=datetime.now(UTC), raw_retention_days=self.raw_retention_days
        )
        return [
            *(f"created {n}" for n in report.created),
            *(f"dropped {n}" for n in report.dropped),
        ]

    @activity.defn(name="fetch_media")
    async def fetch_media(self, request: FetchInput) -> Downloads:
        """A round of the Transform's downloads (nothing when the stage is off)."""
        if self.transformer is None:
            return Downloads()
        async with _heartbeating({"job_call_id": request.job_call_id, "step": "media"}):
            return await self.transformer.fetch(request.job_call_id, request.limit)

    @activity.defn(name="advance_analyses")
    async def advance_analyses(self, job_call_id: int) -> Round:
        """A round of the Transform's analyses: submit, poll, store results."""
        if self.transformer is None:
            return Round()
        async with _heartbeating({"job_call_id": job_call_id, "step": "analyses"}):
            return await self.transformer.analyse(job_call_id)

    def all(self) -> list[Any]:
        return [
            self.fetch_media,
            self.advance_analyses,
            self.start_job,
            self.run_stream,
            self.sync_job,
            self.sync_jobs,
            self.finish_job,
            self.fail_job,
            self.batch_children,
            self.finish_batch,
            self.create_job,
            self.dispatch_fleet,
            self.store_upkeep,
        ]
