"""What every router shares: the app's runtime, sessions, the bot-signed user, and helpers
for bodies that FastAPI does not parse itself (signed or multipart ones).

:func:`agronom.api.app.create_app` puts the runtime, the settings and both clocks on
``app.state``; the dependencies here read them from the request, so a router is a plain module
with no closure over the app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import Depends, Header, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from agronom import auth
from agronom.api import schemas
from agronom.clock import Clock
from agronom.diagnosis.service import DiagnosisService
from agronom.errors import BadRequest, Unauthorized
from agronom.payments import tbank
from agronom.settings import Settings
from agronom.store import nonces
from agronom.store import objects as storage

_M = TypeVar("_M", bound=BaseModel)


@dataclass
class Runtime:
    """What lives as long as the app: the database, the object store, clients, clocks."""

    settings: Settings
    engine: AsyncEngine
    store: storage.ObjectStore
    http: httpx.AsyncClient
    diagnosis: DiagnosisService
    tbank: tbank.TBankClient
    clock: Clock  # business time: quotas, PRO, TTLs
    wallclock: Callable[[], float]  # real time: the freshness of signed headers
    sessions: async_sessionmaker[AsyncSession]
    temporal_address: str | None = None  # checked by /health; the API starts no workflow
    temporal_namespace: str = "default"
    _temporal: Client | None = None

    async def temporal(self) -> Client:
        """A Temporal client, connected on first use."""
        if self._temporal is None:
            if self.temporal_address is None:
                raise RuntimeError("no Temporal address configured")
            self._temporal = await Client.connect(
                self.temporal_address, namespace=self.temporal_namespace
            )
        return self._temporal


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


Rt = Annotated[Runtime, Depends(runtime)]


HEADER_DOC = (
    f"{auth.FORMAT} signed by the bot over this request: HMAC-SHA256 with BOT_API_SECRET of "
    f'"{auth.VERSION}\\n<METHOD>\\n<path?query>\\n<hex SHA-256 of the body>\\n<tg_id>'
    '\\n<unix time>\\n<nonce>"; fresh (AUTH_MAX_AGE_S) and used once (see agronom.auth)'
)


def _target(request: Request) -> str:
    """The path and query the request came with, as sent (percent-encoded)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = raw.decode("latin-1")
    return f"{target}?{query.decode('latin-1')}" if query else target


async def tg_user(
    request: Request,
    x_telegram_user: Annotated[
        str | None, Header(alias=auth.HEADER, description=HEADER_DOC)
    ] = None,
) -> int:
    """The Telegram user the bot vouches for (:mod:`agronom.auth`): the header signs this
    method, path and body, is fresh, and its nonce is used here for the first time."""
    rt = runtime(request)
    settings = rt.settings
    now = rt.wallclock()
    signed = auth.verify(
        x_telegram_user,
        secrets=settings.bot_secrets(),
        now=now,
        max_age_s=settings.auth_max_age_s,
        method=request.method,
        target=_target(request),
        body=await request.body(),  # Starlette keeps it: the route reads the same bytes
    )
    # Kept until the header would have expired anyway; older rows are swept by later claims.
    expires = max(signed.stamp, now) + settings.auth_max_age_s
    async with rt.sessions.begin() as session:
        fresh = await nonces.claim(
            session,
            scope=auth.NONCE_SCOPE,
            nonce=signed.nonce,
            expires_at=_utc(expires),
            now=_utc(now),
        )
    if not fresh:
        raise Unauthorized(f"the {auth.HEADER} nonce was used already: a replayed request")
    return signed.tg_id


def _utc(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC).replace(tzinfo=None)


TgUser = Annotated[int, Depends(tg_user)]

_TEXT = {
    400: "BAD_REQUEST: the input cannot be used",
    401: "UNAUTHORIZED: missing or bad signature",
    404: "BAD_REQUEST: no such thing",
    409: "BAD_REQUEST: conflicts with what is stored",
    422: "NO_LEAF: no plant in the photo",
    429: "LIMIT_EXCEEDED: the monthly photo quota is used up",
    502: "BAD_REQUEST: T-Bank refused or did not answer",
    504: "GPT_TIMEOUT: the diagnosis model did not answer",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route's error statuses."""
    return {c: {"model": schemas.ErrorResponse, "description": _TEXT[c]} for c in codes}


def describe(problems: Any) -> str:
    """A short, readable summary of pydantic validation errors."""
    parts = []
    for error in list(problems)[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def parse(model: type[_M], raw: bytes) -> _M:
    """``raw`` JSON as ``model``, or :class:`BadRequest` saying what is wrong."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(describe(exc.errors())) from None


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or :class:`BadRequest`."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
