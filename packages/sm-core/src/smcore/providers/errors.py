"""Provider failures: what went wrong with a third-party API call, as data.

Tree::

    ProviderError                one failed call (provider, method, kind, status, retry_after_s)
    └── ProviderConfigError      a provider or method is not configured (raised; a sync skips
                                 the stream, never retries it)

A failed call is also described by :class:`ErrorKind`; the facade returns it inside a
``Page`` (``page.error``) rather than raising, as the seed's Insteon does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """Why a call failed; decides retry and failover."""

    NOT_FOUND = "not_found"  # final: the account or item does not exist
    PRIVATE = "private"  # final: exists, but its lists are not visible
    RATE_LIMITED = "rate_limited"  # retry later (Retry-After), or another provider
    QUOTA_EXHAUSTED = "quota_exhausted"  # this provider is done until its quota resets
    AUTH = "auth"  # our key is wrong or not subscribed: another provider, and fix the key
    TRANSIENT = "transient"  # 5xx, timeout, dropped connection, corrupted body: retry
    BAD_PAYLOAD = "bad_payload"  # well-formed JSON that is not what the API promises
    CURSOR_EXPIRED = "cursor_expired"  # the cursor is no longer valid: restart the listing

    @property
    def final(self) -> bool:
        """Every provider would answer the same: do not fail over."""
        return self in (ErrorKind.NOT_FOUND, ErrorKind.PRIVATE)

    @property
    def retryable(self) -> bool:
        """Worth retrying on the same provider after a pause."""
        return self in (ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED)


class ProviderError(Exception):
    """One failed call to one provider.

    Attributes:
        provider: ``rocket``, ``scraper``, ``youtube``.
        method: the facade method (``followers``, ``uploads``, …).
        kind: what went wrong.
        status: the HTTP status (or the status inside a RocketAPI envelope), when there was one.
        retry_after_s: how long the provider asked us to wait, when it said.
        payload: the body as received when it could not be used (kept for the raw layer).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str = "",
        method: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
        payload: Any = None,
    ) -> None:
        self.kind = kind
        self.payload = payload
        self.message = message
        self.provider = provider
        self.method = method
        self.status = status
        self.retry_after_s = retry_after_s
        where = f"{provider}.{method}: " if provider else ""
        super().__init__(f"{where}{kind.value}: {message}")


class ProviderConfigError(ProviderError):
    """No provider can serve this call as configured (host, key or available methods)."""

    def __init__(self, message: str, *, method: str = "") -> None:
        super().__init__(ErrorKind.AUTH, message, method=method)
