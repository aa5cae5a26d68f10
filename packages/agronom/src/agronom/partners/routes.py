"""``POST /v1/partner/orders``: AgroStore's signed orders for a protocol's products."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from agronom.api import schemas
from agronom.api.deps import Rt, errors, parse
from agronom.partners import service as partners
from agronom.store.models import OrderStatus

router = APIRouter(tags=["partners"])


@router.post(
    "/v1/partner/orders",
    response_model=schemas.PartnerOrderOut,
    status_code=201,
    responses={
        200: {"model": schemas.PartnerOrderOut, "description": "Updated"},
        **errors(400, 401, 404, 409),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PartnerOrderIn"}}
            },
        }
    },
)
async def partner_order(
    request: Request,
    rt: Rt,
    x_signature: Annotated[
        str | None,
        Header(
            alias=partners.HEADER,
            description='hex HMAC-SHA256 of "<X-Timestamp>.<X-Nonce>." + the body',
        ),
    ] = None,
    x_timestamp: Annotated[
        str | None,
        Header(alias=partners.TIMESTAMP_HEADER, description="unix seconds, within the window"),
    ] = None,
    x_nonce: Annotated[
        str | None,
        Header(alias=partners.NONCE_HEADER, description="8-64 of [A-Za-z0-9_-], used once"),
    ] = None,
) -> JSONResponse:
    """An AgroStore order: signature over time, nonce and body checked in constant time; a
    stale or replayed request refused; ``order_id`` unique; status moves only forwards."""
    raw = await request.body()
    settings = rt.settings
    checked = partners.check_signature(
        raw,
        given=x_signature,
        timestamp=x_timestamp,
        nonce=x_nonce,
        secrets=settings.partner_secrets(),
        now=rt.wallclock(),
        max_age_s=settings.partner_max_age_s,
    )
    order = parse(schemas.PartnerOrderIn, raw)
    async with rt.sessions.begin() as session:
        await partners.claim_nonce(
            session,
            x_nonce or "",
            timestamp=x_timestamp or "0",
            max_age_s=settings.partner_max_age_s,
            now=rt.wallclock(),
        )
        recorded = await partners.record(
            session,
            order_id=order.order_id,
            protocol_id=order.protocol_id,
            price_kopeks=order.price_kopeks,
            status=OrderStatus(order.status),
            signature_hex=checked,
        )
        out = schemas.PartnerOrderOut(
            id=recorded.order.id,
            order_id=recorded.order.order_id,
            protocol_id=recorded.order.protocol_id,
            price_kopeks=recorded.order.price_kopeks,
            status=recorded.order.status,
            created=recorded.created,
        )
    return JSONResponse(jsonable_encoder(out), status_code=201 if recorded.created else 200)
