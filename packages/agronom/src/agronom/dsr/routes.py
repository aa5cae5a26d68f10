"""``POST /v1/dsr/delete_user``: a user's (or an operator's) request to delete their data."""

from __future__ import annotations

import secrets
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from agronom import auth
from agronom.api import schemas
from agronom.api.deps import HEADER_DOC, Rt, errors, tg_user
from agronom.dsr import service as dsr
from agronom.errors import BadRequest, Unauthorized

router = APIRouter(tags=["dsr"])
log = structlog.get_logger("agronom.dsr")


def _deleted(done: dsr.Deleted, status: schemas.DsrStatus) -> schemas.DeleteUserResponse:
    return schemas.DeleteUserResponse(
        found=done.found,
        status=status,
        photos=done.photos,
        objects=done.objects,
        exports_rewritten=done.exports_rewritten,
        payments_pseudonymised=done.payments_pseudonymised,
    )


@router.post(
    "/v1/dsr/delete_user",
    response_model=schemas.DeleteUserResponse,
    responses={
        202: {
            "model": schemas.DeleteUserResponse,
            "description": "Recorded; the DSR job finishes the deletion within 30 days",
        },
        **errors(400, 401),
    },
)
async def delete_user(
    body: schemas.DeleteUserRequest,
    request: Request,
    rt: Rt,
    x_telegram_user: Annotated[
        str | None,
        Header(alias=auth.HEADER, description=f"The user asking for themself: {HEADER_DOC}"),
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
    api_keys = [k.strip() for k in rt.settings.api_keys.get_secret_value().split(",")]
    if x_api_key is not None and any(secrets.compare_digest(x_api_key, k) for k in api_keys if k):
        if body.tg_id is None:
            raise BadRequest("an operator must name the user: tg_id")
        tg_id = body.tg_id
    else:
        tg_id = await tg_user(request, x_telegram_user)
        if body.tg_id not in (None, tg_id):
            raise Unauthorized("a user can only delete themself")
    if not await dsr.request(rt.engine, tg_id, now=rt.clock()):
        return JSONResponse(jsonable_encoder(_deleted(dsr.Deleted(found=False), "not_found")))
    try:
        done = await dsr.delete_user(
            rt.engine,
            rt.store,
            tg_id,
            secret=rt.settings.pseudonym_secret.get_secret_value(),
            now=rt.clock(),
        )
    except Exception as exc:  # noqa: BLE001 - recorded: the DSR sweep job finishes it
        log.warning("dsr deletion deferred", error=repr(exc))
        scheduled = _deleted(dsr.Deleted(found=True), "scheduled")
        return JSONResponse(jsonable_encoder(scheduled), status_code=202)
    out = _deleted(done, "deleted" if done.found else "not_found")
    return JSONResponse(jsonable_encoder(out))
