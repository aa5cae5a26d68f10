"""Stars payments whose message never reached the API, read back from Telegram's own ledger.

Telegram sends a ``successful_payment`` or ``refunded_payment`` message once. If the bot was
down past the update's lifetime, or the API refused it past the bot's retries, the user paid and
PRO was never granted (or a refund never took it back). So the bot reads its Star transactions
(``getStarTransactions``, chronological as the Bot API documents it) every
:data:`EVERY` and hands each incoming invoice payment and each refund of the last
:data:`WINDOW` to the API as the message would have been handed: the API records a charge once
by its ``telegram_payment_charge_id`` (a transaction's id is that charge's id, a refund's too),
so a payment the message recorded already changes nothing.

The bot remembers where the window started (the offset of its oldest transaction), so a run
reads only the recent pages; after a restart the first run reads the whole ledger once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from aiogram import Bot
from aiogram.types import (
    RefundedPayment,
    StarTransaction,
    SuccessfulPayment,
    TransactionPartnerUser,
)

from agronom.bot.backend import AgronomClient, ApiError

log = structlog.get_logger("agronom.bot")

EVERY = timedelta(minutes=15)
WINDOW = timedelta(days=3)
PAGE = 100  # the Bot API's most


class StarsLedger:
    """Reconciles the bot's Star transactions with what the API recorded."""

    def __init__(self, bot: Bot, api: AgronomClient) -> None:
        self.bot = bot
        self.api = api
        self.start = 0  # offset of the oldest transaction inside the window at the last run

    async def reconcile(self, *, now: datetime | None = None) -> Counter[str]:
        """One pass over the window: how many payments and refunds were ``recorded`` now,
        were ``known`` already, or ``failed`` (the API refused or did not answer: the next
        run tries again)."""
        cutoff = (now or datetime.now(UTC)) - WINDOW
        counts: Counter[str] = Counter()
        offset, first_inside = self.start, None
        while True:
            page = (await self.bot.get_star_transactions(offset=offset, limit=PAGE)).transactions
            for i, transaction in enumerate(page):
                if transaction.date < cutoff:
                    continue
                if first_inside is None:
                    first_inside = offset + i
                counts[await self._hand_over(transaction)] += 1
            offset += len(page)
            if len(page) < PAGE:
                break
        self.start = first_inside if first_inside is not None else offset
        counts.pop("other", None)
        if counts["recorded"] or counts["failed"]:
            log.warning("stars reconciled", **counts)
        return counts

    async def _hand_over(self, transaction: StarTransaction) -> str:
        incoming = isinstance(transaction.source, TransactionPartnerUser)
        partner = transaction.source if incoming else transaction.receiver
        if not isinstance(partner, TransactionPartnerUser) or partner.invoice_payload is None:
            return "other"  # not an invoice of ours (gifts, paid media, withdrawals…)
        tg_id = partner.user.id
        try:
            if incoming:
                recurring = partner.subscription_period is not None
                payment = SuccessfulPayment(
                    currency="XTR",
                    total_amount=transaction.amount,
                    invoice_payload=partner.invoice_payload,
                    telegram_payment_charge_id=transaction.id,
                    provider_payment_charge_id="",
                    # The ledger does not say first payment or renewal: recorded as a first
                    # (``payments.autopay`` false).
                    is_recurring=recurring or None,
                    is_first_recurring=recurring or None,
                )
                done = await self.api.stars_paid(tg_id, payment)
            else:
                refund = RefundedPayment(
                    currency="XTR",
                    total_amount=transaction.amount,
                    invoice_payload=partner.invoice_payload,
                    telegram_payment_charge_id=transaction.id,
                )
                done = await self.api.stars_refunded(tg_id, refund)
        except (ApiError, httpx.HTTPError) as exc:
            log.error("stars transaction not recorded", charge_id=transaction.id, error=repr(exc))
            return "failed"
        return "recorded" if done["applied"] else "known"

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every :data:`EVERY` until ``stop`` is set; a failed run is logged and
        the next one tries again."""
        while not stop.is_set():
            try:
                await self.reconcile()
            except Exception as exc:  # noqa: BLE001 - Telegram down: the next run tries again
                log.error("stars reconciliation failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):  # the wait's end, not a failure
                await asyncio.wait_for(stop.wait(), EVERY.total_seconds())
