"""``/api/v1/fleet``: the monitored accounts (import, list, remove), their status and plan.

The same operations as ``sm-core fleet …``, over ``smcore.fleet``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.api import tabular
from smcore.api.deps import API, AppState, Engine, State, read_access, require_key
from smcore.api.tabular import Format, Source
from smcore.fleet import accounts
from smcore.fleet import plan as fleet_plan
from smcore.fleet import status as fleet_status
from smcore.fleet.status import State as AccountState
from smcore.orchestration import client as orchestration
from smcore.sync.models import Platform

log = structlog.get_logger(__name__)
router = APIRouter(prefix=f"{API}/fleet", tags=["fleet"])

MAX_IMPORT_BYTES = 50 * 1024 * 1024
_FIRST_LINE = "^[^\\n]*platform"
_FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}


class BadRowOut(BaseModel):
    line: int = Field(description="Line of the file (1: the first line, a CSV's header)")
    reason: str


class ImportResult(BaseModel):
    rows: int = Field(description="Data rows read")
    added: int
    updated: int
    duplicates: int = Field(description="Rows naming an account an earlier row named")
    bad: list[BadRowOut] = Field(description="Rows refused, by line; the rest were imported")


class FleetAccount(BaseModel):
    id: int
    platform: Platform
    username: str | None
    ext_id: str | None
    scope: str
    cadence_s: int
    state: AccountState
    next_due_at: datetime
    lag_s: float
    failures: int
    last_status: str | None
    last_error: str | None
    last_job_call_id: int | None
    last_started_at: datetime | None
    last_finished_at: datetime | None


@router.post(
    "/import",
    response_model=ImportResult,
    dependencies=[Depends(require_key)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                # The first line names the platform: a CSV's header, or JSON Lines' first object.
                "text/csv": {"schema": {"type": "string", "pattern": _FIRST_LINE}},
                "application/x-ndjson": {"schema": {"type": "string", "pattern": _FIRST_LINE}},
            },
            "description": (
                "One account per row: platform, username and/or ext_id, cadence (30m, 6h, "
                "1d, weekly…), scope, refresh_days. CSV needs a header row."
            ),
        }
    },
    responses={
        401: {"description": "No valid X-API-Key"},
        413: {"description": "Over 50 MiB: split the file"},
        415: {"description": "Not text/csv or application/x-ndjson"},
        422: {"description": "Not UTF-8 text, or a first line that does not name the platform"},
    },
)
async def import_accounts(request: Request, engine: Engine, state: State) -> ImportResult:
    """Add or update accounts from CSV or JSON Lines (idempotent); bad rows are reported by
    line and the rest imported. The dispatcher is told to look at once."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _FORMATS.get(kind)
    if fmt is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/csv or application/x-ndjson"
        )
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "over 50 MiB: split the file")
    try:
        data = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "the body is not UTF-8"
        ) from None
    try:
        rows = accounts.read_text(data, fmt=fmt)
    except accounts.FleetError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    report = await accounts.import_rows(engine, rows)
    if report.added or report.updated:
        await _wake(state, engine.url.database or "")
    return ImportResult(
        rows=report.rows,
        added=report.added,
        updated=report.updated,
        duplicates=report.duplicates,
        bad=[BadRowOut(line=b.line, reason=b.reason) for b in report.bad],
    )


async def _wake(state: AppState, database: str) -> None:
    """Tell the dispatcher (it also looks by itself within half a minute)."""
    if state.temporal_address is None:
        return
    try:
        await orchestration.wake_fleet(await state.temporal(), database)
    except (RuntimeError, OSError, HTTPException) as exc:
        log.warning("fleet_wake_failed", error=str(exc))


@router.get("", response_model=fleet_status.FleetStatus, dependencies=[Depends(read_access)])
async def get_status(engine: Engine) -> fleet_status.FleetStatus:
    """Accounts by state (running, failing, overdue, due, scheduled, disabled), per platform,
    and the lag of idle accounts against their cadence."""
    return await fleet_status.status(engine)


def _account(row: dict[str, Any]) -> FleetAccount:
    return FleetAccount(**{k: row[k] for k in FleetAccount.model_fields})


def accounts_source(
    engine: AsyncEngine, *, state: AccountState | None = None, platform: Platform | None = None
) -> Source[FleetAccount]:
    """The fleet's accounts, by id (the list of ``/fleet/accounts``)."""

    async def read(
        _conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        # smcore.fleet.status reads through its own connection (the clock and the state's
        # definition live there); the keyset is the account id.
        rows = await fleet_status.accounts(
            engine, state=state, platform=platform, limit=limit, after_id=after[1] if after else 0
        )
        return [r | {"sort_key": r["id"]} for r in rows]

    return Source(FleetAccount, read, _account, "fleet-accounts")


@router.get(
    "/accounts",
    response_model=list[FleetAccount],
    dependencies=[Depends(read_access)],
    responses=tabular.responses(),
)
async def list_accounts(
    engine: Engine,
    state: Annotated[AccountState | None, Query()] = None,
    platform: Annotated[Platform | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    fmt: Annotated[Format, tabular.FORMAT] = Format.JSON,
) -> list[FleetAccount] | Response:
    """Accounts with their state and last result, by id (a file: every one of them)."""
    source = accounts_source(engine, state=state, platform=platform)
    if fmt is not Format.JSON:
        return tabular.response(fmt, source, engine)
    async with engine.connect() as conn:
        items, _ = await source.page(conn, None, limit)
    return items


@router.delete(
    "/accounts/{platform}/{ref}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require_key)],
    responses={
        401: {"description": "No valid X-API-Key"},
        404: {"description": "Not in the fleet"},
    },
)
async def remove_account(
    engine: Engine,
    platform: Platform,
    ref: Annotated[str, Path(description="Username or external id", max_length=100)],
) -> Response:
    """Stop monitoring an account (its stored data and history stay)."""
    if not await accounts.remove(engine, platform, [ref]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{platform} {ref} is not in the fleet")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/plan", response_model=fleet_plan.FleetPlan, dependencies=[Depends(read_access)])
async def get_plan(engine: Engine, state: State) -> fleet_plan.FleetPlan:
    """Provider calls a day the fleet needs, per provider, stream and cadence, against each
    provider's configured rate and daily quota."""
    return await fleet_plan.plan(state.settings, engine)
