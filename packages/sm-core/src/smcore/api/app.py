"""The FastAPI application: one router per feature (``bloggers``, ``posts``, ``follows``,
``history``, ``exports``, ``syncs``, ``fleet``, ``health``), the app's shared state, error
handlers and request metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smcore.api import bloggers, exports, fleet, follows, health, history, posts, syncs
from smcore.api.deps import AppState
from smcore.api.syncs import InstagramSync, TikTokSync, YouTubeSync
from smcore.metrics import HTTP_LATENCY
from smcore.settings import Settings
from smcore.store import db
from smcore.sync.errors import JobError
from smcore.web import pages

__all__ = ["InstagramSync", "TikTokSync", "YouTubeSync", "create_app"]

_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def create_app(settings: Settings, *, database_url: str, temporal_address: str | None) -> FastAPI:
    """The app over one database (and Temporal for starting syncs)."""
    keys = {k.strip() for k in settings.api_keys.get_secret_value().split(",") if k.strip()}
    state = AppState(settings, temporal_address, keys=keys)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.engine = db.async_engine(database_url)
        try:
            yield
        finally:
            await state.engine.dispose()

    app = FastAPI(
        title="SM Core",
        version="0.1.0",
        description="Social monitoring: search the synced bloggers, start and follow syncs. "
        "The dashboard (HTML pages) is served at /.",
        lifespan=lifespan,
    )
    app.state.core = state
    app.add_middleware(_Latency)
    app.include_router(bloggers.router)
    app.include_router(syncs.router)
    app.include_router(fleet.router)
    app.include_router(exports.router)
    app.include_router(history.router)
    app.include_router(posts.router)
    app.include_router(follows.router)
    app.include_router(health.router)
    pages.install(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Starlette names only the first route of a path in Allow; name them all.
            allowed = [
                method
                for method in _METHODS
                if any(
                    route.matches({**request.scope, "method": method})[0] is Match.FULL
                    for route in app.routes
                )
            ]
            return JSONResponse(
                {"detail": f"{request.method} is not allowed here; use {', '.join(allowed)}"},
                status_code=exc.status_code,
                headers={"Allow": ", ".join(allowed)},
            )
        if pages.is_page(request):
            return pages.error_page(request, exc.status_code, str(exc.detail))
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
