"""PRO by SBP through T-Bank: starting a purchase (one-off or autopay with consent), T-Bank's
notifications, cancelling autopay, and an operator's refund."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse

from agronom.api import schemas
from agronom.api.deps import Rt, TgUser, errors, json_object, runtime
from agronom.errors import Unauthorized, UpstreamError
from agronom.payments import service as payments
from agronom.payments import tbank
from agronom.users import service as users

router = APIRouter(tags=["payments"])
log = structlog.get_logger("agronom.payments")

_ID = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
_NOTIFICATION_SCHEMA = {
    "type": "object",
    "description": "A T-Bank acquiring notification (NotificationPayment, NotificationQr, "
    "NotificationAddCard or NotificationFiscalization); every root-level scalar is signed by "
    "Token",
    "required": ["TerminalKey", "Token"],
    "properties": {
        "TerminalKey": {"type": "string"},
        "OrderId": {"type": "string"},
        "Success": {"type": "boolean"},
        "Status": {"type": "string"},
        "PaymentId": _ID,
        "ErrorCode": {"type": "string"},
        "Amount": {"type": "integer", "description": "Kopeks"},
        "NotificationType": {"type": "string", "description": "LINKACCOUNT for NotificationQr"},
        "RequestKey": _ID,
        "AccountToken": {"type": "string"},
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
    """T-Bank notifications (the terminal's URL): payments applied once per (PaymentId,
    Status), CONFIRMED granting PRO and refunds taking it back; LINKACCOUNT links; card-link
    and receipt notices acknowledged. Each answered ``OK`` once its Token is checked."""
    return await _notification(request, autopay=False)


@router.post("/v1/payments/sbp/autopay/webhook", **_NOTIFICATION_DOC)
async def autopay_webhook(request: Request) -> PlainTextResponse:
    """T-Bank notifications of autopay charges (their Init's NotificationURL); a REJECTED
    charge records ``autopay_fail``. Any other kind is handled as on the main webhook."""
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
    """Start PRO by SBP at T-Bank; the user opens ``payment_url`` in their bank app.

    One-off (``Init`` + ``GetQr``), or with ``autopay``, which needs ``autopay_consent: true``
    and the ``autopay_terms_version`` the user was shown (400 otherwise): pay and link the SBP
    account at once, or, while PRO is running, link only (``AddAccountQr``). Every answer
    carries the current autopay terms, to show before asking for consent."""
    try:
        started = await payments.start(
            rt.sessions,
            rt.tbank,
            rt.settings,
            tg_id,
            months=body.months,
            autopay=body.autopay,
            consent_version=body.autopay_terms_version if body.autopay_consent else None,
            now=rt.clock(),
        )
    except tbank.TBankError as exc:
        raise UpstreamError(str(exc)) from exc
    return schemas.ProResponse(
        mode=started.mode,
        order_id=started.order_id,
        amount=started.amount,
        payment_url=started.payment_url,
        autopay_terms_version=payments.AUTOPAY_TERMS_VERSION,
        autopay_terms=payments.autopay_terms(rt.settings),
    )


@router.post(
    "/v1/payments/sbp/refund",
    response_model=schemas.RefundResponse,
    responses=errors(400, 401, 404, 502),
)
async def refund(
    body: schemas.RefundRequest,
    rt: Rt,
    x_api_key: Annotated[
        str | None, Header(alias="X-API-Key", description="An operator's key (API_KEYS)")
    ] = None,
) -> schemas.RefundResponse:
    """An operator refunds a paid PRO payment at T-Bank (``Cancel``), whole or in part.

    PRO is shortened by what the refunded share granted when T-Bank's REFUNDED or
    PARTIAL_REFUNDED notification arrives (event ``payment_refund``)."""
    keys = [k.strip() for k in rt.settings.api_keys.get_secret_value().split(",") if k.strip()]
    if x_api_key is None or not any(secrets.compare_digest(x_api_key, k) for k in keys):
        raise Unauthorized("an operator's X-API-Key is required")
    try:
        done = await payments.refund(
            rt.sessions, rt.tbank, rt.settings, body.payment_id, amount=body.amount
        )
    except tbank.TBankError as exc:
        raise UpstreamError(str(exc)) from exc
    return schemas.RefundResponse(
        payment_id=done.payment_id,
        status=done.status,
        original_amount=done.original_amount,
        new_amount=done.new_amount,
    )
