"""``GET /health``: whether the service can do its work."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from agronom.api import schemas
from agronom.api.deps import Rt

router = APIRouter(tags=["health"])


@router.get("/health", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
async def health(rt: Rt) -> JSONResponse:
    """Whether the database answers (503 when it does not)."""
    try:
        async with rt.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says why
        return JSONResponse({"database": f"error: {exc.__class__.__name__}"}, status_code=503)
    return JSONResponse({"database": "ok"})
