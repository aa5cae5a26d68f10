"""Errors of the analysis service, under the package root :class:`TrendflowError`.

::

    TrendflowError
    └── ServiceError
        ├── JobFailure              a job cannot finish: its error code, message and whether a
        │                           retry may help (what the job JSON's ``error`` shows)
        ├── IdempotencyKeyReused    an Idempotency-Key header came back with another body
        └── InvalidJob              a job the API accepted by schema but cannot run as asked
"""

from __future__ import annotations

from typing import Literal

from trendflow.errors import TrendflowError

ErrorCode = Literal[
    "media_unavailable",  # the media's server refused it (4xx), or the object store lacks the key
    "media_expired",  # the link expired before it was downloaded (403 "expired", 410)
    "media_unreachable",  # connection failure, timeout, 5xx, 429: retryable
    "bad_media",  # not an image or video that can be decoded
    "bad_input",  # a prediction's history that cannot be used (an observation before publication)
    "timeout",  # an attempt ran longer than TRENDFLOW_JOB_TIMEOUT_S: retryable
    "internal",  # anything else (a required component failed, a model is missing): retryable
]
ERROR_CODES: tuple[ErrorCode, ...] = (
    "media_unavailable",
    "media_expired",
    "media_unreachable",
    "bad_media",
    "bad_input",
    "timeout",
    "internal",
)
RETRYABLE: dict[ErrorCode, bool] = {
    "media_unavailable": False,
    "media_expired": False,
    "media_unreachable": True,
    "bad_media": False,
    "bad_input": False,
    "timeout": True,
    "internal": True,
}


class ServiceError(TrendflowError):
    """Root of the analysis service's errors."""


class JobFailure(ServiceError):
    """A job cannot finish; ``retryable`` defaults to what its code implies."""

    def __init__(self, code: ErrorCode, message: str, *, retryable: bool | None = None) -> None:
        self.code: ErrorCode = code
        self.message = message
        self.retryable = RETRYABLE[code] if retryable is None else retryable
        super().__init__(f"{code}: {message}")


class IdempotencyKeyReused(ServiceError):
    """The ``Idempotency-Key`` header names a job posted with a different body."""

    def __init__(self, key: str, job_id: str) -> None:
        self.key = key
        self.job_id = job_id
        super().__init__(
            f"Idempotency-Key {key!r} was already used for job {job_id} with a different body; "
            "use a new key for a new job, or send the same body to get that job back"
        )


class InvalidJob(ServiceError):
    """A schema-valid job that cannot run as asked (the API answers 422 with this message,
    pointing at ``field`` of the body)."""

    def __init__(self, message: str, *, field: str = "config") -> None:
        self.field = field
        super().__init__(message)
