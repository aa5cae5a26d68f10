"""``GET /health`` and ``GET /metrics``: for operators and their probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from agronom import metrics
from agronom.api import schemas
from agronom.api.deps import Rt, Runtime
from agronom.dsr import service as dsr
from agronom.store.models import Payment

router = APIRouter(tags=["operations"])
_TIMEOUT_S = 3.0


async def _check(probe: Callable[[], Awaitable[Any]]) -> str:
    try:
        await asyncio.wait_for(probe(), timeout=_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says why
        detail = getattr(exc, "detail", None) or exc.__class__.__name__
        return f"error: {detail}"
    return "ok"


async def _database(rt: Runtime) -> None:
    async with rt.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _temporal(rt: Runtime) -> None:
    client = await rt.temporal()
    if not await client.service_client.check_health():
        raise RuntimeError("not serving")


@router.get("/health", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
async def health(rt: Rt) -> JSONResponse:
    """Whether the database, the object store and Temporal answer (503 says which does not).
    Temporal is ``not configured`` for an API started without it."""
    database, objects, temporal = await asyncio.gather(
        _check(lambda: _database(rt)),
        _check(rt.store.ping),
        _check(lambda: _temporal(rt)) if rt.temporal_address else _not_configured(),
    )
    checks = {"database": database, "object_store": objects, "temporal": temporal}
    healthy = all(v in ("ok", "not configured") for v in checks.values())
    return JSONResponse(checks, status_code=200 if healthy else 503)


async def _not_configured() -> str:
    return "not configured"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def prometheus(rt: Rt) -> Response:
    """Prometheus metrics of this process, with the stored state read now (payments by
    status, the oldest open DSR request)."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(Payment.provider, Payment.status, func.count()).group_by(
                Payment.provider, Payment.status
            )
        )
        metrics.PAYMENTS.clear()
        for provider, status, count in rows:
            metrics.PAYMENTS.labels(provider or "", status.value).set(count)
    oldest = await dsr.oldest_open(rt.engine)
    age = 0.0 if oldest is None else max(0.0, (rt.clock() - oldest).total_seconds())
    metrics.DSR_OLDEST_OPEN_SECONDS.set(age)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
