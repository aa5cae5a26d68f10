"""Errors of Pocket Agronomist. Every error a client sees carries an ``error_code``.

The codes are the contract's ``error_code`` enum (section 4); each error maps to one HTTP
status at the API edge::

    AgronomError                      (error_code, message; http_status)
    ├── BadRequest                    BAD_REQUEST     400  the input cannot be used
    │   └── ConflictError             BAD_REQUEST     409  it contradicts what is stored
    ├── Unauthorized                  UNAUTHORIZED    401  no or a bad signature / Token
    ├── LimitExceeded                 LIMIT_EXCEEDED  429  the monthly photo quota is used up
    ├── NoLeaf                        NO_LEAF         422  no plant in the photo
    ├── ModelTimeout                  GPT_TIMEOUT     504  the diagnosis model gave no answer
    ├── NotFound                      BAD_REQUEST     404  the thing asked for does not exist
    └── UpstreamError                 BAD_REQUEST     502  T-Bank refused or did not answer

Transient vs terminal: only :class:`ModelTimeout` follows retries (the model was tried
``attempts`` times); every other error is terminal for the request that raised it.
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

    def __init__(self, message: str, *, used: int, allowed: int, month: str) -> None:
        super().__init__(message)
        self.used = used
        self.allowed = allowed
        self.month = month


class NoLeaf(AgronomError):
    error_code = ErrorCode.NO_LEAF
    http_status = 422

    def __init__(self, message: str, *, coverage: float) -> None:
        super().__init__(message)
        self.coverage = coverage


class ModelTimeout(AgronomError):
    error_code = ErrorCode.GPT_TIMEOUT
    http_status = 504

    def __init__(self, message: str, *, attempts: int, photo_id: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.photo_id = photo_id


class UpstreamError(AgronomError):
    error_code = ErrorCode.BAD_REQUEST
    http_status = 502
