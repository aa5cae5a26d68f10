"""What every route may depend on: the database engine, the Temporal client, the API key.

The app builds one :class:`AppState` at start-up (``app.state.core``); routes take what they
need through the ``Annotated`` dependencies below.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from smcore.settings import Settings

API = "/api/v1"
MAX_ID = 2**63 - 1  # bigint


@dataclass
class AppState:
    """The app's shared things: settings, one engine, a Temporal client made on first use."""

    settings: Settings
    temporal_address: str | None
    engine: AsyncEngine | None = None
    client: Any = None
    keys: set[str] = field(default_factory=set)

    async def temporal(self) -> Any:
        if self.temporal_address is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Temporal is not configured")
        if self.client is None:
            from temporalio.client import Client  # noqa: PLC0415 - only the API needs it

            self.client = await Client.connect(
                self.temporal_address, namespace=self.settings.temporal_namespace
            )
        return self.client


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.core
    return state


def _engine(request: Request) -> AsyncEngine:
    engine = _state(request).engine
    if engine is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the database is not open")
    return engine


async def _temporal(request: Request) -> Any:
    return await _state(request).temporal()


State = Annotated[AppState, Depends(_state)]
Engine = Annotated[AsyncEngine, Depends(_engine)]
Temporal = Annotated[Any, Depends(_temporal)]


def require_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """A valid ``X-API-Key`` (one of ``API_KEYS``)."""
    keys = _state(request).keys
    if x_api_key is None or not any(secrets.compare_digest(x_api_key, k) for k in keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid X-API-Key header is required")


def read_access(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Reads are public unless ``API_PUBLIC_READS`` is false."""
    if not _state(request).settings.api_public_reads:
        require_key(request, x_api_key)


# ISO 8601 with a zone: a time without one would mean a different moment on every server.
ZONED = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"


def moment_query(description: str, alias: str | None = None) -> Any:
    """A query parameter holding a time with a zone (a string: pydantic would read 0 as 1970)."""
    return Query(
        alias=alias,
        description=f"{description} (ISO 8601 with a zone, e.g. 2026-11-01T00:00:00Z)",
        pattern=ZONED,
        json_schema_extra={"format": "date-time"},
    )


def parse_moment(name: str, value: str | None) -> datetime | None:
    """A :func:`moment_query` parameter's time; 422 naming it when it is no real time."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # a 30 February: the usual 422 body, naming the parameter
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": f"not a valid time: {value}", "type": "value_error"}]
        ) from None


CURSOR: Any = Query(
    pattern=r"^-?[0-9]{1,17}\.[0-9]{1,18}$",
    description="next_cursor of the previous page (pages are keyset pages: rows written "
    "meanwhile never shift them)",
)
"""A keyset page's cursor: the last row's sort key and id, as the API gave it."""


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """A :data:`CURSOR`'s ``(sort key, id)`` (its pattern guarantees the form)."""
    if cursor is None:
        return None
    key, row = cursor.split(".")
    return int(key), int(row)


def keyset_page(
    rows: Sequence[dict[str, Any]], limit: int
) -> tuple[Sequence[dict[str, Any]], str | None]:
    """A page's rows and its ``next_cursor`` from ``limit + 1`` rows read (each with its
    ``sort_key`` and ``id``): the extra row only says that another page follows."""
    items = rows[:limit]
    if len(rows) <= limit:
        return items, None
    last = items[-1]
    return items, f"{last['sort_key']}.{last['id']}"
