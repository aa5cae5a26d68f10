"""``/health`` and ``/metrics``: for operators and their probes."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from smcore.api.deps import State

router = APIRouter()


class Health(BaseModel):
    database: str
    temporal: str


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(state: State) -> Any:
    """Whether the database and Temporal answer (503 says which does not)."""
    checks = {"database": "ok", "temporal": "ok"}
    try:
        if state.engine is None:
            raise RuntimeError("the database engine is not open")
        async with state.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says why
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        client = await asyncio.wait_for(state.temporal(), timeout=3)
        if not await asyncio.wait_for(client.service_client.check_health(), timeout=3):
            checks["temporal"] = "error: not serving"
    except Exception as exc:  # noqa: BLE001
        checks["temporal"] = f"error: {getattr(exc, 'detail', exc.__class__.__name__)}"
    code = 200 if all(v == "ok" for v in checks.values()) else 503
    return JSONResponse(checks, status_code=code)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics() -> Response:
    """Prometheus metrics of this process (a worker serves its own: --metrics-port)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
