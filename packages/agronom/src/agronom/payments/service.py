"""Applying T-Bank notifications: a payment row, PRO time, autopay state, events.

Idempotency: T-Bank repeats a notification until it gets ``OK``, and may send one twice. A
notification's effect is keyed on (PaymentId, Status) by the unique key
``payments (external_id, status)``: the row is inserted with ``ON CONFLICT DO NOTHING`` in the
same transaction as the effect, so a replay inserts nothing and changes nothing.

T-Bank statuses → ``payment_status``::

    CONFIRMED                                              success   (PRO granted)
    REJECTED, AUTH_FAIL                                    fail
    CANCELED, REVERSED, REFUNDED, PARTIAL_REFUNDED,
    DEADLINE_EXPIRED                                       cancel
    any other status with Success=false                    bank_error
    NEW, FORM_SHOWED, AUTHORIZED, … (Success=true)          not stored: in progress

Which user and how many months: we create every ``OrderId`` ourselves as
``u<user id>-m<months>-<nonce>`` (see :func:`order_id`), and T-Bank signs it back to us.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.errors import BadRequest, Unauthorized
from agronom.payments import tbank
from agronom.store.models import Payment, PaymentStatus, User
from agronom.users import service as users

log = structlog.get_logger("agronom.payments")

PROVIDER = "SBP:Tinkoff"
SUCCESS = {"CONFIRMED"}
FAIL = {"REJECTED", "AUTH_FAIL"}
CANCEL = {"CANCELED", "REVERSED", "REFUNDED", "PARTIAL_REFUNDED", "DEADLINE_EXPIRED"}
_ORDER = re.compile(r"^u(\d{1,9})-m(\d{1,2})(?:-[A-Za-z0-9]{1,32})?$")

PAYMENT_SUCCESS = "payment_success"
PAYMENT_FAIL = "payment_fail"
PAYMENT_CANCEL = "payment_cancel"
AUTOPAY_FAIL = "autopay_fail"
AUTOPAY_CANCEL = "autopay_cancel"


@dataclass(frozen=True)
class Outcome:
    applied: bool
    reason: str
    status: PaymentStatus | None = None
    user_id: int | None = None


def order_id(user_id: int, months: int) -> str:
    """An ``OrderId`` for a PRO purchase: whose it is and for how long, plus a nonce."""
    return f"u{user_id}-m{months}-{secrets.token_hex(6)}"


def map_status(status: str, success: bool) -> PaymentStatus | None:
    if status in SUCCESS:
        return PaymentStatus.SUCCESS
    if status in FAIL:
        return PaymentStatus.FAIL
    if status in CANCEL:
        return PaymentStatus.CANCEL
    if not success:
        return PaymentStatus.BANK_ERROR
    return None


def check_token(body: Mapping[str, Any], *, terminal_key: str, password: str) -> None:
    """Raise :class:`Unauthorized` unless the body is T-Bank's, for our terminal."""
    if not tbank.verify(body, password):
        raise Unauthorized("the notification Token does not match")
    if body.get("TerminalKey") != terminal_key:
        raise Unauthorized("the notification is for another TerminalKey")


def _text(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, bool | dict | list):
        if required:
            raise BadRequest(f"the notification has no usable {key}")
        return None
    return str(value)


async def apply(
    session: AsyncSession, body: Mapping[str, Any], *, autopay: bool, now: datetime
) -> Outcome:
    """Apply one verified notification; the caller commits (or rolls back) the transaction."""
    if body.get("NotificationType") == "LINKACCOUNT":
        return await _binding(session, body, now=now)
    payment_id = _text(body, "PaymentId")
    status_text = _text(body, "Status")
    if payment_id is None or status_text is None:  # required=True raised already
        raise BadRequest("the notification needs PaymentId and Status")
    status = map_status(status_text, body.get("Success") is True)
    if status is None:
        return Outcome(False, f"status {status_text} is a step in progress: nothing to record")
    amount = body.get("Amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount < 2**31:
        raise BadRequest("the notification's Amount must be a non-negative integer (kopeks)")
    user_id, months = await _order(session, _text(body, "OrderId", required=False))
    binding = _text(body, "AccountToken", required=False) or _text(body, "RebillId", required=False)
    inserted = await session.scalar(
        insert(Payment)
        .values(
            user_id=user_id,
            amount=amount,
            currency="RUB",
            status=status,
            provider=PROVIDER,
            external_id=payment_id,
            autopay=autopay,
            autopay_binding_id=binding or None,
            prolong_months=months,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_payments_external_id_status")
        .returning(Payment.id)
    )
    if inserted is None:
        return Outcome(False, "already applied", status, user_id)
    if user_id is not None:
        await _effect(
            session, user_id, status, months=months, binding=binding, autopay=autopay, now=now
        )
    log.info("payment recorded", payment_id=payment_id, status=status.value, user_id=user_id)
    return Outcome(True, "applied", status, user_id)


async def _order(session: AsyncSession, order: str | None) -> tuple[int | None, int | None]:
    match = _ORDER.match(order or "")
    if match is None:
        return None, None
    user_id = await session.scalar(select(User.id).where(User.id == int(match[1])))
    return user_id, int(match[2])


async def _effect(
    session: AsyncSession,
    user_id: int,
    status: PaymentStatus,
    *,
    months: int | None,
    binding: str | None,
    autopay: bool,
    now: datetime,
) -> None:
    if status is PaymentStatus.SUCCESS:
        values: dict[str, Any] = {}
        if months:
            # Prolong from the later of now and the current expiry, in one statement, so two
            # payments applied at once both count.
            values["pro_expires_at"] = func.greatest(
                func.coalesce(User.pro_expires_at, now), now
            ) + func.make_interval(0, months)
        if binding:
            values["autopay_enabled"] = True
        if values:
            await session.execute(update(User).where(User.id == user_id).values(**values))
        await users.add_event(session, user_id, PAYMENT_SUCCESS, now=now)
    elif status in (PaymentStatus.FAIL, PaymentStatus.BANK_ERROR):
        await users.add_event(session, user_id, AUTOPAY_FAIL if autopay else PAYMENT_FAIL, now=now)
    else:
        await users.add_event(session, user_id, PAYMENT_CANCEL, now=now)


async def _binding(session: AsyncSession, body: Mapping[str, Any], *, now: datetime) -> Outcome:
    """An SBP account binding changed state (``LINKACCOUNT``).

    A binding is switched on by the CONFIRMED payment that carries it; this notification can
    only switch it off (an inactive or failed binding), which is safe to repeat.
    """
    account = _text(body, "AccountToken", required=False)
    status = _text(body, "Status", required=False) or ""
    if body.get("Success") is True and status == "ACTIVE":
        return Outcome(False, "binding active: enabled by its payment")
    if account is None:
        return Outcome(False, "no AccountToken: nothing to switch off")
    user_id = await session.scalar(
        select(Payment.user_id)
        .where(Payment.autopay_binding_id == account, Payment.user_id.is_not(None))
        .limit(1)
    )
    if user_id is None:
        return Outcome(False, "unknown binding")
    changed = await session.scalar(
        update(User)
        .where(User.id == user_id, User.autopay_enabled)
        .values(autopay_enabled=False)
        .returning(User.id)
    )
    if changed is None:
        return Outcome(False, "autopay already off", user_id=user_id)
    await users.add_event(session, user_id, AUTOPAY_FAIL, now=now)
    return Outcome(True, "autopay switched off", user_id=user_id)


async def cancel_autopay(session: AsyncSession, user: User, *, now: datetime) -> bool:
    """Stop our recurring charges for ``user``; whether autopay was on."""
    changed = await session.scalar(
        update(User)
        .where(User.id == user.id, User.autopay_enabled)
        .values(autopay_enabled=False)
        .returning(User.id)
    )
    if changed is not None:
        await users.add_event(session, user.id, AUTOPAY_CANCEL, now=now)
    return changed is not None
