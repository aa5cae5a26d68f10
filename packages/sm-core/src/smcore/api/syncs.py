"""``/api/v1/syncs``: start a sync, follow it, list the newest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.api import tabular
from smcore.api.deps import (
    API,
    CURSOR,
    MAX_ID,
    Engine,
    Temporal,
    parse_cursor,
    read_access,
    require_key,
)
from smcore.api.tabular import Format, Source
from smcore.orchestration import client as orchestration
from smcore.store import ledger
from smcore.store.models import Status
from smcore.sync import status as sync_status
from smcore.sync.models import DEFAULT_REFRESH_DAYS, Platform, SyncInput
from smcore.sync.service import create_job

router = APIRouter(prefix=f"{API}/syncs")

# Instagram usernames and YouTube handles (ASCII letters, digits, . _ -; "@" optional);
# Instagram user ids (digits) and YouTube channel ids (UC…).
_Username = Annotated[str, Field(pattern=r"^@?[A-Za-z0-9._-]{1,100}$")]
_ExtId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _SyncTarget(BaseModel):
    # Exactly one of username and ext_id, said in the schema itself (oneOf), so clients and
    # contract tests know it without trying.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["username"]}, {"required": ["ext_id"]}]},
    )

    username: _Username | SkipJsonSchema[None] = Field(
        None, description="Instagram username or YouTube handle"
    )
    ext_id: _ExtId | SkipJsonSchema[None] = Field(
        None, description="Instagram user id or YouTube channel id"
    )
    refresh_days: Annotated[float, Field(gt=0, le=3650)] | SkipJsonSchema[None] = Field(
        None, description=f"Refresh the posts of this many days (default {DEFAULT_REFRESH_DAYS})"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("username", "ext_id", "refresh_days"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} must not be null (leave it out instead)")
        return data

    @model_validator(mode="after")
    def _one_target(self) -> _SyncTarget:
        if (self.username is None) == (self.ext_id is None):
            raise ValueError("give exactly one of username and ext_id")
        return self


# The scopes are each platform's (smcore.sync.streams.scopes_of; a test keeps them equal).
class InstagramSync(_SyncTarget):
    platform: Literal[Platform.INSTAGRAM]
    scope: Literal["profile", "posts", "comments", "likes", "subscriptions", "all"] = "all"


class YouTubeSync(_SyncTarget):
    platform: Literal[Platform.YOUTUBE]
    scope: Literal["profile", "posts", "comments", "all"] = "all"


class TikTokSync(_SyncTarget):
    platform: Literal[Platform.TIKTOK]
    scope: Literal["profile", "posts", "comments", "subscriptions", "all"] = "all"


SyncRequest = Annotated[InstagramSync | YouTubeSync | TikTokSync, Field(discriminator="platform")]


class SyncStarted(BaseModel):
    job_call_id: int
    workflow_id: str
    status: str


class StreamReport(BaseModel):
    """One stream of a sync, its ServiceCalls summed."""

    pages: int = Field(description="Pages (provider requests) that succeeded")
    items: int
    failed: int
    skipped: int
    subjects: int = Field(description="Posts it covered, for per-post streams")
    cursor: dict[str, Any] = Field(description="Where its last call left the listing")
    last_error: str | None = None


class TransformReport(BaseModel):
    """The synced profile's Transform stage (``smcore.transform``)."""

    media: dict[str, int] = Field(
        description="Media files by download state: pending, stored, expired, failed"
    )
    analyses: dict[str, int] = Field(
        description="Analyses by status: unsubmitted, pending, processing, done, failed"
    )
    last_error: str | None = Field(
        None, description="The latest analysis error (e.g. the analysis service unreachable)"
    )


class SyncReport(BaseModel):
    """A JobCall with its ServiceCalls summed per stream."""

    job_call_id: int
    status: Status
    platform: str
    kind: str
    subject_id: int | None
    params: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    service_calls: int
    streams: dict[str, StreamReport]
    result_summary: dict[str, Any]
    transform: TransformReport | None = Field(
        None, description="Media downloads and analyses of the synced profile"
    )


class SyncListItem(BaseModel):
    id: int
    kind: str
    platform: str
    status: Status
    subject_id: int | None
    parent_job_call_id: int | None = Field(description="The batch this sync belongs to")
    params: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncStarted,
    dependencies=[Depends(require_key)],
    responses={
        400: {"description": "The body is not JSON"},
        401: {"description": "No valid X-API-Key"},
        503: {"description": "Temporal is not configured or not reachable"},
    },
)
async def start_sync(request: SyncRequest, engine: Engine, client: Temporal) -> SyncStarted:
    """Start a sync; follow it at GET /api/v1/syncs/{job_call_id}."""
    job_id = await create_job(
        engine,
        platform=request.platform,
        scope=request.scope,
        username=request.username,
        ext_id=request.ext_id,
        refresh_days=request.refresh_days,
    )
    handle = await orchestration.start_sync(client, SyncInput(job_id, engine.url.database or ""))
    return SyncStarted(job_call_id=job_id, workflow_id=handle.id, status="pending")


@router.get(
    "/{job_call_id}",
    response_model=SyncReport,
    dependencies=[Depends(read_access)],
    responses={404: {"description": "No such JobCall"}},
)
async def get_sync(
    engine: Engine, job_call_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> SyncReport:
    """A JobCall with its ServiceCalls summed per stream."""
    async with engine.connect() as conn:
        report = await sync_status.report(conn, job_call_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no JobCall {job_call_id}")
    return SyncReport(**report)


def _child(row: dict[str, Any]) -> SyncListItem:
    return SyncListItem(**{k: row[k] for k in SyncListItem.model_fields})


def jobs_source(
    *, status: Status | None = None, platform: Platform | None = None
) -> Source[SyncListItem]:
    """Every JobCall, newest first (the list of ``/syncs``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await ledger.recent_jobs(
            conn,
            status=status,
            platform=platform,
            limit=limit,
            before_id=after[1] if after else None,
        )

    return Source(SyncListItem, read, _child, "syncs")


@router.get(
    "",
    response_model=list[SyncListItem],
    dependencies=[Depends(read_access)],
    responses=tabular.responses(),
)
async def list_syncs(
    engine: Engine,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    platform: Annotated[Platform | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    fmt: Annotated[Format, tabular.FORMAT] = Format.JSON,
) -> list[SyncListItem] | Response:
    """The newest JobCalls, optionally by status and platform (a file: every one of them)."""
    source = jobs_source(status=status_, platform=platform)
    if fmt is not Format.JSON:
        return tabular.response(fmt, source, engine)
    async with engine.connect() as conn:
        items, _ = await source.page(conn, None, limit)
    return items


class ServiceCallOut(BaseModel):
    """One ServiceCall of a sync: one provider request (a page), or a marker."""

    id: int
    parent_service_call_id: int | None = Field(
        description="The call before it in its stream's chain (null: the chain's first)"
    )
    kind: str = Field(description="What was called (the provider method, or a marker)")
    stream: str
    subject_id: int | None = Field(description="The post it covered, for per-post streams")
    status: Status
    cursor: dict[str, Any] = Field(description="Where the listing goes on after this call")
    result_summary: dict[str, Any]
    error_message: str | None
    started_at: datetime | None
    finished_at: datetime | None


class ServiceCallPage(BaseModel):
    items: list[ServiceCallOut] = Field(
        description="Oldest first (by id): a call's parent comes before it"
    )
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


class SyncChildPage(BaseModel):
    items: list[SyncListItem] = Field(description="Oldest first")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


_NO_JOB: dict[int | str, dict[str, Any]] = {404: {"description": "No such JobCall"}}
_JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
_Stream = Annotated[
    str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="Only this stream's calls")
]
MAX_LIMIT = 1000


def _call(row: dict[str, Any]) -> ServiceCallOut:
    return ServiceCallOut(**{k: row[k] for k in ServiceCallOut.model_fields})


def calls_source(
    job_call_id: int, *, status: Status | None = None, stream: str | None = None
) -> Source[ServiceCallOut]:
    """A JobCall's ServiceCalls (the list of ``/syncs/{id}/calls``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await ledger.calls_page(
            conn, job_call_id, status=status, stream=stream, after=after, limit=limit
        )

    return Source(ServiceCallOut, read, _call, f"sync-{job_call_id}-calls")


def children_source(job_call_id: int, *, status: Status | None = None) -> Source[SyncListItem]:
    """A batch's child JobCalls (the list of ``/syncs/{id}/children``)."""

    async def read(
        conn: AsyncConnection, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        return await ledger.children_page(
            conn, job_call_id, status=status, after=after, limit=limit
        )

    return Source(SyncListItem, read, _child, f"sync-{job_call_id}-children")


_Format = Annotated[Format, tabular.FORMAT]


@router.get(
    "/{job_call_id}/calls",
    response_model=ServiceCallPage,
    dependencies=[Depends(read_access)],
    responses=tabular.responses(_NO_JOB),
)
async def sync_calls(
    engine: Engine,
    job_call_id: _JobId,
    *,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    stream: _Stream = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Calls per page")] = 100,
    cursor: Annotated[str | None, CURSOR] = None,
    fmt: _Format = Format.JSON,
) -> ServiceCallPage | Response:
    """A JobCall's ServiceCalls as a tree: each call names its parent (the call before it in
    its stream's chain), oldest first, so a parent always comes before its children."""
    source = calls_source(job_call_id, status=status_, stream=stream)
    async with engine.connect() as conn:
        if not await ledger.job_exists(conn, job_call_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no JobCall {job_call_id}")
        if fmt is Format.JSON:
            items, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            return ServiceCallPage(items=items, next_cursor=next_cursor)
    return tabular.response(fmt, source, engine)


@router.get(
    "/{job_call_id}/children",
    response_model=SyncChildPage,
    dependencies=[Depends(read_access)],
    responses=tabular.responses(_NO_JOB),
)
async def sync_children(
    engine: Engine,
    job_call_id: _JobId,
    *,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="JobCalls per page")] = 100,
    cursor: Annotated[str | None, CURSOR] = None,
    fmt: _Format = Format.JSON,
) -> SyncChildPage | Response:
    """A batch's child JobCalls (one sync per profile), oldest first; empty for a sync."""
    source = children_source(job_call_id, status=status_)
    async with engine.connect() as conn:
        if not await ledger.job_exists(conn, job_call_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no JobCall {job_call_id}")
        if fmt is Format.JSON:
            items, next_cursor = await source.page(conn, parse_cursor(cursor), limit)
            return SyncChildPage(items=items, next_cursor=next_cursor)
    return tabular.response(fmt, source, engine)
