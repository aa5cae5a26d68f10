"""The data the sync services and the orchestrator exchange (Temporal contracts are data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from smcore.transform.models import TransformInput


class Platform(StrEnum):
    """The platforms SM Core syncs: the one list the CLI, the API and the store derive from."""

    INSTAGRAM = "instagram"
    YOUTUBE = "youtube"
    TIKTOK = "tiktok"


class Scope(StrEnum):
    """What a sync covers (000_…); each platform's streams say which scopes include them."""

    PROFILE = "profile"
    POSTS = "posts"
    COMMENTS = "comments"
    LIKES = "likes"
    SUBSCRIPTIONS = "subscriptions"
    ALL = "all"


OutcomeStatus = Literal["succeeded", "skipped", "partial", "failed", "waiting"]

DEFAULT_REFRESH_DAYS = 30


@dataclass(frozen=True)
class SyncInput:
    """Input of the profile sync workflow: the JobCall it runs (its row says what)."""

    job_call_id: int
    # The database the JobCall lives in: job ids restart in every database, workflow ids must
    # not collide when several databases share a Temporal namespace (tests, staging copies).
    db: str = ""


@dataclass(frozen=True)
class SyncGroupInput:
    """Syncs of one fleet batch run by one activity, side by side (``sync_jobs``)."""

    job_call_ids: list[int]
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
class Started:
    """A started JobCall: the streams its workflow runs, in order (the first is the profile)."""

    job_call_id: int
    streams: list[str] = field(default_factory=list)


def ends_job(started: Started, stream: str, outcome: StreamOutcome) -> bool:
    """Whether a stream's outcome ends its job early: no profile, nothing else to sync."""
    return stream == started.streams[0] and outcome.status in ("skipped", "failed")


@dataclass(frozen=True)
class FinishInput:
    job_call_id: int
    outcomes: list[StreamOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class JobResult:
    job_call_id: int
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    # Whether it ran a stream the Transform stage works on (``streams.feeds_transform``).
    feeds_transform: bool = False
    # The Transform stage to start for what the sync stored (None: the stage is off, or the
    # sync stored nothing it works on).
    transform: TransformInput | None = None


@dataclass(frozen=True)
class BatchInput:
    """A batch JobCall whose children (profile JobCalls) run as child workflows.

    Constant size whatever the batch's size: the children are read from the store a slice at a
    time, after ``after_id``, and each run of history handles one slice (continue-as-new).
    """

    batch_job_call_id: int
    db: str = ""
    concurrency: int = 8
    after_id: int = 0
    # Each child as one activity (``sync_job``: its streams in order, retried from the
    # ledger) rather than a workflow of its own: a fraction of the orchestration per child,
    # for fleets of many small syncs. Its streams then pause and retry inside the activity.
    inline: bool = False


@dataclass(frozen=True)
class BatchSlice:
    """The next children of a batch (at most a slice), oldest first."""

    batch_job_call_id: int
    after_id: int
    limit: int


@dataclass(frozen=True)
class ChildFailed:
    """A child workflow that failed before it could close its JobCall."""

    job_call_id: int
    error: str


@dataclass(frozen=True)
class BatchResult:
    """A finished batch: how many children ended in each status."""

    batch_job_call_id: int
    status: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleInput:
    """What a schedule syncs: an Instagram username or a YouTube channel id, and the scope."""

    platform: Platform
    target: str
    scope: Scope
    refresh_days: float | None = None

    def keys(self) -> tuple[str | None, str | None]:
        """(username, ext_id) as ``create_job`` takes them: a YouTube target is a channel id,
        an Instagram or TikTok one a username."""
        if self.platform == Platform.YOUTUBE:
            return None, self.target
        return self.target, None


@dataclass(frozen=True)
class FleetInput:
    """The fleet dispatcher of one database (``smcore.fleet``).

    Attributes:
        concurrency: children each batch runs at once (its room already bounds the batch).
        idle_s: the longest the dispatcher sleeps when nothing is due.
        busy_s: how soon it looks again when a platform had no room for its due accounts.
        upkeep_at: when it last ran the store's daily upkeep (``smcore.store.retention``).
    """

    db: str = ""
    concurrency: int = 64
    idle_s: float = 30.0
    busy_s: float = 2.0
    # When the store's daily upkeep (partitions ahead, raw retention) last ran, epoch seconds.
    upkeep_at: float = 0.0


@dataclass(frozen=True)
class Dispatched:
    """One round of the dispatcher: the batches it created, and when to look again."""

    batches: list[int] = field(default_factory=list)
    accounts: int = 0
    reaped: int = 0
    # Seconds until the next idle account is due (None: no account is waiting).
    next_due_in_s: float | None = None
    # Some platform had due accounts and no room: look again soon.
    full: bool = False
    # Batches an earlier round created whose workflow never started (that round's result was
    # lost with its worker): start them now.
    orphans: list[int] = field(default_factory=list)
