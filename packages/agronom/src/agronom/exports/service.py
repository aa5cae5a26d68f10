"""The daily metrics export for Metabase: two CSV files a day in the object store, and the
metrics as rows of the ``daily_metrics`` table that Metabase queries directly.

``exports/daily/<day>/metrics.csv``: ``metric,value`` rows (users, photos by status and
disease, payments, revenue in kopeks and in Telegram Stars, PRO and autopay users, partner orders).
``exports/daily/<day>/user_activity.csv``: one row per active user under their pseudonymous
reference. Being personal data all the same, a user's rows are removed by DSR
(:func:`forget`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.clock import day_bounds, system_clock
from agronom.store import objects as storage
from agronom.store.models import (
    DailyMetric,
    Event,
    PartnerOrder,
    Payment,
    PaymentStatus,
    Photo,
    PhotoStatus,
    User,
)
from agronom.users import service as users

PREFIX = f"{storage.EXPORTS}daily/"
ACTIVITY = "user_activity.csv"
METRICS = "metrics.csv"
ACTIVITY_COLUMNS = ("user_ref", "photos", "photos_ok", "photos_failed", "plan")


def _csv(rows: Sequence[tuple[object, ...]], header: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


async def export_day(
    session: AsyncSession,
    store: storage.ObjectStore,
    day: date,
    *,
    secret: str,
    zone: str = "UTC",
) -> dict[str, int]:
    """Write (or rewrite: the export is a pure function of the rows) the files of ``day``, a
    calendar day in ``zone`` (``QUOTA_TIMEZONE``: the users' day, not UTC's)."""
    start, end = day_bounds(day, zone)
    in_day = and_(Photo.ts >= start, Photo.ts < end)
    metrics: list[tuple[str, int]] = []

    async def count(statement: object, name: str) -> None:
        value = await session.scalar(statement)  # type: ignore[call-overload]  # selects of one value
        metrics.append((name, int(value or 0)))

    await count(
        select(func.count())
        .select_from(User)
        .where(User.created_at >= start, User.created_at < end),
        "new_users",
    )
    await count(select(func.count()).select_from(Photo).where(in_day), "photos")
    for status in PhotoStatus:
        await count(
            select(func.count()).select_from(Photo).where(in_day, Photo.status == status),
            f"photos_{status.value}",
        )
    diseases = await session.execute(
        select(Photo.disease, func.count())
        .where(in_day, Photo.status == PhotoStatus.OK)
        .group_by(Photo.disease)
        .order_by(Photo.disease)
    )
    metrics.extend((f"disease:{d}", n) for d, n in diseases.all())
    paid = and_(
        Payment.created_at >= start,
        Payment.created_at < end,
        Payment.status == PaymentStatus.SUCCESS,
    )
    await count(select(func.count()).select_from(Payment).where(paid), "payments_success")
    # Amounts are in the minor units of their currency: kopeks and whole Stars never add up.
    await count(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(paid, Payment.currency == "RUB"),
        "revenue_kopeks",
    )
    await count(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(paid, Payment.currency == "XTR"),
        "revenue_stars",
    )
    await count(
        select(func.count()).select_from(User).where(User.pro_expires_at > end), "pro_users"
    )
    await count(select(func.count()).select_from(User).where(User.autopay_enabled), "autopay_users")
    await count(
        select(func.count())
        .select_from(PartnerOrder)
        .where(PartnerOrder.created_at >= start, PartnerOrder.created_at < end),
        "partner_orders",
    )
    events = await session.execute(
        select(Event.event, func.count())
        .where(Event.ts >= start, Event.ts < end)
        .group_by(Event.event)
        .order_by(Event.event)
    )
    metrics.extend((f"event:{e}", n) for e, n in events.all())

    activity = await session.execute(
        select(
            Photo.user_id,
            func.count(),
            func.count().filter(Photo.status == PhotoStatus.OK),
            func.count().filter(Photo.status == PhotoStatus.FAILED),
            func.max(case((User.pro_expires_at > end, "pro"), else_="free")),
        )
        .join(User, User.id == Photo.user_id)
        .where(in_day)
        .group_by(Photo.user_id)
        .order_by(Photo.user_id)
    )
    rows = [
        (users.ref(uid, secret=secret), n, ok, failed, plan)
        for uid, n, ok, failed, plan in activity.all()
    ]
    await session.execute(delete(DailyMetric).where(DailyMetric.day == day))
    exported = system_clock()
    session.add_all(
        DailyMetric(day=day, metric=name, value=value, exported_at=exported)
        for name, value in metrics
    )
    folder = f"{PREFIX}{day.isoformat()}/"
    await store.put(folder + METRICS, _csv(metrics, ("metric", "value")), content_type="text/csv")
    await store.put(folder + ACTIVITY, _csv(rows, ACTIVITY_COLUMNS), content_type="text/csv")
    return {"metrics": len(metrics), "active_users": len(rows)}


async def forget(store: storage.ObjectStore, user_ref: str) -> int:
    """Remove a user's rows from every activity export; the number of files rewritten."""
    rewritten = 0
    for item in await store.list(PREFIX):
        if not item.key.endswith("/" + ACTIVITY):
            continue
        text = (await store.get(item.key)).decode()
        lines = text.splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(user_ref + ",")]
        if len(kept) != len(lines):
            await store.put(item.key, "".join(kept).encode(), content_type="text/csv")
            rewritten += 1
    return rewritten
