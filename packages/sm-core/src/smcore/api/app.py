"""The FastAPI application. Routes are thin: parse, one call into the store or the sync layer."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smcore.metrics import HTTP_LATENCY
from smcore.settings import Settings
from smcore.store import db
from smcore.store import search as profile_search
from smcore.store.models import JobCall, MetricSnapshot, SocialProfile
from smcore.sync import status as sync_status
from smcore.sync.errors import JobError
from smcore.sync.models import DEFAULT_REFRESH_DAYS, SyncInput
from smcore.sync.service import create_job

API = "/api/v1"
MAX_ID = 2**63 - 1  # bigint


class Blogger(BaseModel):
    """A social profile (the seed's SocialProfile fields)."""

    id: int
    platform: str
    ext_id: str
    username: str
    full_name: str
    bio: str
    avatar: str
    url: str
    followers_count: int
    follows_count: int
    posts_count: int
    engagement_rate: float
    is_private: bool
    is_verified: bool
    last_synced_at: datetime | None


class BloggerPage(BaseModel):
    items: list[Blogger]
    total: int = Field(description="Matches in all pages")
    total_exact: bool = Field(
        description=f"False when listing without q stopped counting at {profile_search.TOTAL_CAP}"
    )
    corrected: str | None = Field(
        description="When the words as typed matched nothing: the spellings searched instead "
        "(alternatives of one word joined by |)"
    )
    page: int
    per_page: int


class Metrics(BaseModel):
    captured_at: datetime
    followers: int | None
    follows: int | None
    posts: int | None
    views: int | None
    engagement_rate: float | None


class BloggerDetail(Blogger):
    latest_metrics: Metrics | None
    last_sync: dict[str, Any] | None = Field(description="The newest JobCall of this profile")


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
                    raise ValueError(f"{key} must be a string (leave it out instead of null)")
        return data

    @model_validator(mode="after")
    def _one_target(self) -> _SyncTarget:
        if (self.username is None) == (self.ext_id is None):
            raise ValueError("give exactly one of username and ext_id")
        return self


class InstagramSync(_SyncTarget):
    platform: Literal["instagram"]
    scope: Literal["profile", "subscriptions", "posts", "comments", "all"] = "all"


class YouTubeSync(_SyncTarget):
    platform: Literal["youtube"]
    scope: Literal["profile", "posts", "comments", "all"] = "all"


SyncRequest = Annotated[InstagramSync | YouTubeSync, Field(discriminator="platform")]


class SyncStarted(BaseModel):
    job_call_id: int
    workflow_id: str
    status: str


class Health(BaseModel):
    database: str
    temporal: str


def create_app(  # noqa: PLR0915 - the routes close over the app's engine and client
    settings: Settings, *, database_url: str, temporal_address: str | None
) -> FastAPI:
    """The app over one database (and Temporal for starting syncs)."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["engine"] = db.async_engine(database_url)
        try:
            yield
        finally:
            await state["engine"].dispose()

    app = FastAPI(
        title="SM Core",
        version="0.1.0",
        description="Social monitoring: search the synced bloggers, start and follow syncs.",
        lifespan=lifespan,
    )

    app.add_middleware(_Latency)

    def engine() -> AsyncEngine:
        result: AsyncEngine = state["engine"]
        return result

    keys = {k.strip() for k in settings.api_keys.get_secret_value().split(",") if k.strip()}

    def require_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if x_api_key is None or not any(secrets.compare_digest(x_api_key, k) for k in keys):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key header is required"
            )

    def read_access(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if not settings.api_public_reads:
            require_key(x_api_key)

    async def temporal() -> Any:
        if temporal_address is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Temporal is not configured")
        if "client" not in state:
            from temporalio.client import Client  # noqa: PLC0415

            state["client"] = await Client.connect(
                temporal_address, namespace=settings.temporal_namespace
            )
        return state["client"]

    @app.get(f"{API}/bloggers", response_model=BloggerPage, dependencies=[Depends(read_access)])
    async def search_bloggers(
        q: Annotated[
            str,
            Query(
                max_length=200,
                pattern=r"^[^\x00]*$",  # PostgreSQL text cannot hold NUL
                description="Username, name or bio; @handle ok",
            ),
        ] = "",
        platform: Annotated[Literal["instagram", "youtube"] | None, Query()] = None,
        page: Annotated[
            int, Query(ge=1, le=100, description="At most 100 pages: narrow the query for more")
        ] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> BloggerPage:
        """Search profiles: full text, prefixes, typos; ranked by text, then followers."""
        async with engine().begin() as conn:
            found = await profile_search.search(
                conn, q=q, platform=platform, limit=per_page, offset=(page - 1) * per_page
            )
        return BloggerPage(
            items=[Blogger(**i) for i in found.items],
            total=found.total,
            total_exact=found.total_exact,
            corrected=found.corrected,
            page=page,
            per_page=per_page,
        )

    @app.get(
        f"{API}/bloggers/{{blogger_id}}",
        response_model=BloggerDetail,
        dependencies=[Depends(read_access)],
        responses={404: {"description": "No such profile"}},
    )
    async def get_blogger(blogger_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> BloggerDetail:
        """A profile with its latest metrics and its last sync."""
        async with engine().connect() as conn:
            row = (
                await conn.execute(select(SocialProfile).where(SocialProfile.id == blogger_id))
            ).first()
            if row is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no blogger {blogger_id}")
            metrics = (
                await conn.execute(
                    select(MetricSnapshot)
                    .where(
                        MetricSnapshot.subject_type == "profile",
                        MetricSnapshot.subject_id == blogger_id,
                    )
                    .order_by(MetricSnapshot.captured_at.desc())
                    .limit(1)
                )
            ).first()
            job = await conn.scalar(
                select(JobCall.id)
                .where(JobCall.subject_id == blogger_id)
                .order_by(JobCall.id.desc())
                .limit(1)
            )
            last_sync = await sync_status.report(conn, job) if job is not None else None
        fields = {k: v for k, v in row._mapping.items() if k in Blogger.model_fields}
        return BloggerDetail(
            **fields,
            latest_metrics=Metrics(
                **{k: v for k, v in metrics._mapping.items() if k in Metrics.model_fields}
            )
            if metrics
            else None,
            last_sync=_summary(last_sync),
        )

    @app.post(
        f"{API}/syncs",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=SyncStarted,
        dependencies=[Depends(require_key)],
        responses={
            400: {"description": "The body is not JSON"},
            401: {"description": "No valid X-API-Key"},
            503: {"description": "Temporal is not configured or not reachable"},
        },
    )
    async def start_sync(request: SyncRequest) -> SyncStarted:
        """Start a sync; follow it at GET /api/v1/syncs/{job_call_id}."""
        from smcore.orchestration import client as orchestration  # noqa: PLC0415

        client = await temporal()
        job_id = await create_job(
            engine(),
            platform=request.platform,
            scope=request.scope,
            username=request.username,
            ext_id=request.ext_id,
            refresh_days=request.refresh_days,
        )
        handle = await orchestration.start_sync(
            client, SyncInput(job_id, engine().url.database or "")
        )
        return SyncStarted(job_call_id=job_id, workflow_id=handle.id, status="pending")

    @app.get(
        f"{API}/syncs/{{job_call_id}}",
        dependencies=[Depends(read_access)],
        responses={404: {"description": "No such JobCall"}},
    )
    async def get_sync(job_call_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, Any]:
        """A JobCall with its ServiceCalls summed per stream."""
        async with engine().connect() as conn:
            report = await sync_status.report(conn, job_call_id)
        if report is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no JobCall {job_call_id}")
        return _summary(report) or {}

    @app.get(f"{API}/syncs", dependencies=[Depends(read_access)])
    async def list_syncs(
        status_: Annotated[
            Literal["pending", "running", "succeeded", "failed", "partial", "skipped"] | None,
            Query(alias="status"),
        ] = None,
        platform: Annotated[Literal["instagram", "youtube"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        """The newest JobCalls, optionally by status and platform."""
        query = (
            select(
                JobCall.id,
                JobCall.platform,
                JobCall.status,
                JobCall.subject_id,
                JobCall.params,
                JobCall.started_at,
                JobCall.finished_at,
            )
            .order_by(JobCall.id.desc())
            .limit(limit)
        )
        if status_ is not None:
            query = query.where(JobCall.status == status_)
        if platform is not None:
            query = query.where(JobCall.platform == platform)
        async with engine().connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [dict(r) for r in rows]

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> Any:
        """Whether the database and Temporal answer (503 says which does not)."""
        checks = {"database": "ok", "temporal": "ok"}
        try:
            async with engine().connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says why
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            client = await asyncio.wait_for(temporal(), timeout=3)
            if not await asyncio.wait_for(client.service_client.check_health(), timeout=3):
                checks["temporal"] = "error: not serving"
        except Exception as exc:  # noqa: BLE001
            checks["temporal"] = f"error: {getattr(exc, 'detail', exc.__class__.__name__)}"
        code = 200 if all(v == "ok" for v in checks.values()) else 503
        return JSONResponse(checks, status_code=code)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    )
    async def metrics() -> Response:
        """Prometheus metrics of this process (a worker serves its own: --metrics-port)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Starlette names only the first route of a path in Allow; name them all.
            allowed = sorted(
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE
                for method in route.methods or ()
            )
            return JSONResponse(
                {"detail": f"{request.method} is not allowed here; use {', '.join(allowed)}"},
                status_code=exc.status_code,
                headers={"Allow": ", ".join(allowed)},
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(ValueError)
    @app.exception_handler(JobError)
    async def bad_value(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    return app


class _Latency:
    """Request latency per route template, as plain ASGI (Starlette's BaseHTTPMiddleware
    costs about a millisecond a request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], route, str(status_code)).observe(
                time.perf_counter() - started
            )


def _summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in report.items()}
