"""JSON contracts of the API (what ``/openapi.json`` publishes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agronom.errors import ErrorCode
from agronom.store.models import OrderStatus


class ErrorResponse(BaseModel):
    """Every error: a code from the contract's ``error_code`` enum and a clear message."""

    error_code: ErrorCode
    message: str
    reason: Literal["quota", "rate", "daily"] | None = Field(
        None,
        description="Which cause, where the code has several: LIMIT_EXCEEDED is the monthly "
        "quota (`quota`) or an abuse limit: photos sent too fast (`rate`), too many unusable "
        "photos today (`daily`)",
    )


class DiagnoseJSON(BaseModel):
    """The JSON form of a diagnose request (the other form is multipart with ``image``)."""

    image_base64: str = Field(description="The photo (JPEG, PNG or WebP), base64-encoded")
    file_id: str | None = Field(None, max_length=256, description="Telegram file_id")
    file_unique_id: str | None = Field(None, max_length=256, description="Telegram file_unique_id")


class ProtocolOut(BaseModel):
    id: int
    disease_name: str = Field(description="The disease in Russian, for people")
    summary: str
    steps: list[str]
    products: list[dict[str, Any]]
    safety_notes: str


class Usage(BaseModel):
    used: int
    allowed: int


class CandidateOut(BaseModel):
    crop: str
    disease: str
    disease_name: str = Field(description="The disease in Russian, for people")
    confidence: float = Field(ge=0, le=1)


class DiagnoseResponse(BaseModel):
    photo_id: int
    crop: str
    disease: str
    confidence: float = Field(ge=0, le=1)
    confident: bool = Field(
        description="Whether confidence reaches DIAGNOSIS_MIN_CONFIDENCE; when not, there is no "
        "protocol: ask for another photo and show the candidates"
    )
    candidates: list[CandidateOut] = Field(
        description="The answer and the model's alternatives, most likely first (at most 3)"
    )
    protocol: ProtocolOut | None = Field(description="The treatment; null when not confident")
    retry_attempts: int
    usage: Usage
    repeated: bool = Field(
        False,
        description="Answered from the stored diagnosis of the same photo (file_unique_id) "
        "sent before: the model was not asked and nothing was counted",
    )


class LimitsResponse(BaseModel):
    month: str = Field(description="YYYY-MM")
    used: int
    allowed: int
    remaining: int
    plan: Literal["free", "pro"]
    pro_expires_at: datetime | None
    autopay_enabled: bool
    ml_opt_in: bool
    photos_stored: int


class AutopayCancelResponse(BaseModel):
    autopay_enabled: bool
    changed: bool = Field(description="Whether autopay was on before this call")


class ConsentRequest(BaseModel):
    enabled: bool


class ConsentResponse(BaseModel):
    ml_opt_in: bool


class ProRequest(BaseModel):
    months: int = Field(1, ge=1, le=12)
    autopay: bool = Field(
        False,
        description="Link the user's SBP account for monthly autopay; needs autopay_consent",
    )
    autopay_consent: bool = Field(
        False,
        description="The user explicitly agreed to recurring charges on the terms shown "
        "(required with autopay)",
    )
    autopay_terms_version: str | None = Field(
        None, max_length=64, description="The version of the autopay terms the user was shown"
    )


class ProResponse(BaseModel):
    mode: Literal["once", "pay_and_link", "link"] = Field(
        description="once: a one-off payment; pay_and_link: pay and link the SBP account at "
        "once; link: link only (PRO is running, charges start when it ends)"
    )
    order_id: str | None = Field(description="Our T-Bank OrderId; null when only linking")
    amount: int = Field(description="Kopeks paid now (0 when only linking)")
    payment_url: str = Field(description="The SBP link (NSPK) the user opens in their bank app")
    autopay_terms_version: str = Field(description="The current autopay terms' version")
    autopay_terms: str = Field(description="The autopay terms to show before asking consent")


class RefundRequest(BaseModel):
    payment_id: str = Field(
        min_length=1, max_length=20, pattern=r"^[0-9]+$", description="T-Bank's PaymentId"
    )
    amount: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Kopecks to refund; omitted: the whole payment"
    )


class RefundResponse(BaseModel):
    payment_id: str
    status: str = Field(description="T-Bank's status after Cancel (REFUNDED, PARTIAL_REFUNDED, …)")
    original_amount: int = Field(description="Kopecks before this refund")
    new_amount: int = Field(description="Kopecks left after it")


class PartnerOrderIn(BaseModel):
    order_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    protocol_id: int = Field(ge=1, le=2**31 - 1)
    price_kopeks: int = Field(ge=0, le=2**31 - 1)
    status: OrderStatus = OrderStatus.NEW


class PartnerOrderOut(BaseModel):
    id: int
    order_id: str
    protocol_id: int | None
    price_kopeks: int
    status: OrderStatus
    created: bool


class DeleteUserRequest(BaseModel):
    tg_id: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="Operators (X-API-Key) name the user; the bot's signed header names itself",
    )


DsrStatus = Literal["deleted", "scheduled", "not_found"]


class DeleteUserResponse(BaseModel):
    found: bool
    status: DsrStatus = Field(
        description="deleted: done now; scheduled: recorded, the DSR job finishes it; "
        "not_found: no such user"
    )
    photos: int
    objects: int
    exports_rewritten: int
    payments_pseudonymised: int


class Health(BaseModel):
    """Each dependency's state: ``ok``, ``error: <what>``, or ``not configured``."""

    database: str
    object_store: str
    temporal: str


class StarsInvoice(BaseModel):
    """The terms of a PRO subscription invoice in Telegram Stars (``createInvoiceLink``)."""

    payload: str = Field(description="invoice_payload: ours, naming the user, ≤ 128 bytes")
    amount: int = Field(description="Price in Telegram Stars for each 30 days")
    currency: Literal["XTR"] = "XTR"
    subscription_period: int = Field(2592000, description="Seconds: 30 days, Telegram's only")


class StarsCheckRequest(BaseModel):
    """A ``pre_checkout_query``'s fields."""

    currency: str = Field(max_length=8)
    total_amount: int = Field(ge=0, le=2**31 - 1)
    invoice_payload: str = Field(max_length=128)


class StarsCheckResponse(BaseModel):
    ok: bool
    reason: Literal["currency", "price", "payload", "foreign"] | None = Field(
        None,
        description="Why not: not XTR, not the current price, not our invoice, another user's",
    )


class StarsCharge(BaseModel):
    """A ``successful_payment`` (or ``refunded_payment``) message's fields."""

    telegram_payment_charge_id: str = Field(min_length=1, max_length=256)
    provider_payment_charge_id: str | None = Field(None, max_length=256)
    currency: str = Field(max_length=8)
    total_amount: int = Field(ge=0, le=2**31 - 1)
    invoice_payload: str = Field(max_length=128)
    subscription_expiration_date: int | None = None
    is_recurring: bool = False
    is_first_recurring: bool = False


class StarsApplied(BaseModel):
    applied: bool = Field(description="False: already recorded (a replay), nothing changed")
    reason: str
    pro_expires_at: datetime | None
