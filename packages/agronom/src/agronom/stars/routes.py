"""PRO for Telegram Stars, for the bot: the invoice's terms, the pre-checkout check, the
``successful_payment`` and ``refunded_payment`` messages (:mod:`agronom.stars.service`)."""

from __future__ import annotations

from fastapi import APIRouter

from agronom.api import schemas
from agronom.api.deps import Rt, TgUser, errors
from agronom.stars import service as stars
from agronom.users import service as users

router = APIRouter(tags=["stars"])


def _charge(body: schemas.StarsCharge) -> stars.Charge:
    return stars.Charge(
        telegram_payment_charge_id=body.telegram_payment_charge_id,
        currency=body.currency,
        total_amount=body.total_amount,
        invoice_payload=body.invoice_payload,
        is_recurring=body.is_recurring,
        is_first_recurring=body.is_first_recurring,
    )


def _applied(done: stars.Applied) -> schemas.StarsApplied:
    return schemas.StarsApplied(
        applied=done.applied, reason=done.reason, pro_expires_at=done.pro_expires_at
    )


@router.post(
    "/v1/payments/stars/invoice",
    response_model=schemas.StarsInvoice,
    responses=errors(400, 401),
)
async def stars_invoice(tg_id: TgUser, rt: Rt) -> schemas.StarsInvoice:
    """The terms of a 30-day PRO subscription in Stars for this user (the bot makes the link)."""
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=rt.clock())
    made = stars.invoice(user.id, price=rt.settings.pro_price_stars)
    return schemas.StarsInvoice(
        payload=made.payload,
        amount=made.amount,
        currency="XTR",
        subscription_period=made.subscription_period,
    )


@router.post(
    "/v1/payments/stars/check",
    response_model=schemas.StarsCheckResponse,
    responses=errors(400, 401),
)
async def stars_check(
    body: schemas.StarsCheckRequest, tg_id: TgUser, rt: Rt
) -> schemas.StarsCheckResponse:
    """May this user pay this invoice (a ``pre_checkout_query``)? Nothing is recorded."""
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=rt.clock())
    refusal = stars.check(
        user.id,
        currency=body.currency,
        total_amount=body.total_amount,
        payload=body.invoice_payload,
        price=rt.settings.pro_price_stars,
    )
    return schemas.StarsCheckResponse(ok=refusal is None, reason=refusal)


@router.post("/v1/payments/stars", response_model=schemas.StarsApplied, responses=errors(400, 401))
async def stars_paid(body: schemas.StarsCharge, tg_id: TgUser, rt: Rt) -> schemas.StarsApplied:
    """A ``successful_payment`` of this user: recorded once (a replay changes nothing) and 30
    days of PRO granted."""
    now = rt.clock()
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
        done = await stars.record_payment(session, user.id, _charge(body), now=now)
    return _applied(done)


@router.post(
    "/v1/payments/stars/refund", response_model=schemas.StarsApplied, responses=errors(400, 401)
)
async def stars_refunded(body: schemas.StarsCharge, tg_id: TgUser, rt: Rt) -> schemas.StarsApplied:
    """A ``refunded_payment`` of this user: a ``cancel`` row once, and the 30 days of PRO that
    charge granted taken back."""
    now = rt.clock()
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
        done = await stars.record_refund(session, user.id, _charge(body), now=now)
    return _applied(done)
