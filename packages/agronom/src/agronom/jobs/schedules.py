"""The jobs' Temporal Schedules (the contract's cron), created or updated at worker start.

A job that follows the users' calendar (the monthly quota reset, the daily export) runs on
``QUOTA_TIMEZONE`` (Europe/Moscow by default): its cron is read in that zone, so the quota
opens at 00:00 on the 1st in Moscow, not at 03:00. The others are UTC. Overlapping runs are
skipped: a job that is still running when its next time comes is not started twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from agronom.jobs.models import JobInput


@dataclass(frozen=True)
class Job:
    schedule_id: str
    workflow: str
    cron: str
    what: str
    local: bool = False  # cron on the users' calendar (QUOTA_TIMEZONE), not UTC


JOBS = (
    Job(
        "agronom-quota-reset",
        "agronom.QuotaReset",
        "0 0 1 * *",
        "monthly quota reset on the 1st",
        local=True,
    ),
    Job("agronom-photo-retention", "agronom.PhotoRetention", "30 2 * * *", "90-day photo TTL"),
    Job("agronom-ml-dataset", "agronom.MlDataset", "0 3 * * *", "ML dataset copy, 2-year TTL"),
    Job(
        "agronom-metrics-export",
        "agronom.MetricsExport",
        "15 0 * * *",
        "daily metrics CSV",
        local=True,
    ),
    Job("agronom-autopay", "agronom.Autopay", "0 9 * * *", "autopay charges before PRO ends"),
    Job(
        "agronom-reconcile-payments",
        "agronom.ReconcilePayments",
        "*/15 * * * *",
        "payments and SBP links no notification settled, asked at T-Bank",
    ),
    Job("agronom-dsr-sweep", "agronom.DsrSweep", "20 * * * *", "DSR deletions left pending"),
    Job(
        "agronom-payment-retention",
        "agronom.PaymentRetention",
        "45 2 * * *",
        "payments purged after 5 years (402-FZ)",
    ),
    Job(
        "agronom-stuck-photos",
        "agronom.StuckPhotos",
        "40 * * * *",
        "photos stuck pending/retrying failed, their quota given back",
    ),
)


def _schedule(job: Job, task_queue: str, zone: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            job.workflow, JobInput(None), id=f"{job.schedule_id}-run", task_queue=task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[job.cron], time_zone_name=zone if job.local else "UTC"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure(
    client: Client, *, task_queue: str, zone: str = "Europe/Moscow", prefix: str = ""
) -> list[str]:
    """Create every job's schedule, or bring an existing one up to date; their ids. ``zone``:
    the users' calendar (``QUOTA_TIMEZONE``) that local jobs follow."""
    ids = []
    for job in JOBS:
        sid = prefix + job.schedule_id
        schedule = _schedule(job, task_queue, zone)
        try:
            await client.create_schedule(sid, schedule)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(sid).update(replace)
        ids.append(sid)
    return ids
