"""Autopay: charging linked SBP accounts before PRO runs out (the daily autopay job).

A user is due when autopay is on, PRO ends within a day (or ended less than three days ago)
and an SBP account link is ACTIVE with its ``AccountToken`` (from T-Bank's ``LINKACCOUNT``
notification, kept in ``sbp_account_links``; the newest ACTIVE link when there are several).
Each charge is, as T-Bank documents it, an ``Init`` with ``Recurrent="Y"`` and ``DATA
{"QR": "true"}`` (and its receipt), then ``ChargeQr`` with that ``AccountToken``. Its result
arrives as a payment notification on the autopay webhook, which records the payment and
prolongs PRO, or records ``autopay_fail`` (REJECTED).

A ``ChargeQr`` that gets no answer (a timeout: the charge may have gone through) is left to its
notification or to the reconcile job (:mod:`agronom.payments.reconcile`), which asks
``GetState``: nothing is recorded as failed. A refused ``ChargeQr`` sends no payment
notification, so it is recorded here: ``autopay_fail``;
for 3014 (unknown AccountToken) and 3015 (its status does not allow charging) the link is dead
at T-Bank: it is marked INACTIVE and autopay switched off, the user has to link again.

At most one attempt a day: the ``autopay_charge`` event is committed before T-Bank is asked,
so a retried activity never charges twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agronom.payments import service, tbank
from agronom.settings import Settings
from agronom.store.models import Event, SbpAccountLink, User
from agronom.users import service as users

log = structlog.get_logger("agronom.payments")

CHARGE_EVENT = "autopay_charge"
AHEAD = timedelta(days=1)
GRACE = timedelta(days=3)
ONCE_PER = timedelta(hours=20)
DEAD_LINK = {"3014", "3015"}

Result = Literal["charged", "rejected", "failed", "unknown"]


@dataclass(frozen=True)
class Due:
    user_id: int
    request_key: str
    account_token: str


async def due(session: AsyncSession, *, now: datetime) -> list[Due]:
    newest = (
        select(SbpAccountLink.user_id, SbpAccountLink.request_key, SbpAccountLink.account_token)
        .where(SbpAccountLink.status == "ACTIVE", SbpAccountLink.account_token.is_not(None))
        .ext(distinct_on(SbpAccountLink.user_id))
        .order_by(
            SbpAccountLink.user_id,
            SbpAccountLink.updated_at.desc(),
            SbpAccountLink.request_key.desc(),
        )
        .subquery()
    )
    tried = exists().where(
        and_(Event.user_id == User.id, Event.event == CHARGE_EVENT, Event.ts > now - ONCE_PER)
    )
    rows = await session.execute(
        select(User.id, newest.c.request_key, newest.c.account_token)
        .join(newest, newest.c.user_id == User.id)
        .where(
            User.autopay_enabled,
            User.pro_expires_at < now + AHEAD,
            User.pro_expires_at > now - GRACE,
            ~tried,
        )
        .order_by(User.id)
    )
    return [Due(uid, key, token) for uid, key, token in rows.all()]


async def charge(
    sessions: async_sessionmaker[AsyncSession],
    bank: tbank.TBankClient,
    settings: Settings,
    item: Due,
    *,
    now: datetime,
) -> Result:
    """Charge one due user a month of PRO; what became of it."""
    async with sessions.begin() as session:  # committed first: at most once a day
        await users.add_event(session, item.user_id, CHARGE_EVENT, now=now)
    order = service.order_id(item.user_id, 1)
    charging = False
    try:
        initiated = await bank.init(
            order_id=order,
            amount=settings.pro_price_kopeks,
            description="Карманный агроном PRO, автопродление на 1 мес.",
            receipt=service.receipt(settings, price=settings.pro_price_kopeks, quantity=1),
            sbp_recurrent=True,
            notification_url=settings.tbank_autopay_notification_url or None,
        )
        await service.record_attempt(
            sessions,
            initiated.payment_id,
            user_id=item.user_id,
            order_id=order,
            autopay=True,
            now=now,
        )
        charging = True
        charged = await bank.charge_qr(
            payment_id=initiated.payment_id, account_token=item.account_token
        )
    except tbank.TBankError as exc:
        if charging and isinstance(exc, tbank.TBankUnavailable):
            # ChargeQr sent, no answer: the charge may have gone through. Its notification,
            # or the reconcile job's GetState, will say; nothing is recorded as failed now.
            log.warning("autopay charge unanswered", user_id=item.user_id, error=str(exc))
            return "unknown"
        log.warning("autopay charge refused", user_id=item.user_id, error=str(exc))
        async with sessions.begin() as session:
            if exc.error_code in DEAD_LINK:
                await session.execute(
                    update(SbpAccountLink)
                    .where(SbpAccountLink.request_key == item.request_key)
                    .values(status="INACTIVE", updated_at=now)
                )
                await session.execute(
                    update(User).where(User.id == item.user_id).values(autopay_enabled=False)
                )
            await users.add_event(session, item.user_id, service.AUTOPAY_FAIL, now=now)
        return "failed"
    # REJECTED: its payment notification records the failure (autopay_fail).
    return "rejected" if charged.status == "REJECTED" else "charged"
