"""What every API request goes through around the API itself.

In order: latency, a transport fault (drawn for every request, so the fault sequence depends
only on the request sequence), the key, the API's rate limit, the API's own admission (the
YouTube quota, the TikTok Research API's daily quotas), then the endpoint. Every request is
counted in :class:`~socialsim.stats.Stats`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from socialsim.faults import FaultKind, retry_after
from socialsim.sim import ApiName, Sim


@dataclass(slots=True)
class Call:
    """One API request, reduced to what endpoints need.

    Attributes:
        endpoint: the method or path (``user/get_followers``, ``/followers``, ``videos``).
        params: the JSON body (RocketAPI) or the query parameters without the key.
        key: the credential the request presented (None if none).
        base_url: the request's base URL (``http://127.0.0.1:41234``), where the media URLs
            in its answer point.
    """

    endpoint: str
    params: Any
    key: str | None
    base_url: str


_BASE_URL: ContextVar[str] = ContextVar("socialsim_base_url")


def base_url() -> str:
    """The base URL of the API request being answered (media URLs point there).

    Endpoints run inside :func:`answer`, which sets it for the request; the payload builders
    read it here rather than through every function between the endpoint and the media.

    Raises:
        LookupError: called outside :func:`answer`.
    """
    return _BASE_URL.get()


def request_base_url(request: Request) -> str:
    """A request's base URL without its final ``/``."""
    return str(request.base_url).rstrip("/")


@dataclass(slots=True)
class Reply:
    """An endpoint's answer before it is serialised.

    Attributes:
        status: HTTP status.
        body: JSON-ready body.
        headers: extra headers.
        fault: a fault the endpoint injected (a truncated page, an expired cursor), counted
            and never remembered as an answered request.
        bad_items: malformed items inside an otherwise valid page, counted as ``bad_item``
            faults (the page still counts as an answered request).
    """

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    fault: FaultKind | None = None
    bad_items: int = 0


Handler = Callable[[Sim, Call], Reply]


@dataclass(frozen=True, slots=True)
class ApiSpec:
    """How one API speaks: its endpoints and its own error bodies.

    Attributes:
        name: the API.
        handlers: endpoint name → handler.
        auth_error: the answer to a missing or wrong key.
        rate_limited: the answer to a request over the rate limit, given Retry-After.
        unknown: the answer to an unknown endpoint.
        admit: a last check before the endpoint (YouTube's quota, the Research API's); None
            lets it through.
    """

    name: ApiName
    handlers: Mapping[str, Handler]
    auth_error: Callable[[], Reply]
    rate_limited: Callable[[int], Reply]
    unknown: Callable[[str], Reply]
    admit: Callable[[Sim, Call], Reply | None] | None = None


_MALFORMED: dict[ApiName, bytes] = {
    "rocket": b'{"status": "done", "response": {"status_code": 200, "content_type": "appl',
    "scraper": b'{"users": [{"pk": "1784',
    "youtube": b'{"kind": "youtube#playlistItemListResponse", "etag": "Yx',
    "tikapi23": b'{"cursor": "1758331327601", "extra": {"fatal_item_ids": [], "logid": "2025',
    "tikwm": b'{"code": 0, "msg": "success", "processed_time": 0.1187, "data": {"videos": [{"',
    "research": b'{"data": {"videos": [{"id": 7320768196569599275, "create_time": 17044',
}
_SERVER_ERRORS = {
    500: b"Internal Server Error",
    502: b"<html><head><title>502 Bad Gateway</title></head></html>",
    503: b"Service Unavailable",
}


class DroppedResponse(Response):
    """Promises a body longer than it sends, then ends: the client sees the connection close
    mid-response (httpx raises ``RemoteProtocolError``)."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers and part of the body, then return without finishing."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"users": [{"pk": "', "more_body": True}
        )


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson."""
    return Response(orjson.dumps(body), status, headers, "application/json")


async def answer(sim: Sim, api: ApiSpec, call: Call) -> Response:
    """Answer one API request: faults, key, rate limit, admission, endpoint, counting.

    Args:
        sim: the simulator.
        api: the API the request was sent to.
        call: the request.

    Returns:
        The HTTP response.
    """
    label = f"{api.name} {call.endpoint}"
    stats = sim.stats
    delay = sim.faults.latency_s()
    if delay > 0:
        await asyncio.sleep(delay)
    fault = sim.faults.transport_fault()
    if fault == "5xx":
        status = sim.faults.server_error()
        stats.record(label, str(status))
        stats.fault("5xx")
        return Response(_SERVER_ERRORS[status], status, media_type="text/plain")
    if fault == "timeout":
        stats.record(label, "504")
        stats.fault("timeout")
        await asyncio.sleep(sim.config.faults.timeout_fault_s)
        return Response(b"Gateway Timeout", 504, media_type="text/plain")
    if fault == "drop":
        stats.record(label, "drop")
        stats.fault("drop")
        return DroppedResponse()
    if fault == "malformed":
        stats.record(label, "200")
        stats.fault("malformed")
        return Response(_MALFORMED[api.name], 200, media_type="application/json")

    token = _BASE_URL.set(call.base_url)
    try:
        reply = _respond(sim, api, call)
    finally:
        _BASE_URL.reset(token)
    stats.record(label, str(reply.status))
    if reply.bad_items:
        stats.fault("bad_item", reply.bad_items)
    if reply.fault is not None:
        stats.fault(reply.fault)
    elif 200 <= reply.status < 300:
        params = orjson.dumps(call.params, option=orjson.OPT_SORT_KEYS)
        stats.answered(label.encode() + b"\n" + params)
    # The API's clock is the simulated one: a client reads "now" from the Date header, as it
    # would from a real provider's.
    headers = {**reply.headers, "Date": formatdate(sim.world.now, usegmt=True)}
    return json_response(reply.status, reply.body, headers)


def _respond(sim: Sim, api: ApiSpec, call: Call) -> Reply:
    if call.key != sim.config.api_key:
        return api.auth_error()
    bucket = sim.buckets.get(api.name)
    if bucket is not None:
        wait = bucket.take()
        if wait is not None:
            reply = api.rate_limited(retry_after(wait))
            reply.headers["Retry-After"] = str(retry_after(wait))
            reply.fault = "rate_limited"
            return reply
    handler = api.handlers.get(call.endpoint)
    if handler is None:
        return api.unknown(call.endpoint)
    if api.admit is not None:
        refused = api.admit(sim, call)
        if refused is not None:
            return refused
    return handler(sim, call)
