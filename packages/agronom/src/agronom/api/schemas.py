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


class DiagnoseResponse(BaseModel):
    photo_id: int
    crop: str
    disease: str
    confidence: float = Field(ge=0, le=1)
    protocol: ProtocolOut
    retry_attempts: int
    usage: Usage


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
    autopay: bool = Field(False, description="Bind the SBP account for monthly autopay")


class ProResponse(BaseModel):
    order_id: str
    amount: int = Field(description="Kopeks")
    payment_url: str


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
