"""Workflows: one per scheduled job, each a single activity with the job's moment fixed.

A scheduled run has no ``as_of``: the workflow takes ``workflow.now()`` (deterministic on
replay) and hands it to its activity, so every activity attempt acts for the same moment.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from agronom.jobs.models import JobInput, JobResult

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
    non_retryable_error_types=["ValueError"],
)


async def _run(activity_name: str, request: JobInput) -> JobResult:
    as_of = request.as_of or workflow.now().replace(tzinfo=None).isoformat()
    result: JobResult = await workflow.execute_activity(
        activity_name,
        JobInput(as_of),
        result_type=JobResult,
        start_to_close_timeout=timedelta(minutes=30),
        heartbeat_timeout=timedelta(minutes=5),
        retry_policy=RETRY,
    )
    return result


@workflow.defn(name="agronom.QuotaReset")
class QuotaResetWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.reset_quota", request)


@workflow.defn(name="agronom.PhotoRetention")
class PhotoRetentionWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.photo_retention", request)


@workflow.defn(name="agronom.MlDataset")
class MlDatasetWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.ml_dataset", request)


@workflow.defn(name="agronom.MetricsExport")
class MetricsExportWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.metrics_export", request)


@workflow.defn(name="agronom.Autopay")
class AutopayWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.autopay", request)


@workflow.defn(name="agronom.ReconcilePayments")
class ReconcilePaymentsWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.reconcile_payments", request)


@workflow.defn(name="agronom.DsrSweep")
class DsrSweepWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.dsr_sweep", request)


@workflow.defn(name="agronom.PaymentRetention")
class PaymentRetentionWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.payment_retention", request)


@workflow.defn(name="agronom.StuckPhotos")
class StuckPhotosWorkflow:
    @workflow.run
    async def run(self, request: JobInput) -> JobResult:
        return await _run("agronom.stuck_photos", request)


WORKFLOWS = [
    QuotaResetWorkflow,
    PhotoRetentionWorkflow,
    MlDatasetWorkflow,
    MetricsExportWorkflow,
    AutopayWorkflow,
    ReconcilePaymentsWorkflow,
    DsrSweepWorkflow,
    PaymentRetentionWorkflow,
    StuckPhotosWorkflow,
]
