"""PRO for Telegram Stars: the invoice's terms, the pre-checkout check, payments and refunds.

The bot talks to Telegram (``createInvoiceLink``, ``answerPreCheckoutQuery``, the
``successful_payment`` and ``refunded_payment`` messages); this service decides and records.
The API never holds the Telegram token, so the invoice link itself is made by the bot from
:func:`invoice`'s terms.

A payment is a ``payments`` row like a T-Bank one::

    provider    TelegramStars
    currency    XTR                 amount in whole Stars (XTR has no minor unit)
    external_id telegram_payment_charge_id (a renewal is a new charge: a row of its own)
    status      success             for successful_payment
                cancel              for refunded_payment, with the same external_id
    autopay     true for a renewal Telegram charged by itself (is_recurring, not the first)
    autopay_binding_id  always NULL: Stars renewals are Telegram's, never our T-Bank autopay

Idempotency is the unique key ``(external_id, status)``: the row is inserted with
``ON CONFLICT DO NOTHING`` in the same transaction as its effect, so a replayed message changes
nothing. A success grants :data:`PERIOD` of PRO from the later of now and the current expiry; a
refund takes the same period back (ending PRO now if that is past). A refund recorded before
its payment (messages out of order) leaves that payment without effect. ``users.autopay_enabled``
is never touched: it drives our T-Bank charges.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.errors import BadRequest
from agronom.store.models import Payment, PaymentStatus, User
from agronom.users import service as users

log = structlog.get_logger("agronom.stars")

PROVIDER = "TelegramStars"
CURRENCY = "XTR"
PERIOD_S = 2_592_000
"""The subscription period: Telegram allows only 30 days (2592000 s)."""
PERIOD = timedelta(seconds=PERIOD_S)
STARS_PAYMENT = "stars_payment_success"
STARS_REFUND = "stars_refund"
_PAYLOAD = re.compile(r"^ps:u(\d{1,9}):[A-Za-z0-9]{1,32}$")

Refusal = Literal["currency", "price", "payload", "foreign"]
"""Why a pre-checkout is refused: not Stars, not the current price, not our invoice, or an
invoice made for another user."""


@dataclass(frozen=True)
class Invoice:
    """What the bot puts in ``createInvoiceLink``."""

    payload: str
    amount: int
    currency: str = CURRENCY
    subscription_period: int = PERIOD_S


@dataclass(frozen=True)
class Charge:
    """The fields of Telegram's ``successful_payment`` / ``refunded_payment`` we use."""

    telegram_payment_charge_id: str
    currency: str
    total_amount: int
    invoice_payload: str
    is_recurring: bool = False
    is_first_recurring: bool = False


@dataclass(frozen=True)
class Applied:
    applied: bool
    reason: str
    pro_expires_at: datetime | None


def invoice(user_id: int, *, price: int) -> Invoice:
    """A subscription invoice for ``user_id``: a payload of ours (whose it is, plus a nonce)."""
    return Invoice(payload=f"ps:u{user_id}:{secrets.token_hex(8)}", amount=price)


def payload_user(payload: str) -> int | None:
    """The user id an invoice payload of ours was made for."""
    match = _PAYLOAD.match(payload)
    return int(match[1]) if match else None


def check(
    user_id: int, *, currency: str, total_amount: int, payload: str, price: int
) -> Refusal | None:
    """Why a pre-checkout must be refused, or ``None`` to let the user pay."""
    if currency != CURRENCY:
        return "currency"
    owner = payload_user(payload)
    if owner is None:
        return "payload"
    if owner != user_id:
        return "foreign"
    if total_amount != price:  # a link made before a price change
        return "price"
    return None


def _valid(charge: Charge) -> None:
    if charge.currency != CURRENCY:
        raise BadRequest(f"a Stars payment is in {CURRENCY}, not {charge.currency}")
    if not charge.telegram_payment_charge_id:
        raise BadRequest("telegram_payment_charge_id is required")


async def _expiry(session: AsyncSession, user_id: int) -> datetime | None:
    return await session.scalar(select(User.pro_expires_at).where(User.id == user_id))


async def record_payment(
    session: AsyncSession, user_id: int, charge: Charge, *, now: datetime
) -> Applied:
    """Record a ``successful_payment`` of ``user_id`` (the payer) and grant PRO once; the
    caller commits. The payer gets PRO even if the invoice was made for someone else: they
    paid."""
    _valid(charge)
    charge_id = charge.telegram_payment_charge_id
    inserted = await session.scalar(
        insert(Payment)
        .values(
            user_id=user_id,
            amount=charge.total_amount,
            currency=CURRENCY,
            status=PaymentStatus.SUCCESS,
            provider=PROVIDER,
            external_id=charge_id,
            autopay=charge.is_recurring and not charge.is_first_recurring,
            autopay_binding_id=None,
            prolong_months=1,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_payments_external_id_status")
        .returning(Payment.id)
    )
    if inserted is None:
        return Applied(False, "already recorded", await _expiry(session, user_id))
    refunded = await session.scalar(
        select(Payment.id).where(
            Payment.external_id == charge_id, Payment.status == PaymentStatus.CANCEL
        )
    )
    if refunded is not None:
        log.warning("stars payment after its refund", charge_id=charge_id, user_id=user_id)
        return Applied(True, "refunded already: no PRO", await _expiry(session, user_id))
    # From the later of now and the current expiry, in one statement, so that two payments
    # applied at once both count.
    expires = await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(pro_expires_at=func.greatest(func.coalesce(User.pro_expires_at, now), now) + PERIOD)
        .returning(User.pro_expires_at)
    )
    await users.add_event(session, user_id, STARS_PAYMENT, now=now)
    log.info("stars payment recorded", charge_id=charge_id, user_id=user_id)
    return Applied(True, "applied", expires)


async def record_refund(
    session: AsyncSession, user_id: int, charge: Charge, *, now: datetime
) -> Applied:
    """Record a refund of ``user_id``'s charge once and take back the PRO it granted; the
    caller commits."""
    _valid(charge)
    charge_id = charge.telegram_payment_charge_id
    paid_by = await session.scalar(
        select(Payment.user_id).where(
            Payment.external_id == charge_id,
            Payment.status == PaymentStatus.SUCCESS,
            Payment.provider == PROVIDER,
        )
    )
    inserted = await session.scalar(
        insert(Payment)
        .values(
            user_id=user_id,
            amount=charge.total_amount,
            currency=CURRENCY,
            status=PaymentStatus.CANCEL,
            provider=PROVIDER,
            external_id=charge_id,
            autopay=False,
            autopay_binding_id=None,
            prolong_months=1,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_payments_external_id_status")
        .returning(Payment.id)
    )
    if inserted is None:
        return Applied(False, "already refunded", await _expiry(session, user_id))
    if paid_by != user_id:  # unknown yet (out of order), or not this user's: nothing granted
        await users.add_event(session, user_id, STARS_REFUND, now=now)
        return Applied(
            True,
            "refund recorded; no PRO of this charge to take back",
            await _expiry(session, user_id),
        )
    expires = await session.scalar(
        update(User)
        .where(User.id == user_id, User.pro_expires_at.is_not(None))
        .values(pro_expires_at=User.pro_expires_at - PERIOD)
        .returning(User.pro_expires_at)
    )
    await users.add_event(session, user_id, STARS_REFUND, now=now)
    log.info("stars refund recorded", charge_id=charge_id, user_id=user_id)
    return Applied(True, "applied", expires)
