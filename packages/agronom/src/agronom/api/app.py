"""The FastAPI application: the runtime, the feature routers, the error format.

Each feature's routes live beside it (``agronom/<feature>/routes.py``); routes are thin:
authenticate, parse, one service call, map errors. Authentication per caller:

- the bot, for a Telegram user: ``X-Telegram-User`` signed with ``BOT_API_SECRET`` over the
  method, path, body, time and a single-use nonce (:mod:`agronom.auth`);
- T-Bank: the ``Token`` inside each notification (:mod:`agronom.payments.tbank`);
- AgroStore: ``X-Signature``, HMAC-SHA256 of the body (:mod:`agronom.partners.service`);
- operators (DSR on a user's behalf, refunds): ``X-API-Key``.

Every error is ``{"error_code", "message"}`` with the contract's codes (:mod:`agronom.errors`),
and ``reason`` where a code has several causes (LIMIT_EXCEEDED: ``quota``, ``rate``, ``daily``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from agronom.api import health, schemas
from agronom.api.deps import Runtime, describe
from agronom.api.middleware import RequestContext
from agronom.clock import Clock, system_clock
from agronom.diagnosis import routes as diagnosis_routes
from agronom.diagnosis.model import VisionModel
from agronom.diagnosis.service import DiagnosisService
from agronom.dsr import routes as dsr_routes
from agronom.errors import AgronomError
from agronom.partners import routes as partner_routes
from agronom.payments import routes as payment_routes
from agronom.payments import tbank
from agronom.settings import Settings
from agronom.stars import routes as stars_routes
from agronom.store import db
from agronom.store import objects as storage
from agronom.users import routes as user_routes

VERSION = "1.9.1"
log = structlog.get_logger("agronom.api")
ROUTERS = (
    diagnosis_routes.router,
    user_routes.router,
    payment_routes.router,
    stars_routes.router,
    partner_routes.router,
    dsr_routes.router,
    health.router,
)


def create_app(
    settings: Settings,
    *,
    database_url: str,
    store: storage.ObjectStore | None = None,
    clock: Clock = system_clock,
    http: httpx.AsyncClient | None = None,
    wallclock: Callable[[], float] = time.time,
    temporal_address: str | None = None,
) -> FastAPI:
    """The API over one database. ``clock`` is business time (quotas, PRO, TTLs); ``wallclock``
    is real time, for the freshness of signed headers; ``temporal_address``, when given, is
    checked by ``/health``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        app.state.runtime = Runtime(
            settings=settings,
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
            clock=clock,
            wallclock=wallclock,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            temporal_address=temporal_address,
            temporal_namespace=settings.temporal_namespace,
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
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(RequestContext)
    app.add_exception_handler(AgronomError, _agronom_error)  # type: ignore[arg-type]  # Starlette types handlers by Exception
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]  # as above
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]  # as above

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


def _error(status: int, code: str, message: str, reason: str | None = None) -> JSONResponse:
    body = {"error_code": code, "message": message}
    if reason is not None:
        body["reason"] = reason
    return JSONResponse(body, status_code=status)


async def _agronom_error(_: Request, exc: AgronomError) -> JSONResponse:
    response = _error(exc.http_status, exc.error_code.value, exc.message, exc.reason)
    if exc.retry_after_s is not None:  # rate limits, an open model breaker
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = "UNAUTHORIZED" if exc.status_code in (401, 403) else "BAD_REQUEST"
    return _error(exc.status_code, code, str(exc.detail))


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    return _error(400, "BAD_REQUEST", describe(exc.errors()))
