"""The job workflow: one per job, its workflow id the job's id.

``trendflow.run_job`` (on the ``<queue>.run`` task queue, which only runs as many jobs at once as
a worker allows) does the work and records ``done``; a retryable error is retried with backoff
(2 s, doubling, at most 60 s, ``max_attempts`` in all), a non-retryable one is not. When the
activity gives up, ``trendflow.fail_job`` records ``failed`` with the error's code. Then, if the
job has a webhook, ``trendflow.notify`` posts it (4 attempts); its failure changes nothing.
Only ids cross Temporal: the job itself is in PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

RUN_JOB = "trendflow.run_job"
FAIL_JOB = "trendflow.fail_job"
NOTIFY = "trendflow.notify"
HEARTBEAT = timedelta(seconds=60)


@dataclass(frozen=True)
class JobInput:
    job_id: str
    timeout_s: float
    max_attempts: int


@dataclass(frozen=True)
class JobOutcome:
    status: str
    notify: bool


@dataclass(frozen=True)
class FailInput:
    job_id: str
    code: str
    message: str
    retryable: bool


def run_queue(task_queue: str) -> str:
    """The task queue of the job activities (a worker bounds how many it runs at once)."""
    return f"{task_queue}.run"


def _failure(error: ActivityError, job: JobInput) -> tuple[str, str, bool]:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return (cause.type or "internal"), cause.message, not cause.non_retryable
    if isinstance(cause, ActivityTimeoutError):
        return "timeout", f"the job did not finish within {job.timeout_s:g} s", True
    return "internal", str(cause or error), True


@workflow.defn(name="trendflow.Job")
class JobWorkflow:
    @workflow.run
    async def run(self, job: JobInput) -> JobOutcome:
        try:
            outcome: JobOutcome = await workflow.execute_activity(
                RUN_JOB,
                job,
                result_type=JobOutcome,
                task_queue=run_queue(workflow.info().task_queue),
                start_to_close_timeout=timedelta(seconds=job.timeout_s),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=2),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=60),
                    maximum_attempts=job.max_attempts,
                ),
            )
        except ActivityError as error:
            code, message, retryable = _failure(error, job)
            outcome = await workflow.execute_activity(
                FAIL_JOB,
                FailInput(job.job_id, code, message, retryable),
                result_type=JobOutcome,
                start_to_close_timeout=timedelta(seconds=30),
                # Until the database answers: the failure must be recorded.
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
        if outcome.notify:
            try:
                await workflow.execute_activity(
                    NOTIFY,
                    job,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=2),
                        backoff_coefficient=3.0,
                        maximum_attempts=4,
                    ),
                )
            except ActivityError as error:
                workflow.logger.warning("webhook of job %s not delivered: %s", job.job_id, error)
        return outcome
