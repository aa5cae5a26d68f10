"""Activities: each opens its transactions and calls the job's service function."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from temporalio import activity

from agronom import storage
from agronom.jobs import exports, service
from agronom.jobs.models import JobInput, JobResult
from agronom.settings import Settings


def _as_of(request: JobInput) -> datetime:
    if request.as_of is None:
        raise ValueError("the workflow passes as_of to its activities")
    return datetime.fromisoformat(request.as_of).replace(tzinfo=None)


class JobActivities:
    def __init__(self, engine: AsyncEngine, store: storage.ObjectStore, settings: Settings) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.store = store
        self.secret = settings.pseudonym_secret.get_secret_value()

    def all(self) -> list[Callable[..., Any]]:
        return [self.reset_quota, self.photo_retention, self.ml_dataset, self.metrics_export]

    @activity.defn(name="agronom.reset_quota")
    async def reset_quota(self, request: JobInput) -> JobResult:
        now = _as_of(request)
        async with self.sessions.begin() as session:
            counts = await service.reset_quota(session, now=now)
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
        """Export the day before ``as_of`` (the schedule runs just after midnight)."""
        now = _as_of(request)
        day = (now - timedelta(days=1)).date()
        async with self.sessions.begin() as session:
            counts = await exports.export_day(session, self.store, day, secret=self.secret)
        return JobResult("metrics_export", now.isoformat(), counts)
