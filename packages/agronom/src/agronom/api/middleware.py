"""The API's ASGI middleware: a request id on every request and its log lines, and the
request latency per route template (plain ASGI: Starlette's BaseHTTPMiddleware costs about a
millisecond a request)."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agronom.metrics import HTTP_LATENCY

HEADER = "X-Request-ID"
_GIVEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContext:
    """Take the caller's ``X-Request-ID`` (or make one), bind it to every log line of the
    request, return it in the response, and time the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = given if _GIVEN.match(given) else uuid.uuid4().hex
        started = time.perf_counter()
        status_code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (HEADER.lower().encode(), request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                HTTP_LATENCY.labels(scope["method"], route, str(status_code)).observe(
                    time.perf_counter() - started
                )
