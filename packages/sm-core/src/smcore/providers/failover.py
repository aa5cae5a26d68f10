"""Failover: try providers in priority order; a cursor goes only to the provider that issued it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import structlog

from smcore.providers.errors import ProviderConfigError, ProviderError
from smcore.providers.models import Failure, Page


class Named(Protocol):
    @property
    def name(self) -> str: ...


A = TypeVar("A", bound=Named)

log = structlog.get_logger(__name__)


def failure_of(error: ProviderError) -> Failure:
    return Failure(
        kind=error.kind,
        message=error.message,
        provider=error.provider or None,
        status=error.status,
        retry_after_s=error.retry_after_s,
    )


async def call_with_failover(
    apis: Sequence[A],
    fetch: Callable[[A], Awaitable[Page[Any]]],
    *,
    cursor: str | None,
    last_provider_name: str | None,
    method: str,
) -> Page[Any]:
    """Try providers in order until one answers or one gives a final answer.

    A cursor is only ever sent to the provider that issued it: with a cursor, that provider
    is the only candidate. A page that hands back the cursor it was sent ends its listing.
    """
    if cursor is not None:
        if last_provider_name is None:
            raise ValueError(
                "end_cursor needs last_provider_name: a cursor belongs to its provider"
            )
        candidates = [a for a in apis if a.name == last_provider_name]
        if not candidates:
            raise ValueError(
                f"the cursor came from {last_provider_name!r}, which is not configured for {method}"
            )
    else:
        candidates = list(apis)
    if not candidates:
        raise ProviderConfigError(
            f"no provider is configured for {method}: set its host and key "
            "(ROCKET_API_HOST / RAPID_SCRAPER_API_HOST / YOUTUBE_API_HOST / TIKAPI23_API_HOST / "
            "TIKWM_API_HOST and their keys), "
            "or point them at socialsim",
            method=method,
        )
    failures: list[Failure] = []
    payload: Any = None
    for api in candidates:
        try:
            page: Page[Any] = await fetch(api)
        except ProviderError as exc:
            exc.provider = exc.provider or api.name
            exc.method = exc.method or method
            failures.append(failure_of(exc))
            payload = exc.payload
            if exc.kind.final:
                break
            continue
        if failures:
            page.failures = failures
        if page.has_more and cursor is not None and page.end_cursor == cursor:
            # Handed back the cursor it was sent (TikTok's scrapers do at a listing's end):
            # asking again would return the same page forever.
            log.warning("cursor_repeated", provider=api.name, method=method, cursor=cursor)
            page.has_more, page.end_cursor = False, None
        return page
    last = failures[-1]
    return Page(
        success=False, error=last, failures=failures, api_provider=last.provider, response=payload
    )
