"""The bot's client of the Pocket Agronomist API: every call signed for the Telegram user, over
that very request (method, path, body hash, time, a fresh nonce: :class:`agronom.auth.BotAuth`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from aiogram.types import PreCheckoutQuery, RefundedPayment, SuccessfulPayment

from agronom import auth


class ApiError(Exception):
    """An answer of the API that is not a success: its error_code and message."""

    def __init__(
        self, status: int, error_code: str, message: str, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.reason = reason  # which cause of error_code (LIMIT_EXCEEDED: quota, rate, daily)


class AgronomClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        secret: str,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.secret = secret
        self.wallclock = wallclock

    async def _call(
        self, method: str, path: str, tg_id: int, *, timeout_s: float = 120, **kwargs: Any
    ) -> dict[str, Any]:
        # The body is built (a multipart one too) and read before signing, so the hash covers
        # exactly the bytes sent.
        signer = auth.BotAuth(tg_id, secret=self.secret, wallclock=self.wallclock)
        response = await self.http.request(method, path, auth=signer, timeout=timeout_s, **kwargs)
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise ApiError(
                response.status_code,
                str(body.get("error_code", "BAD_REQUEST")),
                str(body.get("message", response.text[:200])),
                body.get("reason") if isinstance(body.get("reason"), str) else None,
            )
        return body

    async def limits(self, tg_id: int) -> dict[str, Any]:
        return await self._call("GET", "/v1/limits", tg_id)

    async def diagnose(
        self, tg_id: int, image: bytes, *, file_id: str, file_unique_id: str
    ) -> dict[str, Any]:
        return await self._call(
            "POST",
            "/v1/ai/diagnose",
            tg_id,
            files={"image": ("photo.jpg", image, "image/jpeg")},
            data={"file_id": file_id, "file_unique_id": file_unique_id},
        )

    async def pro(
        self,
        tg_id: int,
        *,
        months: int = 1,
        autopay: bool = False,
        consent_terms: str | None = None,
    ) -> dict[str, Any]:
        """PRO by SBP: one-off, or with autopay after the user agreed to ``consent_terms``."""
        body: dict[str, Any] = {"months": months, "autopay": autopay}
        if consent_terms is not None:
            body |= {"autopay_consent": True, "autopay_terms_version": consent_terms}
        return await self._call("POST", "/v1/payments/sbp/pro", tg_id, json=body)

    async def consent(self, tg_id: int, enabled: bool) -> dict[str, Any]:
        return await self._call("PUT", "/v1/ml/consent", tg_id, json={"enabled": enabled})

    async def cancel_autopay(self, tg_id: int) -> dict[str, Any]:
        return await self._call("POST", "/v1/payments/sbp/autopay/cancel", tg_id)

    async def delete_me(self, tg_id: int) -> dict[str, Any]:
        return await self._call("POST", "/v1/dsr/delete_user", tg_id, json={})

    async def stars_invoice(self, tg_id: int) -> dict[str, Any]:
        """The terms of a PRO subscription invoice in Telegram Stars."""
        return await self._call("POST", "/v1/payments/stars/invoice", tg_id)

    async def stars_check(
        self, tg_id: int, query: PreCheckoutQuery, *, timeout_s: float
    ) -> dict[str, Any]:
        """May the user pay (a pre-checkout query); ``timeout_s`` keeps Telegram's 10 s."""
        body = {
            "currency": query.currency,
            "total_amount": query.total_amount,
            "invoice_payload": query.invoice_payload,
        }
        return await self._call(
            "POST", "/v1/payments/stars/check", tg_id, json=body, timeout_s=timeout_s
        )

    async def stars_paid(self, tg_id: int, payment: SuccessfulPayment) -> dict[str, Any]:
        """Record a successful Stars payment (idempotent: a replay changes nothing)."""
        body = {
            "telegram_payment_charge_id": payment.telegram_payment_charge_id,
            "provider_payment_charge_id": payment.provider_payment_charge_id,
            "currency": payment.currency,
            "total_amount": payment.total_amount,
            "invoice_payload": payment.invoice_payload,
            "subscription_expiration_date": payment.subscription_expiration_date,
            "is_recurring": bool(payment.is_recurring),
            "is_first_recurring": bool(payment.is_first_recurring),
        }
        return await self._call("POST", "/v1/payments/stars", tg_id, json=body)

    async def stars_refunded(self, tg_id: int, refund: RefundedPayment) -> dict[str, Any]:
        """Record a refunded Stars payment: PRO it granted is taken back (idempotent)."""
        body = {
            "telegram_payment_charge_id": refund.telegram_payment_charge_id,
            "provider_payment_charge_id": refund.provider_payment_charge_id,
            "currency": refund.currency,
            "total_amount": refund.total_amount,
            "invoice_payload": refund.invoice_payload,
        }
        return await self._call("POST", "/v1/payments/stars/refund", tg_id, json=body)
