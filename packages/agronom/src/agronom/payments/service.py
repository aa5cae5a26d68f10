# ruff: noqa: RUF001 - receipts and the autopay terms are in Russian
"""PRO by SBP through T-Bank: purchases, autopay links, refunds, and T-Bank's notifications.

Buying PRO (:func:`start`):

- one-off: ``Init`` (with its 54-FZ receipt) + ``GetQr``: the user opens the SBP link;
- autopay, only with the user's explicit consent to recurring charges (the terms of
  :data:`AUTOPAY_TERMS_VERSION`, recorded as an ``autopay_consent`` event and on the link row):
  without PRO, pay and link at once (``Init`` with ``Recurrent="Y"`` and ``DATA {"QR":
  "true"}``, then ``GetQr``, which names the link's ``RequestKey``): one confirmation in the
  bank app pays the first months and links the account; with PRO still running, link only
  (``AddAccountQr``): the first charge comes when PRO ends. Either way the link is a
  ``sbp_account_links`` row, and T-Bank's ``LINKACCOUNT`` notification makes it ACTIVE with the
  ``AccountToken`` that the monthly charges use (:mod:`agronom.payments.charges`).

Notifications (:func:`apply`): the four kinds of the document share our URLs. Each is answered
``OK`` once its Token is checked, so T-Bank stops resending: a payment notification is applied
(below), a link notification updates the link, card-link and fiscalization notices change
nothing (no card autopay here; the receipt is the OFD's).

Idempotency: T-Bank repeats a notification until it gets ``OK``, and may send one twice. A
payment notification's effect is keyed on the unique ``payments (external_id, status)``: the
row is inserted with ``ON CONFLICT DO NOTHING`` in the same transaction as the effect, so a
replay inserts nothing and changes nothing. ``external_id`` is T-Bank's PaymentId, and for a
refund or reversal ``<PaymentId>:<Status>:<Amount>``, so that several partial refunds of one
payment each count once (two partial refunds of the very same amount count once: the customer
keeps the PRO time of the second).

T-Bank statuses (the document's status model) → ``payment_status`` and effect::

    CONFIRMED                                   success  PRO + the order's months
    REJECTED, AUTH_FAIL                         fail     event payment_fail (autopay_fail
                                                         on the autopay webhook)
    REFUNDED, PARTIAL_REFUNDED,                 cancel   PRO shortened by the refunded share
    REVERSED, PARTIAL_REVERSED                           of what the payment granted (Amount
                                                         is the amount that operation refunded);
                                                         event payment_refund
    CANCELED, DEADLINE_EXPIRED,                 cancel   event payment_cancel
    ATTEMPTS_EXPIRED
    any other status with Success=false         bank_error
    NEW, FORM_SHOWED, AUTHORIZING, AUTHORIZED,  —        not stored: in progress
    CONFIRMING, REFUNDING, ASYNC_REFUNDING, …

Link statuses (NEW → PROCESSING → ACTIVE | INACTIVE): ACTIVE stores the ``AccountToken`` and
turns autopay on (event ``autopay_linked``) unless the user stopped autopay after agreeing;
INACTIVE (the bank refused or later switched the link off) turns autopay off when no other link
is ACTIVE (event ``autopay_fail``).

Which user and how many months: we create every ``OrderId`` ourselves as
``u<user id>-m<months>-<nonce>`` (see :func:`order_id`), and T-Bank signs it back to us.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agronom.errors import BadRequest, NotFound, Unauthorized
from agronom.payments import tbank
from agronom.settings import Settings
from agronom.store.models import (
    Event,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    SbpAccountLink,
    User,
)
from agronom.users import service as users

log = structlog.get_logger("agronom.payments")

PROVIDER = "SBP:Tinkoff"
SUCCESS = {"CONFIRMED"}
FAIL = {"REJECTED", "AUTH_FAIL"}
REFUND = {"REFUNDED", "PARTIAL_REFUNDED", "REVERSED", "PARTIAL_REVERSED"}
CANCEL = {"CANCELED", "DEADLINE_EXPIRED", "ATTEMPTS_EXPIRED"}
_ORDER = re.compile(r"^u(\d{1,9})-m(\d{1,2})(?:-[A-Za-z0-9]{1,32})?$")

PAYMENT_SUCCESS = "payment_success"
PAYMENT_FAIL = "payment_fail"
PAYMENT_CANCEL = "payment_cancel"
PAYMENT_REFUND = "payment_refund"
AUTOPAY_CONSENT = "autopay_consent"
AUTOPAY_LINKED = "autopay_linked"
AUTOPAY_FAIL = "autopay_fail"
AUTOPAY_CANCEL = "autopay_cancel"

# The terms a user agrees to before autopay. A new wording gets a new version: the bot shows
# the wording the API returns and sends back the version it showed.
AUTOPAY_TERMS_VERSION = "2026-12-03"
AUTOPAY_TERMS = (
    "Автоплатёж: {price} ₽ в месяц списываются с привязанного счёта СБП, когда заканчивается "
    "оплаченный PRO, пока вы не отключите автоплатёж командой /stop_autopay. Отключить можно "
    "в любой момент, оплаченное время остаётся."
)

Mode = Literal["once", "pay_and_link", "link"]


@dataclass(frozen=True)
class Outcome:
    applied: bool
    reason: str
    status: PaymentStatus | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class Started:
    """A purchase or link started at T-Bank: the SBP link the user opens."""

    mode: Mode
    order_id: str | None
    amount: int
    payment_url: str
    request_key: str | None = None


def order_id(user_id: int, months: int) -> str:
    """An ``OrderId`` for a PRO purchase: whose it is and for how long, plus a nonce."""
    return f"u{user_id}-m{months}-{secrets.token_hex(6)}"


def autopay_terms(settings: Settings) -> str:
    return AUTOPAY_TERMS.format(price=f"{settings.pro_price_kopeks / 100:.0f}")


def receipt(
    settings: Settings, *, price: int, quantity: int, name: str | None = None
) -> tbank.Receipt:
    """The 54-FZ receipt of ``quantity`` months of PRO (FFD 1.05).

    FFD 1.05 because it is T-Bank's default ``FfdVersion``, works with any cash register T-Bank
    attaches, and is enough for a service that carries no marking code (1.2 is required for
    marked goods). ``full_payment`` and ``service``: PRO is granted at the moment of payment,
    so the service is paid in full as it is provided (no closing receipt to send later). The
    receipt goes to the shop's e-mail (``TBANK_RECEIPT_EMAIL``): bot users give us neither
    e-mail nor phone.
    """
    item = tbank.ReceiptItem(
        name=name or f"Карманный агроном PRO, {quantity} мес.",
        price=price,
        quantity=quantity,
        tax=settings.tbank_vat,
    )
    return tbank.Receipt(
        taxation=settings.tbank_taxation, items=(item,), email=settings.tbank_receipt_email
    )


def map_status(status: str, success: bool) -> PaymentStatus | None:
    if status in SUCCESS:
        return PaymentStatus.SUCCESS
    if status in FAIL:
        return PaymentStatus.FAIL
    if status in REFUND or status in CANCEL:
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


# ---------------------------------------------------------------- buying PRO


async def start(
    sessions: async_sessionmaker[AsyncSession],
    bank: tbank.TBankClient,
    settings: Settings,
    tg_id: int,
    *,
    months: int,
    autopay: bool,
    consent_version: str | None,
    now: datetime,
) -> Started:
    """Start buying PRO for ``tg_id``: one-off, or with autopay (consent required).

    Raises :class:`BadRequest` for autopay without consent to the current terms, and
    :class:`tbank.TBankError` when T-Bank refuses or does not answer."""
    if autopay and consent_version is None:
        raise BadRequest(
            "autopay charges the user every month: it needs their explicit consent "
            "(autopay_consent=true with the autopay_terms_version they were shown)"
        )
    if autopay and consent_version != AUTOPAY_TERMS_VERSION:
        raise BadRequest(
            f"the autopay terms changed: show the current ones (version "
            f"{AUTOPAY_TERMS_VERSION}) and ask again"
        )
    async with sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
    pro_running = user.pro_expires_at is not None and user.pro_expires_at > now
    if autopay and pro_running:
        added = await bank.add_account_qr(description="Карманный агроном PRO: автоплатёж по СБП")
        await _record_link(sessions, user.id, added.request_key, payment_id=None, now=now)
        return Started("link", None, 0, added.data, added.request_key)
    order = order_id(user.id, months)
    amount = settings.pro_price_kopeks * months
    initiated = await bank.init(
        order_id=order,
        amount=amount,
        description=f"Карманный агроном PRO, {months} мес." + (" и автоплатёж" if autopay else ""),
        receipt=receipt(settings, price=settings.pro_price_kopeks, quantity=months),
        sbp_recurrent=autopay,
        notification_url=settings.tbank_notification_url or None,
    )
    await record_attempt(
        sessions, initiated.payment_id, user_id=user.id, order_id=order, autopay=False, now=now
    )
    qr = await bank.get_qr(initiated.payment_id)
    if not autopay:
        return Started("once", order, amount, qr.data)
    if qr.request_key is None:
        raise tbank.TBankUnavailable("GetQr named no RequestKey for the link", method="GetQr")
    await _record_link(sessions, user.id, qr.request_key, payment_id=qr.payment_id, now=now)
    return Started("pay_and_link", order, amount, qr.data, qr.request_key)


async def record_attempt(
    sessions: async_sessionmaker[AsyncSession],
    payment_id: str,
    *,
    user_id: int,
    order_id: str,
    autopay: bool,
    now: datetime,
) -> None:
    """Remember a payment T-Bank accepted, until its outcome is known (see
    :mod:`agronom.payments.reconcile`). ``autopay``: a monthly charge, whose notification goes
    to the autopay webhook."""
    async with sessions.begin() as session:
        await session.execute(
            insert(PaymentAttempt)
            .values(
                payment_id=payment_id,
                user_id=user_id,
                order_id=order_id,
                autopay=autopay,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )


async def _settle(session: AsyncSession, payment_id: str, *, now: datetime) -> None:
    await session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.payment_id == payment_id, PaymentAttempt.settled_at.is_(None))
        .values(settled_at=now)
    )


async def _record_link(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    request_key: str,
    *,
    payment_id: str | None,
    now: datetime,
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            insert(SbpAccountLink)
            .values(
                request_key=request_key,
                user_id=user_id,
                status="PROCESSING",  # the QR is formed and in our hands
                payment_id=payment_id,
                consent_version=AUTOPAY_TERMS_VERSION,
                consented_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[SbpAccountLink.request_key])
        )
        await users.add_event(session, user_id, AUTOPAY_CONSENT, now=now)


async def cancel_autopay(session: AsyncSession, user: User, *, now: datetime) -> bool:
    """Stop our recurring charges for ``user``; whether autopay was on.

    The ``autopay_cancel`` event is also what keeps a link still being made (NEW,
    PROCESSING) from turning autopay on when it becomes ACTIVE later."""
    changed = await session.scalar(
        update(User)
        .where(User.id == user.id, User.autopay_enabled)
        .values(autopay_enabled=False)
        .returning(User.id)
    )
    pending = await session.scalar(
        select(
            exists().where(
                SbpAccountLink.user_id == user.id,
                SbpAccountLink.status.in_(("NEW", "PROCESSING")),
            )
        )
    )
    if changed is not None or pending:
        await users.add_event(session, user.id, AUTOPAY_CANCEL, now=now)
    return changed is not None


# ---------------------------------------------------------------- refunds


async def refund(
    sessions: async_sessionmaker[AsyncSession],
    bank: tbank.TBankClient,
    settings: Settings,
    payment_id: str,
    *,
    amount: int | None,
) -> tbank.Cancelled:
    """An operator's refund of a paid PRO payment (``Cancel``), whole or ``amount`` kopecks.

    PRO is taken back when T-Bank's REFUNDED / PARTIAL_REFUNDED notification arrives (the one
    path that changes PRO, whoever refunded). Raises :class:`NotFound` for a payment that was
    not paid, :class:`BadRequest` for more than was paid."""
    async with sessions.begin() as session:
        paid = await session.scalar(
            select(Payment.amount).where(
                Payment.external_id == payment_id, Payment.status == PaymentStatus.SUCCESS
            )
        )
    if paid is None:
        raise NotFound(f"no paid payment {payment_id}")
    if amount is not None and amount > paid:
        raise BadRequest(f"the payment was {paid} kopecks: cannot refund {amount}")
    if amount is None or amount == paid:
        return await bank.cancel(payment_id=payment_id)
    # The refunded part, as one position (the document: list what is refunded).
    items = receipt(settings, price=amount, quantity=1, name="Карманный агроном PRO (возврат)")
    return await bank.cancel(payment_id=payment_id, amount=amount, receipt=items)


# ---------------------------------------------------------------- notifications


def _text(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = tbank.ident(body.get(key))
    if value is None and required:
        raise BadRequest(f"the notification has no usable {key}")
    return value


async def apply(
    session: AsyncSession, body: Mapping[str, Any], *, autopay: bool, now: datetime
) -> Outcome:
    """Apply one verified notification; the caller commits (or rolls back) the transaction."""
    kind = tbank.kind(body)
    if kind == "link":
        return await _link(session, body, now=now)
    if kind == "card":
        return Outcome(False, "a card link notice: card autopay is not offered")
    if kind == "fiscalization":
        log.info(
            "receipt registered",
            payment_id=tbank.ident(body.get("PaymentId")),
            fiscal_document=tbank.ident(body.get("FiscalDocumentNumber")),
        )
        return Outcome(False, "a receipt registered: nothing to record")
    return await _payment(session, body, autopay=autopay, now=now)


async def _payment(
    session: AsyncSession, body: Mapping[str, Any], *, autopay: bool, now: datetime
) -> Outcome:
    payment_id = _text(body, "PaymentId")
    status_text = _text(body, "Status")
    if payment_id is None or status_text is None:  # required=True raised already
        raise BadRequest("the notification needs PaymentId and Status")
    status = map_status(status_text, body.get("Success") is True)
    if status is None:
        return Outcome(False, f"status {status_text} is a step in progress: nothing to record")
    await _settle(session, payment_id, now=now)
    amount = body.get("Amount")
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount < 2**31:
        raise BadRequest("the notification's Amount must be a non-negative integer (kopeks)")
    user_id, months = await _order(session, _text(body, "OrderId", required=False))
    refund_ = status_text in REFUND
    external = f"{payment_id}:{status_text}:{amount}" if refund_ else payment_id
    binding = await _binding(session, user_id, payment_id, autopay=autopay)
    taken = await _refunded_share(session, payment_id, amount) if refund_ else None
    inserted = await session.scalar(
        insert(Payment)
        .values(
            user_id=user_id,
            amount=amount,
            currency="RUB",
            status=status,
            provider=PROVIDER,
            external_id=external,
            autopay=autopay,
            autopay_binding_id=binding,
            prolong_months=None if refund_ else months,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_payments_external_id_status")
        .returning(Payment.id)
    )
    if inserted is None:
        return Outcome(False, "already applied", status, user_id)
    if user_id is not None:
        if taken is not None:
            await _take_back(session, user_id, *taken, now=now)
        else:
            await _effect(session, user_id, status, months=months, autopay=autopay, now=now)
    log.info("payment recorded", payment_id=payment_id, status=status_text, user_id=user_id)
    return Outcome(True, "applied", status, user_id)


async def _order(session: AsyncSession, order: str | None) -> tuple[int | None, int | None]:
    match = _ORDER.match(order or "")
    if match is None:
        return None, None
    user_id = await session.scalar(select(User.id).where(User.id == int(match[1])))
    return user_id, int(match[2])


async def _binding(
    session: AsyncSession, user_id: int | None, payment_id: str, *, autopay: bool
) -> str | None:
    """The link a payment belongs to (its ``RequestKey``): the one it was paid and linked
    with, or for an autopay charge the user's ACTIVE link."""
    if user_id is None:
        return None
    query = select(SbpAccountLink.request_key).where(SbpAccountLink.user_id == user_id)
    if autopay:
        query = query.where(SbpAccountLink.status == "ACTIVE")
    else:
        query = query.where(SbpAccountLink.payment_id == payment_id)
    found: str | None = await session.scalar(
        query.order_by(SbpAccountLink.updated_at.desc()).limit(1)
    )
    return found


async def _refunded_share(
    session: AsyncSession, payment_id: str, amount: int
) -> tuple[int, float] | None:
    """For a refund of ``amount``: the months the payment granted and the share of them to
    take back (what has not been taken back by earlier refunds caps it)."""
    granted = (
        await session.execute(
            select(Payment.amount, Payment.prolong_months).where(
                Payment.external_id == payment_id, Payment.status == PaymentStatus.SUCCESS
            )
        )
    ).first()
    if granted is None or not granted.prolong_months or granted.amount <= 0:
        return None  # never paid (a reversal of a held payment): nothing was granted
    before = await session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.external_id.like(f"{payment_id}:%"),
            Payment.status == PaymentStatus.CANCEL,
        )
    )
    left = max(granted.amount - int(before or 0), 0)
    return granted.prolong_months, min(amount, left) / granted.amount


async def _take_back(
    session: AsyncSession, user_id: int, months: int, share: float, *, now: datetime
) -> None:
    if share > 0:
        await session.execute(
            update(User)
            .where(User.id == user_id, User.pro_expires_at.is_not(None))
            .values(pro_expires_at=User.pro_expires_at - func.make_interval(0, months) * share)
        )
    await users.add_event(session, user_id, PAYMENT_REFUND, now=now)


async def _effect(
    session: AsyncSession,
    user_id: int,
    status: PaymentStatus,
    *,
    months: int | None,
    autopay: bool,
    now: datetime,
) -> None:
    if status is PaymentStatus.SUCCESS:
        if months:
            # Prolong from the later of now and the current expiry, in one statement, so two
            # payments applied at once both count.
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(
                    pro_expires_at=func.greatest(func.coalesce(User.pro_expires_at, now), now)
                    + func.make_interval(0, months)
                )
            )
        await users.add_event(session, user_id, PAYMENT_SUCCESS, now=now)
    elif status in (PaymentStatus.FAIL, PaymentStatus.BANK_ERROR):
        await users.add_event(session, user_id, AUTOPAY_FAIL if autopay else PAYMENT_FAIL, now=now)
    else:
        await users.add_event(session, user_id, PAYMENT_CANCEL, now=now)


async def _link(session: AsyncSession, body: Mapping[str, Any], *, now: datetime) -> Outcome:
    """A ``LINKACCOUNT`` notice: the link's new status (and its AccountToken when ACTIVE)."""
    request_key = _text(body, "RequestKey")
    status = _text(body, "Status") or ""
    if status not in tbank.LINK_STATUSES:
        raise BadRequest(f"unknown link status {status!r}")
    link = await session.get(SbpAccountLink, request_key, with_for_update=True)
    if link is None:
        return Outcome(False, "unknown link request")
    if link.status == status and (status != "ACTIVE" or link.account_token):
        return Outcome(False, "already applied", user_id=link.user_id)
    account = _text(body, "AccountToken", required=False)
    if status == "ACTIVE" and (account is None or body.get("Success") is not True):
        raise BadRequest("an ACTIVE link notice needs Success=true and its AccountToken")
    link.status = status
    link.account_token = account or link.account_token
    link.updated_at = now
    if status == "ACTIVE":
        return await _link_active(session, link, now=now)
    if status == "INACTIVE":
        return await _link_inactive(session, link, now=now)
    return Outcome(True, f"link {status}", user_id=link.user_id)


async def _link_active(session: AsyncSession, link: SbpAccountLink, *, now: datetime) -> Outcome:
    stopped_since = await session.scalar(
        select(
            exists().where(
                and_(
                    Event.user_id == link.user_id,
                    Event.event == AUTOPAY_CANCEL,
                    Event.ts >= link.consented_at,
                )
            )
        )
    )
    if stopped_since:
        return Outcome(True, "linked, but the user stopped autopay since", user_id=link.user_id)
    await session.execute(update(User).where(User.id == link.user_id).values(autopay_enabled=True))
    await users.add_event(session, link.user_id, AUTOPAY_LINKED, now=now)
    return Outcome(True, "linked: autopay on", user_id=link.user_id)


async def _link_inactive(session: AsyncSession, link: SbpAccountLink, *, now: datetime) -> Outcome:
    await session.flush()
    other = await session.scalar(
        select(
            exists().where(
                SbpAccountLink.user_id == link.user_id, SbpAccountLink.status == "ACTIVE"
            )
        )
    )
    if other:
        return Outcome(True, "link inactive; another stays active", user_id=link.user_id)
    changed = await session.scalar(
        update(User)
        .where(User.id == link.user_id, User.autopay_enabled)
        .values(autopay_enabled=False)
        .returning(User.id)
    )
    await users.add_event(session, link.user_id, AUTOPAY_FAIL, now=now)
    reason = "link inactive: autopay off" if changed else "link inactive"
    return Outcome(True, reason, user_id=link.user_id)
