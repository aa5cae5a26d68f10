"""Payments whose notification never came: asked at T-Bank and applied (the reconcile job).

T-Bank repeats a notification until it is answered ``OK``, but gives up after a while, and a
notification can be lost on the way (our webhook down longer than T-Bank retries, a proxy that
dropped it). Then a customer who paid would never get PRO. So every payment T-Bank accepted is
remembered (``payment_attempts``, written by :func:`agronom.payments.service.start` and the
autopay charges) until a notification settles it; the job asks ``GetState`` about those
unsettled for longer than :data:`QUIET` and applies the answer exactly as the notification
would have been applied (:func:`agronom.payments.service.apply`: the same effects, the same
``payments (external_id, status)`` key, so a notification that arrives later changes nothing).

- CONFIRMED / REJECTED / CANCELED / DEADLINE_EXPIRED / …: applied, the attempt settled.
- In progress (NEW, FORM_SHOWED, AUTHORIZED, …; every QR the bot shows is a payment that
  may never be paid): asked again once it has waited as long again as it had when last asked
  (10, 20, 40 minutes…: a handful of calls a day each); the least recently asked go first, so
  a backlog never starves anyone.
- Refunded or reversed before we heard of the payment: the customer has their money back and
  never had PRO: settled, nothing granted.
- Not settled after :data:`GIVE_UP` (an SBP QR lives far less): settled as abandoned, logged.
- T-Bank not answering: counted, asked again next run.

Account links (``sbp_account_links``) still NEW or PROCESSING after :data:`QUIET` are asked
about the same way (``GetAddAccountQrState``) and their answer applied as a ``LINKACCOUNT``
notice would be: ACTIVE stores the ``AccountToken`` and turns autopay on; a link still open
after :data:`GIVE_UP` is asked no more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import DateTime, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agronom.payments import service, tbank
from agronom.store.models import PaymentAttempt, SbpAccountLink

log = structlog.get_logger("agronom.payments")

# A notification comes within seconds of a payment's change; this long without one, we ask.
QUIET = timedelta(minutes=10)
GIVE_UP = timedelta(days=7)
BATCH = 200


async def unsettled(session: AsyncSession, *, now: datetime, limit: int = BATCH) -> list[str]:
    """Payment ids to ask about: unsettled, quiet, and not asked again too soon; the least
    recently asked first."""
    rows = await session.scalars(
        select(PaymentAttempt.payment_id)
        .where(
            PaymentAttempt.settled_at.is_(None),
            PaymentAttempt.created_at <= now - QUIET,
            or_(
                PaymentAttempt.checked_at.is_(None),
                literal(now, DateTime()) - PaymentAttempt.checked_at
                >= PaymentAttempt.checked_at - PaymentAttempt.created_at,
            ),
        )
        .order_by(PaymentAttempt.checked_at.asc().nulls_first(), PaymentAttempt.created_at)
        .limit(limit)
    )
    return list(rows)


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    bank: tbank.TBankClient,
    payment_id: str,
    *,
    now: datetime,
) -> str:
    """Ask T-Bank about one payment and apply its answer; what became of it: ``applied``,
    ``known`` (applied before), ``pending``, ``refunded``, ``abandoned`` or ``unanswered``."""
    try:
        state = await bank.get_state(payment_id)
    except tbank.TBankError as exc:
        log.warning("payment state unanswered", payment_id=payment_id, error=str(exc))
        return "unanswered"
    async with sessions.begin() as session:
        attempt = await session.get(PaymentAttempt, payment_id, with_for_update=True)
        if attempt is None or attempt.settled_at is not None:
            return "known"  # settled meanwhile (its notification came) or gone with its user
        attempt.checked_at = now
        if state.status in service.REFUND:
            attempt.settled_at = now
            log.warning("payment refunded before it was heard of", payment_id=payment_id)
            return "refunded"
        notification = {
            "PaymentId": state.payment_id,
            "OrderId": state.order_id or attempt.order_id,
            "Status": state.status,
            "Success": state.status not in service.FAIL,
            "Amount": state.amount,
        }
        outcome = await service.apply(session, notification, autopay=attempt.autopay, now=now)
        if outcome.status is not None:
            log.info(
                "payment reconciled",
                payment_id=payment_id,
                status=state.status,
                reason=outcome.reason,
            )
            return "applied" if outcome.applied else "known"
        if attempt.created_at <= now - GIVE_UP:
            attempt.settled_at = now
            log.warning("payment abandoned", payment_id=payment_id, status=state.status)
            return "abandoned"
        return "pending"


async def open_links(session: AsyncSession, *, now: datetime, limit: int = BATCH) -> list[str]:
    """Request keys of links T-Bank has not reported on: quiet, not given up, oldest first."""
    rows = await session.scalars(
        select(SbpAccountLink.request_key)
        .where(
            SbpAccountLink.status.in_(("NEW", "PROCESSING")),
            SbpAccountLink.updated_at <= now - QUIET,
            SbpAccountLink.created_at > now - GIVE_UP,
        )
        .order_by(SbpAccountLink.updated_at)
        .limit(limit)
    )
    return list(rows)


async def reconcile_link(
    sessions: async_sessionmaker[AsyncSession],
    bank: tbank.TBankClient,
    request_key: str,
    *,
    now: datetime,
) -> str:
    """Ask T-Bank where one link stands and apply it: ``applied``, ``pending`` or
    ``unanswered``."""
    try:
        state = await bank.get_add_account_qr_state(request_key)
    except tbank.TBankError as exc:
        log.warning("link state unanswered", request_key=request_key, error=str(exc))
        return "unanswered"
    async with sessions.begin() as session:
        notice: dict[str, object] = {
            "NotificationType": "LINKACCOUNT",
            "RequestKey": request_key,
            "Status": state.status,
            "Success": state.status == "ACTIVE",
            "AccountToken": state.account_token,
        }
        outcome = await service.apply(session, notice, autopay=False, now=now)
        if state.status in ("NEW", "PROCESSING"):
            # Asked: the next run asks the others first.
            await session.execute(
                update(SbpAccountLink)
                .where(SbpAccountLink.request_key == request_key)
                .values(updated_at=now)
            )
            return "pending"
        log.info("link reconciled", request_key=request_key, status=state.status)
        return "applied" if outcome.applied else "known"
