"""Autopay: charging bound SBP accounts before PRO runs out (the daily autopay job).

A user is due when autopay is on, PRO ends within a day (or ended less than three days ago)
and a successful payment carries the binding (``autopay_binding_id``). Each charge is an
``Init`` plus ``ChargeQr``; its result arrives as a notification on the autopay webhook, which
records the payment and prolongs PRO (or records ``autopay_fail``).

At most one attempt a day: the ``autopay_charge`` event is committed before T-Bank is asked,
so a retried activity never charges twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.store.models import Event, Payment, PaymentStatus, User

CHARGE_EVENT = "autopay_charge"
AHEAD = timedelta(days=1)
GRACE = timedelta(days=3)
ONCE_PER = timedelta(hours=20)


@dataclass(frozen=True)
class Due:
    user_id: int
    binding: str


async def due(session: AsyncSession, *, now: datetime) -> list[Due]:
    binding = (
        select(Payment.autopay_binding_id)
        .where(
            Payment.user_id == User.id,
            Payment.status == PaymentStatus.SUCCESS,
            Payment.autopay_binding_id.is_not(None),
        )
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    tried = exists().where(
        and_(Event.user_id == User.id, Event.event == CHARGE_EVENT, Event.ts > now - ONCE_PER)
    )
    rows = await session.execute(
        select(User.id, binding)
        .where(
            User.autopay_enabled,
            User.pro_expires_at < now + AHEAD,
            User.pro_expires_at > now - GRACE,
            ~tried,
        )
        .order_by(User.id)
    )
    return [Due(uid, token) for uid, token in rows.all() if token]
