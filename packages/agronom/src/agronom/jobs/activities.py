"""Activities: each opens its transactions and calls the job's service function."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from temporalio import activity

from agronom.clock import local_date
from agronom.diagnosis import service as diagnosis
from agronom.dsr import service as dsr
from agronom.exports import service as exports
from agronom.jobs import service
from agronom.jobs.models import JobInput, JobResult
from agronom.payments import charges, reconcile, retention, tbank
from agronom.settings import Settings
from agronom.store import objects as storage


def _as_of(request: JobInput) -> datetime:
    if request.as_of is None:
        raise ValueError("the workflow passes as_of to its activities")
    return datetime.fromisoformat(request.as_of).replace(tzinfo=None)


class JobActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        store: storage.ObjectStore,
        settings: Settings,
        bank: tbank.TBankClient,
    ) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.store = store
        self.settings = settings
        self.tbank = bank
        self.secret = settings.pseudonym_secret.get_secret_value()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.reset_quota,
            self.photo_retention,
            self.ml_dataset,
            self.metrics_export,
            self.autopay,
            self.reconcile_payments,
            self.dsr_sweep,
            self.payment_retention,
            self.stuck_photos,
        ]

    @activity.defn(name="agronom.autopay")
    async def autopay(self, request: JobInput) -> JobResult:
        """Charge the linked SBP accounts of users whose PRO is about to end."""
        now = _as_of(request)
        async with self.sessions.begin() as session:
            due = await charges.due(session, now=now)
        results = [
            await charges.charge(self.sessions, self.tbank, self.settings, item, now=now)
            for item in due
        ]
        charged, unknown = results.count("charged"), results.count("unknown")
        counts = {"due": len(due), "charged": charged, "failed": len(results) - charged - unknown}
        if unknown:  # unanswered: their outcome comes with a notification or the reconcile job
            counts["unknown"] = unknown
        return JobResult("autopay", now.isoformat(), counts)

    @activity.defn(name="agronom.reconcile_payments")
    async def reconcile_payments(self, request: JobInput) -> JobResult:
        """Ask T-Bank about payments and account links no notification settled, and apply
        the answers (:mod:`agronom.payments.reconcile`)."""
        now = _as_of(request)
        counts: dict[str, int] = {}
        async with self.sessions.begin() as session:
            payments = await reconcile.unsettled(session, now=now)
            links = await reconcile.open_links(session, now=now)
        for payment_id in payments:
            result = await reconcile.reconcile(self.sessions, self.tbank, payment_id, now=now)
            counts[f"payments_{result}"] = counts.get(f"payments_{result}", 0) + 1
            activity.heartbeat(counts)
        for request_key in links:
            result = await reconcile.reconcile_link(self.sessions, self.tbank, request_key, now=now)
            counts[f"links_{result}"] = counts.get(f"links_{result}", 0) + 1
            activity.heartbeat(counts)
        return JobResult("reconcile_payments", now.isoformat(), counts)

    @activity.defn(name="agronom.payment_retention")
    async def payment_retention(self, request: JobInput) -> JobResult:
        """Purge payments older than five years, a batch per transaction."""
        now = _as_of(request)
        purged = 0
        while True:
            async with self.sessions.begin() as session:
                batch = await retention.purge(session, now=now)
            purged += batch
            activity.heartbeat(purged)
            if batch < retention.BATCH:
                break
        return JobResult("payment_retention", now.isoformat(), {"purged": purged})

    @activity.defn(name="agronom.reset_quota")
    async def reset_quota(self, request: JobInput) -> JobResult:
        now = _as_of(request)
        async with self.sessions.begin() as session:
            counts = await service.reset_quota(session, now=now, zone=self.settings.quota_timezone)
        return JobResult("reset_quota", now.isoformat(), counts)

    @activity.defn(name="agronom.photo_retention")
    async def photo_retention(self, request: JobInput) -> JobResult:
        now = _as_of(request)
        expired = 0
        while True:  # one transaction per batch: a retry resumes where the last one ended
            async with self.sessions.begin() as session:
                batch = (
                    await service.expire_photos(session, self.store, now=now, secret=self.secret)
                )["expired"]
            expired += batch
            activity.heartbeat(expired)
            if batch < service.BATCH:
                break
        async with self.sessions.begin() as session:
            counts = await service.hard_delete(session, now=now)
        return JobResult("photo_retention", now.isoformat(), {"expired": expired, **counts})

    @activity.defn(name="agronom.ml_dataset")
    async def ml_dataset(self, request: JobInput) -> JobResult:
        now = _as_of(request)
        async with self.sessions.begin() as session:
            counts = await service.copy_dataset(session, self.store, now=now, secret=self.secret)
        return JobResult("ml_dataset", now.isoformat(), counts)

    @activity.defn(name="agronom.metrics_export")
    async def metrics_export(self, request: JobInput) -> JobResult:
        """Export the day before ``as_of`` on the users' calendar (the schedule runs just after
        midnight in QUOTA_TIMEZONE)."""
        now = _as_of(request)
        zone = self.settings.quota_timezone
        day = local_date(now, zone) - timedelta(days=1)
        async with self.sessions.begin() as session:
            counts = await exports.export_day(
                session, self.store, day, secret=self.secret, zone=zone
            )
        return JobResult("metrics_export", now.isoformat(), counts)

    @activity.defn(name="agronom.dsr_sweep")
    async def dsr_sweep(self, request: JobInput) -> JobResult:
        """Finish the DSR deletions that could not finish in their request."""
        now = _as_of(request)
        counts = await dsr.sweep(self.engine, self.store, secret=self.secret, now=now)
        return JobResult("dsr_sweep", now.isoformat(), counts)

    @activity.defn(name="agronom.stuck_photos")
    async def stuck_photos(self, request: JobInput) -> JobResult:
        """Fail the photos left pending/retrying by a crash and give back their quota."""
        now = _as_of(request)
        max_age = timedelta(seconds=self.settings.stuck_photo_max_age_s)
        released = 0
        while True:  # one transaction per batch
            async with self.sessions.begin() as session:
                batch = (
                    await diagnosis.release_stuck(
                        session, now=now, max_age=max_age, zone=self.settings.quota_timezone
                    )
                )["released"]
            released += batch
            activity.heartbeat(released)
            if batch < diagnosis.RELEASE_BATCH:
                break
        return JobResult("stuck_photos", now.isoformat(), {"released": released})
