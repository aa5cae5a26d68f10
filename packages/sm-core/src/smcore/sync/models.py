"""The data the sync services and the orchestrator exchange (Temporal contracts are data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Platform = Literal["instagram", "youtube"]
Scope = Literal["profile", "posts", "comments", "subscriptions", "all"]
SCOPES: tuple[Scope, ...] = ("profile", "posts", "comments", "subscriptions", "all")
OutcomeStatus = Literal["succeeded", "skipped", "partial", "failed", "waiting"]

# The streams of a sync, in the seed's order (001_…): the profile; its subscriptions; all pages
# of its posts; then per post its comments.
PLANS: dict[Platform, dict[Scope, tuple[str, ...]]] = {
    "instagram": {
        "profile": ("profile",),
        "subscriptions": ("profile", "followers", "followings"),
        "posts": ("profile", "posts"),
        "comments": ("profile", "comments"),
        "all": ("profile", "followers", "followings", "posts", "comments"),
    },
    "youtube": {
        "profile": ("channel",),
        "posts": ("channel", "uploads"),
        "comments": ("channel", "comments"),
        "all": ("channel", "uploads", "comments"),
    },
}


def plan(platform: Platform, scope: Scope) -> tuple[str, ...]:
    """The streams a sync of ``scope`` runs, or ValueError for a scope the platform lacks."""
    streams = PLANS[platform].get(scope)
    if streams is None:
        known = ", ".join(PLANS[platform])
        raise ValueError(f"{platform} has no scope {scope!r} (public data allows: {known})")
    return streams


@dataclass(frozen=True)
class SyncInput:
    """Input of the profile sync workflow: the JobCall it runs (its params say what)."""

    job_call_id: int
    platform: Platform
    scope: Scope
    # The database the JobCall lives in: job ids restart in every database, workflow ids must
    # not collide when several databases share a Temporal namespace (tests, staging copies).
    db: str = ""


@dataclass(frozen=True)
class StreamInput:
    job_call_id: int
    stream: str


@dataclass(frozen=True)
class StreamOutcome:
    """How a stream ended (``waiting``: a provider asked us to come back after a pause)."""

    stream: str
    status: OutcomeStatus
    pages: int = 0
    items: int = 0
    retry_after_s: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class StartInput:
    job_call_id: int
    workflow_id: str


@dataclass(frozen=True)
class FinishInput:
    job_call_id: int
    outcomes: list[StreamOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class JobResult:
    job_call_id: int
    status: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchInput:
    """Profile syncs to run as child workflows, at most ``concurrency`` at once."""

    jobs: list[SyncInput]
    concurrency: int = 8
    done: list[JobResult] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduleInput:
    """What a schedule syncs: an Instagram username or a YouTube channel id, and the scope."""

    platform: Platform
    target: str
    scope: Scope
