"""Errors of Pocket Agronomist. Every error a client sees carries an ``error_code``.

The codes are the contract's ``error_code`` enum (section 4); each error maps to one HTTP
status at the API edge::

    AgronomError                      (error_code, message; http_status)
    ├── BadRequest                    BAD_REQUEST     400  the input cannot be used
    │   └── ConflictError             BAD_REQUEST     409  it contradicts what is stored
    ├── Unauthorized                  UNAUTHORIZED    401  no or a bad signature / Token
    ├── LimitExceeded                 LIMIT_EXCEEDED  429  the monthly photo quota is used up
    ├── TooManyRequests               LIMIT_EXCEEDED  429  too fast, or too many refused photos
    ├── NoLeaf                        NO_LEAF         422  no plant in the photo
    ├── ModelTimeout                  GPT_TIMEOUT     504  the diagnosis model gave no answer
    ├── ModelRefusedPhoto             BAD_REQUEST     502  the diagnosis model refused the call
    ├── NotFound                      BAD_REQUEST     404  the thing asked for does not exist
    └── UpstreamError                 BAD_REQUEST     502  T-Bank refused or did not answer

Transient vs terminal: only :class:`ModelTimeout` follows retries (the model was tried
``attempts`` times, or its circuit breaker is open); every other error is terminal for the
request that raised it. An error with ``retry_after_s`` set is answered with a ``Retry-After``
header: the client may try again after that many seconds.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The contract's ``error_code`` enum (also a PostgreSQL enum type)."""

    NO_LEAF = "NO_LEAF"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    GPT_TIMEOUT = "GPT_TIMEOUT"
    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"


class AgronomError(Exception):
    """Root of the package's errors."""

    error_code: ErrorCode = ErrorCode.BAD_REQUEST
    http_status: int = 400
    retry_after_s: int | None = None
    # Which of an error code's causes, where it has several (the answer's ``reason``): for
    # LIMIT_EXCEEDED ``quota`` (the monthly one), ``rate`` or ``daily`` (the abuse limits).
    reason: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AgronomError):
    error_code = ErrorCode.BAD_REQUEST
    http_status = 400


class ConflictError(BadRequest):
    http_status = 409


class NotFound(AgronomError):
    error_code = ErrorCode.BAD_REQUEST
    http_status = 404


class Unauthorized(AgronomError):
    error_code = ErrorCode.UNAUTHORIZED
    http_status = 401


class LimitExceeded(AgronomError):
    error_code = ErrorCode.LIMIT_EXCEEDED
    http_status = 429
    reason = "quota"

    def __init__(self, message: str, *, used: int, allowed: int, month: str) -> None:
        super().__init__(message)
        self.used = used
        self.allowed = allowed
        self.month = month


class TooManyRequests(AgronomError):
    """An abuse limit, not the monthly quota: photos sent too fast, or too many refused photos
    today. ``reason`` says which (``rate`` or ``daily``)."""

    error_code = ErrorCode.LIMIT_EXCEEDED
    http_status = 429

    def __init__(self, message: str, *, reason: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.reason: str = reason
        self.retry_after_s = max(1, retry_after_s)


class NoLeaf(AgronomError):
    error_code = ErrorCode.NO_LEAF
    http_status = 422

    def __init__(self, message: str, *, coverage: float) -> None:
        super().__init__(message)
        self.coverage = coverage


class ModelTimeout(AgronomError):
    error_code = ErrorCode.GPT_TIMEOUT
    http_status = 504

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        photo_id: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.photo_id = photo_id
        self.retry_after_s = retry_after_s


class ModelRefusedPhoto(AgronomError):
    """The model's endpoint refused the call (a 4xx: content policy, a bad key, a bad input).

    The contract has no code of its own for it: ``BAD_REQUEST``, with 502 because it is the
    upstream that refused, not the client's request that was malformed."""

    error_code = ErrorCode.BAD_REQUEST
    http_status = 502

    def __init__(self, message: str, *, status: int | None, photo_id: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.photo_id = photo_id


class UpstreamError(AgronomError):
    error_code = ErrorCode.BAD_REQUEST
    http_status = 502
