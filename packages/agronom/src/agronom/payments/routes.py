"""PRO by SBP through T-Bank: starting a purchase, T-Bank's notifications, cancelling autopay."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from agronom.api import schemas
from agronom.api.deps import Rt, TgUser, errors, json_object, runtime
from agronom.errors import UpstreamError
from agronom.payments import service as payments
from agronom.payments import tbank
from agronom.users import service as users

router = APIRouter(tags=["payments"])
log = structlog.get_logger("agronom.payments")

_NOTIFICATION_SCHEMA = {
    "type": "object",
    "description": "A T-Bank acquiring notification; every root-level scalar is signed by Token",
    "required": ["TerminalKey", "Token"],
    "properties": {
        "TerminalKey": {"type": "string"},
        "OrderId": {"type": "string"},
        "Success": {"type": "boolean"},
        "Status": {"type": "string"},
        "PaymentId": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "ErrorCode": {"type": "string"},
        "Amount": {"type": "integer", "description": "Kopeks"},
        "AccountToken": {"type": "string"},
        "RebillId": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "NotificationType": {"type": "string"},
        "Token": {"type": "string"},
    },
    "additionalProperties": True,
}
_NOTIFICATION_DOC: dict[str, Any] = {
    "response_class": PlainTextResponse,
    "responses": {
        200: {
            "description": "Accepted",
            "content": {"text/plain": {"schema": {"type": "string", "enum": ["OK"]}}},
        },
        **{
            code: {
                "description": text,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                },
            }
            for code, text in (
                (400, "BAD_REQUEST: not a JSON object, or unusable fields"),
                (401, "UNAUTHORIZED: the Token does not match"),
            )
        },
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _NOTIFICATION_SCHEMA}},
        }
    },
}


async def _notification(request: Request, *, autopay: bool) -> PlainTextResponse:
    rt = runtime(request)
    body = await json_object(request)
    payments.check_token(
        body,
        terminal_key=rt.settings.tbank_terminal_key,
        password=rt.settings.tbank_password.get_secret_value(),
    )
    async with rt.sessions.begin() as session:
        outcome = await payments.apply(session, body, autopay=autopay, now=rt.clock())
    log.info("tbank notification", applied=outcome.applied, reason=outcome.reason)
    return PlainTextResponse("OK")


@router.post("/v1/payments/sbp/webhook", **_NOTIFICATION_DOC)
async def payment_webhook(request: Request) -> PlainTextResponse:
    """T-Bank payment notifications: Token checked, applied once per (PaymentId, Status),
    answered ``OK``. CONFIRMED grants PRO for the order's months."""
    return await _notification(request, autopay=False)


@router.post("/v1/payments/sbp/autopay/webhook", **_NOTIFICATION_DOC)
async def autopay_webhook(request: Request) -> PlainTextResponse:
    """T-Bank notifications of autopay charges (and SBP account bindings, LINKACCOUNT)."""
    return await _notification(request, autopay=True)


@router.post(
    "/v1/payments/sbp/autopay/cancel",
    response_model=schemas.AutopayCancelResponse,
    responses=errors(400, 401),
)
async def cancel_autopay(tg_id: TgUser, rt: Rt) -> schemas.AutopayCancelResponse:
    """Stop our recurring charges (``users.autopay_enabled = false``)."""
    now = rt.clock()
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
        changed = await payments.cancel_autopay(session, user, now=now)
    return schemas.AutopayCancelResponse(autopay_enabled=False, changed=changed)


@router.post(
    "/v1/payments/sbp/pro",
    response_model=schemas.ProResponse,
    responses=errors(400, 401, 502),
)
async def buy_pro(body: schemas.ProRequest, tg_id: TgUser, rt: Rt) -> schemas.ProResponse:
    """Start a PRO purchase at T-Bank (``Init``); the user pays at ``payment_url``."""
    now = rt.clock()
    settings = rt.settings
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
    order = payments.order_id(user.id, body.months)
    amount = settings.pro_price_kopeks * body.months
    try:
        started = await rt.tbank.init(
            order_id=order,
            amount=amount,
            description=f"Карманный агроном PRO, {body.months} мес.",
            customer_key=users.ref(user.id, secret=settings.pseudonym_secret.get_secret_value()),
            recurrent=body.autopay,
            notification_url=settings.tbank_notification_url or None,
        )
    except tbank.TBankError as exc:
        raise UpstreamError(str(exc)) from exc
    return schemas.ProResponse(order_id=order, amount=amount, payment_url=started.payment_url)
