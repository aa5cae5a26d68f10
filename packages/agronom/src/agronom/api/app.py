"""The FastAPI application. Routes are thin: authenticate, parse, one service call, map errors.

Authentication per caller:

- the bot, for a Telegram user: ``X-Telegram-User`` signed with ``BOT_API_SECRET``
  (:mod:`agronom.auth`);
- T-Bank: the ``Token`` inside each notification (:mod:`agronom.payments.tbank`);
- AgroStore: ``X-Signature``, HMAC-SHA256 of the body (:mod:`agronom.partners.service`);
- operators (DSR on a user's behalf): ``X-API-Key``.

Every error is ``{"error_code", "message"}`` with the contract's codes (:mod:`agronom.errors`).

No ``from __future__ import annotations`` here: FastAPI reads the route signatures at run time,
and the dependency aliases are local to :func:`create_app`.
"""

import asyncio
import base64
import binascii
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import httpx
import structlog
from fastapi import Depends, FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from agronom import auth, quota, storage, users
from agronom.api import schemas
from agronom.clock import Clock, system_clock
from agronom.diagnosis import protocols
from agronom.diagnosis.model import VisionModel
from agronom.diagnosis.service import DiagnosisService
from agronom.dsr import service as dsr
from agronom.errors import AgronomError, BadRequest, Unauthorized, UpstreamError
from agronom.partners import service as partners
from agronom.payments import service as payments
from agronom.payments import tbank
from agronom.settings import Settings
from agronom.store import db
from agronom.store.models import OrderStatus

VERSION = "1.8.1"
_M = TypeVar("_M", bound=BaseModel)
log = structlog.get_logger("agronom.api")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text_ = {
        400: "BAD_REQUEST: the input cannot be used",
        401: "UNAUTHORIZED: missing or bad signature",
        404: "BAD_REQUEST: no such thing",
        409: "BAD_REQUEST: conflicts with what is stored",
        422: "NO_LEAF: no plant in the photo",
        429: "LIMIT_EXCEEDED: the monthly photo quota is used up",
        502: "BAD_REQUEST: T-Bank refused or did not answer",
        504: "GPT_TIMEOUT: the diagnosis model did not answer",
    }
    return {c: {"model": schemas.ErrorResponse, "description": text_[c]} for c in codes}


def _deleted(done: dsr.Deleted, status: schemas.DsrStatus) -> schemas.DeleteUserResponse:
    return schemas.DeleteUserResponse(
        found=done.found,
        status=status,
        photos=done.photos,
        objects=done.objects,
        exports_rewritten=done.exports_rewritten,
        payments_pseudonymised=done.payments_pseudonymised,
    )


_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"},
        "file_id": {"type": "string", "maxLength": 256},
        "file_unique_id": {"type": "string", "maxLength": 256},
    },
}
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
_JSON_ERRORS = {
    code: {
        "description": text_,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for code, text_ in (
        (400, "BAD_REQUEST: not a JSON object, or unusable fields"),
        (401, "UNAUTHORIZED: the Token does not match"),
    )
}
_OK = {
    200: {
        "description": "Accepted",
        "content": {"text/plain": {"schema": {"type": "string", "enum": ["OK"]}}},
    }
}


@dataclass
class Runtime:
    engine: AsyncEngine
    store: storage.ObjectStore
    http: httpx.AsyncClient
    diagnosis: DiagnosisService
    tbank: tbank.TBankClient


def create_app(  # noqa: PLR0915 - the routes close over the app's runtime
    settings: Settings,
    *,
    database_url: str,
    store: storage.ObjectStore | None = None,
    clock: Clock = system_clock,
    http: httpx.AsyncClient | None = None,
    wallclock: Callable[[], float] = time.time,
) -> FastAPI:
    """The API over one database. ``clock`` is business time (quotas, PRO, TTLs); ``wallclock``
    is real time, for the freshness of signed headers."""
    holder: dict[str, Runtime] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine = db.async_engine(database_url)
        client = http or httpx.AsyncClient()
        objects = store or await storage.from_settings(settings)
        model = VisionModel(
            client,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.openai_model,
            timeout_s=settings.diagnosis_timeout_s,
        )
        holder["rt"] = Runtime(
            engine=engine,
            store=objects,
            http=client,
            diagnosis=DiagnosisService(
                engine, store=objects, model=model, settings=settings, clock=clock
            ),
            tbank=tbank.TBankClient(
                client,
                base_url=settings.tbank_api_base,
                terminal_key=settings.tbank_terminal_key,
                password=settings.tbank_password.get_secret_value(),
            ),
        )
        try:
            yield
        finally:
            if http is None:
                await client.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Pocket Agronomist",
        version=VERSION,
        description="Backend of the Pocket Agronomist Telegram bot (data contract v1.8).",
        lifespan=lifespan,
    )

    def rt() -> Runtime:
        return holder["rt"]

    def sessions() -> async_sessionmaker:  # type: ignore[type-arg]
        return async_sessionmaker(rt().engine, expire_on_commit=False)

    bot_secret = settings.bot_api_secret.get_secret_value()
    api_keys = [k.strip() for k in settings.api_keys.get_secret_value().split(",") if k.strip()]

    def tg_user(
        x_telegram_user: Annotated[
            str | None,
            Header(
                alias=auth.HEADER,
                description="<tg_id>:<unix time>:<hex HMAC-SHA256> signed by the bot",
            ),
        ] = None,
    ) -> int:
        return auth.verify(
            x_telegram_user,
            secret=bot_secret,
            now=wallclock(),
            max_age_s=settings.auth_max_age_s,
        )

    User = Annotated[int, Depends(tg_user)]

    # ------------------------------------------------------------------ diagnose
    @app.post(
        "/v1/ai/diagnose",
        response_model=schemas.DiagnoseResponse,
        responses=_errors(400, 401, 422, 429, 504),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
                    "application/json": {"schema": schemas.DiagnoseJSON.model_json_schema()},
                },
            }
        },
    )
    async def diagnose(request: Request, tg_id: User) -> schemas.DiagnoseResponse:
        """Diagnose one plant photo: ``{crop, disease, confidence}`` and a treatment protocol.

        Creates a ``photos`` row and counts it in ``photo_usage`` (contract 6.1).
        """
        image, file_id, file_unique_id = await _read_photo(request, settings.max_upload_bytes)
        result = await rt().diagnosis.diagnose(
            tg_id=tg_id, image=image, file_id=file_id, file_unique_id=file_unique_id
        )
        p = result.protocol
        return schemas.DiagnoseResponse(
            photo_id=result.photo_id,
            crop=result.diagnosis.crop,
            disease=result.diagnosis.disease,
            confidence=result.diagnosis.confidence,
            protocol=schemas.ProtocolOut(
                id=result.protocol_id,
                disease_name=protocols.name(p.disease),
                summary=p.summary,
                steps=p.steps,
                products=p.products,
                safety_notes=p.safety_notes,
            ),
            retry_attempts=result.retry_attempts,
            usage=schemas.Usage(used=result.used, allowed=result.allowed),
        )

    # ------------------------------------------------------------------ limits
    @app.get("/v1/limits", response_model=schemas.LimitsResponse, responses=_errors(400, 401))
    async def limits(tg_id: User) -> schemas.LimitsResponse:
        """Photos used and allowed this month, the plan and PRO expiry."""
        now = clock()
        async with sessions().begin() as session:
            user = await users.ensure(session, tg_id, now=now)
            found = await quota.limits(session, user, now=now, settings=settings)
            opt_in = await users.opted_in(session, user.id)
        return schemas.LimitsResponse(
            month=found.month,
            used=found.used,
            allowed=found.allowed,
            remaining=found.remaining,
            plan="pro" if found.plan == "pro" else "free",
            pro_expires_at=found.pro_expires_at,
            autopay_enabled=found.autopay_enabled,
            ml_opt_in=opt_in,
            photos_stored=found.photos_stored,
        )

    @app.put("/v1/ml/consent", response_model=schemas.ConsentResponse, responses=_errors(400, 401))
    async def consent(body: schemas.ConsentRequest, tg_id: User) -> schemas.ConsentResponse:
        """Opt in to (or out of) the ML dataset: ok photos kept for training up to 2 years."""
        now = clock()
        async with sessions().begin() as session:
            user = await users.ensure(session, tg_id, now=now)
            if await users.opted_in(session, user.id) != body.enabled:
                await users.set_opt_in(session, user.id, body.enabled, now=now)
        return schemas.ConsentResponse(ml_opt_in=body.enabled)

    # ------------------------------------------------------------------ payments
    async def _notification(request: Request, *, autopay: bool) -> PlainTextResponse:
        body = await _json_object(request)
        payments.check_token(
            body,
            terminal_key=settings.tbank_terminal_key,
            password=settings.tbank_password.get_secret_value(),
        )
        async with sessions().begin() as session:
            outcome = await payments.apply(session, body, autopay=autopay, now=clock())
        log.info("tbank notification", applied=outcome.applied, reason=outcome.reason)
        return PlainTextResponse("OK")

    notification_doc: dict[str, Any] = {
        "response_class": PlainTextResponse,
        "responses": {**_OK, **_JSON_ERRORS},
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _NOTIFICATION_SCHEMA}},
            }
        },
    }

    @app.post("/v1/payments/sbp/webhook", **notification_doc)
    async def payment_webhook(request: Request) -> PlainTextResponse:
        """T-Bank payment notifications: Token checked, applied once per (PaymentId, Status),
        answered ``OK``. CONFIRMED grants PRO for the order's months."""
        return await _notification(request, autopay=False)

    @app.post("/v1/payments/sbp/autopay/webhook", **notification_doc)
    async def autopay_webhook(request: Request) -> PlainTextResponse:
        """T-Bank notifications of autopay charges (and SBP account bindings, LINKACCOUNT)."""
        return await _notification(request, autopay=True)

    @app.post(
        "/v1/payments/sbp/autopay/cancel",
        response_model=schemas.AutopayCancelResponse,
        responses=_errors(400, 401),
    )
    async def cancel_autopay(tg_id: User) -> schemas.AutopayCancelResponse:
        """Stop our recurring charges (``users.autopay_enabled = false``)."""
        now = clock()
        async with sessions().begin() as session:
            user = await users.ensure(session, tg_id, now=now)
            changed = await payments.cancel_autopay(session, user, now=now)
        return schemas.AutopayCancelResponse(autopay_enabled=False, changed=changed)

    @app.post(
        "/v1/payments/sbp/pro",
        response_model=schemas.ProResponse,
        responses=_errors(400, 401, 502),
    )
    async def buy_pro(body: schemas.ProRequest, tg_id: User) -> schemas.ProResponse:
        """Start a PRO purchase at T-Bank (``Init``); the user pays at ``payment_url``."""
        now = clock()
        async with sessions().begin() as session:
            user = await users.ensure(session, tg_id, now=now)
        order = payments.order_id(user.id, body.months)
        amount = settings.pro_price_kopeks * body.months
        try:
            started = await rt().tbank.init(
                order_id=order,
                amount=amount,
                description=f"Карманный агроном PRO, {body.months} мес.",
                customer_key=users.ref(
                    user.id, secret=settings.pseudonym_secret.get_secret_value()
                ),
                recurrent=body.autopay,
                notification_url=settings.tbank_notification_url or None,
            )
        except tbank.TBankError as exc:
            raise UpstreamError(str(exc)) from exc
        return schemas.ProResponse(order_id=order, amount=amount, payment_url=started.payment_url)

    # ------------------------------------------------------------------ partners
    @app.post(
        "/v1/partner/orders",
        response_model=schemas.PartnerOrderOut,
        status_code=201,
        responses={
            200: {"model": schemas.PartnerOrderOut, "description": "Updated"},
            **_errors(400, 401, 404, 409),
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
        x_signature: Annotated[
            str | None,
            Header(alias=partners.HEADER, description="hex HMAC-SHA256 of the body"),
        ] = None,
    ) -> JSONResponse:
        """An AgroStore order: signature checked in constant time; ``order_id`` unique."""
        raw = await request.body()
        checked = partners.check_signature(
            raw, x_signature, settings.partner_hmac_secret.get_secret_value()
        )
        order = _model(schemas.PartnerOrderIn, raw)
        async with sessions().begin() as session:
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

    # ------------------------------------------------------------------ DSR
    @app.post(
        "/v1/dsr/delete_user",
        response_model=schemas.DeleteUserResponse,
        responses={
            202: {
                "model": schemas.DeleteUserResponse,
                "description": "Recorded; the DSR job finishes the deletion within 30 days",
            },
            **_errors(400, 401),
        },
    )
    async def delete_user(
        body: schemas.DeleteUserRequest,
        x_telegram_user: Annotated[
            str | None, Header(alias=auth.HEADER, description="The user asking for themself")
        ] = None,
        x_api_key: Annotated[
            str | None, Header(alias="X-API-Key", description="An operator acting for a user")
        ] = None,
    ) -> JSONResponse:
        """Delete a user's data: rows, stored photos, dataset copies, export rows. Payments
        stay (402-FZ), pseudonymised.

        The request is recorded before anything is deleted. 200: done now. 202: recorded, but
        the deletion could not finish now (the object store failed); the hourly DSR job
        finishes it, well within the contract's 30 days."""
        if x_api_key is not None and any(secrets.compare_digest(x_api_key, k) for k in api_keys):
            if body.tg_id is None:
                raise BadRequest("an operator must name the user: tg_id")
            tg_id = body.tg_id
        else:
            tg_id = tg_user(x_telegram_user)
            if body.tg_id not in (None, tg_id):
                raise Unauthorized("a user can only delete themself")
        if not await dsr.request(rt().engine, tg_id, now=clock()):
            return JSONResponse(jsonable_encoder(_deleted(dsr.Deleted(found=False), "not_found")))
        try:
            done = await dsr.delete_user(
                rt().engine,
                rt().store,
                tg_id,
                secret=settings.pseudonym_secret.get_secret_value(),
                now=clock(),
            )
        except Exception as exc:  # noqa: BLE001 - recorded: the DSR sweep job finishes it
            log.warning("dsr deletion deferred", error=repr(exc))
            scheduled = _deleted(dsr.Deleted(found=True), "scheduled")
            return JSONResponse(jsonable_encoder(scheduled), status_code=202)
        out = _deleted(done, "deleted" if done.found else "not_found")
        return JSONResponse(jsonable_encoder(out))

    # ------------------------------------------------------------------ health
    @app.get("/health", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
    async def health() -> JSONResponse:
        """Whether the database answers (503 when it does not)."""
        try:
            async with rt().engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says why
            return JSONResponse({"database": f"error: {exc.__class__.__name__}"}, status_code=503)
        return JSONResponse({"database": "ok"})

    # ------------------------------------------------------------------ errors
    @app.exception_handler(AgronomError)
    async def agronom_error(_: Request, exc: AgronomError) -> JSONResponse:
        return _error(exc.http_status, exc.error_code.value, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "UNAUTHORIZED" if exc.status_code in (401, 403) else "BAD_REQUEST"
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "BAD_REQUEST", _describe(exc.errors()))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            extra = schemas.PartnerOrderIn.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            components.update(extra.pop("$defs", {}))
            components["PartnerOrderIn"] = extra
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
    return app


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def _describe(errors: Any) -> str:
    parts = []
    for error in list(errors)[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _model(model: type[_M], raw: bytes) -> _M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(_describe(exc.errors())) from None


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


async def _read_photo(request: Request, max_bytes: int) -> tuple[bytes, str | None, str | None]:
    """The photo and its Telegram ids from a multipart or a JSON body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except (StarletteHTTPException, ValueError, KeyError) as exc:
            raise BadRequest(f"the multipart body cannot be read: {exc}") from None
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise BadRequest("the multipart body needs a file field `image`")
        data = await image.read(max_bytes + 1)
        ids = [form.get(k) for k in ("file_id", "file_unique_id")]
        file_id, unique = (i if isinstance(i, str) and i else None for i in ids)
        return data, file_id, unique
    if kind == "application/json":
        body = _model(schemas.DiagnoseJSON, await request.body())
        try:
            data = base64.b64decode(body.image_base64, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("image_base64 is not valid base64") from None
        return data, body.file_id, body.file_unique_id
    raise BadRequest("send the photo as multipart/form-data (image) or JSON (image_base64)")
