"""A user's own settings and standing: ``GET /v1/limits``, ``PUT /v1/ml/consent``."""

from __future__ import annotations

from fastapi import APIRouter

from agronom.api import schemas
from agronom.api.deps import Rt, TgUser, errors
from agronom.users import quota
from agronom.users import service as users

router = APIRouter(tags=["users"])


@router.get("/v1/limits", response_model=schemas.LimitsResponse, responses=errors(400, 401))
async def limits(tg_id: TgUser, rt: Rt) -> schemas.LimitsResponse:
    """Photos used and allowed this month, the plan and PRO expiry."""
    now = rt.clock()
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
        found = await quota.limits(session, user, now=now, settings=rt.settings)
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


@router.put("/v1/ml/consent", response_model=schemas.ConsentResponse, responses=errors(400, 401))
async def consent(body: schemas.ConsentRequest, tg_id: TgUser, rt: Rt) -> schemas.ConsentResponse:
    """Opt in to (or out of) the ML dataset: ok photos kept for training up to 2 years."""
    now = rt.clock()
    async with rt.sessions.begin() as session:
        user = await users.ensure(session, tg_id, now=now)
        if await users.opted_in(session, user.id) != body.enabled:
            await users.set_opt_in(session, user.id, body.enabled, now=now)
    return schemas.ConsentResponse(ml_opt_in=body.enabled)
