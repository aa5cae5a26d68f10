"""Activities: each opens its transactions and calls the job's service function."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from temporalio import activity

from agronom.clock import local_date
from agronom.dsr import service as dsr
from agronom.exports import service as exports
from agronom.jobs import service
from agronom.jobs.models import JobInput, JobResult
from agronom.payments import charges, retention, tbank
from agronom.payments import service as payments
from agronom.settings import Settings
from agronom.store import objects as storage
from agronom.users import service as users


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
            self.dsr_sweep,
            self.payment_retention,
        ]

    @activity.defn(name="agronom.autopay")
    async def autopay(self, request: JobInput) -> JobResult:
        """Charge the bound accounts of users whose PRO is about to end."""
        now = _as_of(request)
        async with self.sessions.begin() as session:
            due = await charges.due(session, now=now)
        started = failed = 0
        for item in due:
            async with self.sessions.begin() as session:  # committed first: at most once a day
                await users.add_event(session, item.user_id, charges.CHARGE_EVENT, now=now)
            try:
                initiated = await self.tbank.init(
                    order_id=payments.order_id(item.user_id, 1),
                    amount=self.settings.pro_price_kopeks,
                    description="Карманный агроном PRO, автопродление на 1 мес.",
                    customer_key=users.ref(item.user_id, secret=self.secret),
                    recurrent=False,
                    notification_url=self.settings.tbank_autopay_notification_url or None,
                )
                await self.tbank.charge_qr(
                    payment_id=initiated.payment_id, account_token=item.binding
                )
                started += 1
            except tbank.TBankError as exc:
                activity.logger.warning("autopay charge failed: %s", exc)
                async with self.sessions.begin() as session:
                    await users.add_event(session, item.user_id, payments.AUTOPAY_FAIL, now=now)
                failed += 1
        return JobResult(
            "autopay", now.isoformat(), {"due": len(due), "charged": started, "failed": failed}
        )

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
