"""What the Transform stage's workflow and activities exchange: ids and counts, never rows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransformInput:
    """The Transform of one sync: the profile its JobCall synced.

    ``max_media``: downloads this Transform makes at most (0: all pending); ``wait_s``: how long
    it waits for analyses before leaving the rest open for the next sync's Transform.
    """

    job_call_id: int
    db: str = ""
    max_media: int = 0
    wait_s: float = 6 * 3600.0
    fetched: int = 0  # carried over continue-as-new
    deadline: float = 0.0  # Unix time; 0: not started yet


@dataclass(frozen=True)
class FetchInput:
    job_call_id: int
    limit: int


@dataclass(frozen=True)
class Downloads:
    """What a round of downloads did, and what is left pending for the profile."""

    stored: int = 0
    expired: int = 0
    failed: int = 0
    retrying: int = 0
    left: int = 0


@dataclass(frozen=True)
class Round:
    """What a round of analyses did, and what is still open for the profile."""

    submitted: int = 0
    done: int = 0
    failed: int = 0
    open: int = 0
    next_in_s: float | None = None  # until the next open row is due; None: nothing open
    unreachable: str | None = None  # the service's error when it could not be reached


@dataclass(frozen=True)
class TransformResult:
    job_call_id: int
    stored: int = 0
    expired: int = 0
    failed: int = 0
    analysed: int = 0
    open: int = 0
