"""One HTTP exchange with a provider, with rate limiting, retries and error classification.

Retries happen here and only here: on 429, 5xx, timeouts, dropped connections and bodies that
are not JSON. The pause is exponential with jitter and never shorter than what ``Retry-After``
asks, nor shorter than the backoff floor when it says ``0`` (no tight loops). A provider that
asks for a longer pause than ``max_wait_s`` is given up on for this call, so the facade can fail
over to another provider or the caller can reschedule.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import structlog

from smcore.metrics import PROVIDER_CALLS, RATE_LIMIT_WAIT
from smcore.providers.errors import ErrorKind, ProviderError

log = structlog.get_logger(__name__)


class RateLimiter(Protocol):
    """Shared, cross-process request budget per provider."""

    async def acquire(self, provider: str) -> None:
        """Wait until ``provider`` may be called once more."""

    async def penalize(self, provider: str, seconds: float) -> None:
        """The provider said 429: hold every caller back for ``seconds``."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one call on one provider."""

    max_attempts: int = 8  # attempts after transient failures (5xx, timeouts, drops)
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0
    max_wait_s: float = 60.0  # longest Retry-After we sit out; longer: give up on this provider
    max_rate_limited_s: float = 180.0  # total time spent waiting out 429s within one call

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with 'equal jitter': half fixed, half random."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0**attempt)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON; a body that is not JSON is a transport fault (truncated, proxy page).

    The stdlib parser keeps big integers exact (some fast parsers turn them into floats).
    """
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProviderError(
            ErrorKind.TRANSIENT,
            f"body is not JSON ({exc.__class__.__name__}): {response.text[:120]!r}",
            status=response.status_code,
        ) from None


# An adapter turns a response into its JSON payload or raises ProviderError with the kind.
Classify = Callable[[httpx.Response], Any]


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's payload and the time its server says it answered (its ``Date`` header).

    The provider's clock, not ours, is what "now" means for the data it serves (a post's age,
    a refresh window): a simulated provider runs on simulated time.
    """

    payload: Any
    served_at: datetime | None


def served_at(response: httpx.Response) -> datetime | None:
    """The response's ``Date`` header as an aware datetime (None when absent or unreadable)."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Transport:
    """Sends requests for one provider through a shared pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        provider: str,
        client: httpx.AsyncClient,
        *,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.client = client
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    async def _attempt(
        self, request: httpx.Request, classify: Classify
    ) -> tuple[Answer | None, ProviderError | None]:
        try:
            response = await self.client.send(request)
            return Answer(classify(response), served_at(response)), None
        except httpx.TimeoutException as exc:
            return None, ProviderError(ErrorKind.TRANSIENT, f"timeout ({exc.__class__.__name__})")
        except httpx.TransportError as exc:
            return None, ProviderError(
                ErrorKind.TRANSIENT, f"connection failed ({exc.__class__.__name__}: {exc})"
            )
        except ProviderError as exc:
            return None, exc

    async def request(self, method: str, request: httpx.Request, classify: Classify) -> Answer:
        """Send ``request`` until it yields a payload or a failure that retrying won't fix."""
        policy = self.policy
        attempt = 0  # transient failures so far
        rate_limited = 0  # 429s so far
        rate_waited = 0.0
        while True:
            if self.limiter is not None:
                await self.limiter.acquire(self.provider)
            answer, error = await self._attempt(request, classify)
            if answer is not None:
                PROVIDER_CALLS.labels(self.provider, "ok").inc()
                return answer
            if error is None:  # _attempt gives one or the other
                raise RuntimeError(f"{self.provider}: neither an answer nor an error")
            error.provider, error.method = self.provider, method
            PROVIDER_CALLS.labels(self.provider, error.kind.value).inc()

            if error.kind is ErrorKind.RATE_LIMITED:
                asked = error.retry_after_s
                if asked is not None and asked > policy.max_wait_s:
                    raise error
                rate_limited += 1
                delay = max(asked or 0.0, policy.backoff(rate_limited, self._rng))
                if rate_waited + delay > policy.max_rate_limited_s:
                    raise error
                rate_waited += delay
                RATE_LIMIT_WAIT.labels(self.provider, "429").observe(delay)
                if self.limiter is not None:
                    await self.limiter.penalize(self.provider, delay)
            elif error.kind is ErrorKind.TRANSIENT:
                attempt += 1
                if attempt >= policy.max_attempts:
                    raise error
                delay = policy.backoff(attempt, self._rng)
            else:
                raise error
            log.info(
                "provider_retry",
                provider=self.provider,
                method=method,
                kind=error.kind.value,
                status=error.status,
                delay_s=round(delay, 3),
                reason=error.message,
            )
            await self._sleep(delay)
