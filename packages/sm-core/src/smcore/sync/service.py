"""Sync jobs: create a JobCall, start it, run its streams, close it; batches of them.

What the orchestrator (Temporal activities), the CLI and the API call. The paging itself is the
engine's (``smcore.sync.engine``); what each platform syncs is its module's
(``smcore.sync.instagram``, ``smcore.sync.youtube``), found through ``smcore.sync.streams``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.fleet import dispatch as fleet
from smcore.store import ledger, rows
from smcore.store.models import Comment, JobKind, Post, SocialProfile, Status, Subscription
from smcore.sync import streams
from smcore.sync.engine import Engine, Progress
from smcore.sync.errors import InvalidJobError, JobNotFoundError, NotStoredError
from smcore.sync.models import (
    BatchResult,
    FinishInput,
    JobResult,
    Platform,
    Scope,
    Started,
    StreamOutcome,
)

log = structlog.get_logger(__name__)


async def create_job(
    engine: AsyncEngine,
    *,
    platform: Platform | str,
    scope: Scope | str,
    username: str | None = None,
    ext_id: str | None = None,
    until_id: str | None = None,
    full: bool = False,
    refresh_days: float | None = None,
    parent_id: int | None = None,
) -> int:
    """A pending JobCall for one profile sync.

    Args:
        platform, scope: what to sync (checked against the platform's streams).
        username, ext_id: the profile (exactly one).
        until_id: leave out posts from this stored one on.
        full: refresh every post and walk the whole history, not only the refresh window.
        refresh_days: the refresh window (default 30 days).
        parent_id: the batch JobCall this sync belongs to.

    Raises:
        InvalidJobError: an unknown platform or scope, no target or two, a bad window.
        NotStoredError: ``until_id`` names a post not stored yet.
    """
    async with engine.begin() as conn:
        return await _new_job(
            conn,
            platform=platform,
            scope=scope,
            username=username,
            ext_id=ext_id,
            until_id=until_id,
            full=full,
            refresh_days=refresh_days,
            parent_id=parent_id,
        )


async def create_batch(
    engine: AsyncEngine, targets: list[dict[str, Any]], *, platform: Platform | str = ""
) -> int:
    """A batch JobCall and one pending child JobCall per target (``create_job``'s keywords),
    in one transaction: a bad target creates nothing."""
    async with engine.begin() as conn:
        batch_id = await ledger.create_job(
            conn, platform=str(platform), kind=JobKind.BATCH, params={"size": len(targets)}
        )
        for target in targets:
            await _new_job(conn, parent_id=batch_id, **target)
    return batch_id


async def _new_job(
    conn: AsyncConnection,
    *,
    platform: Platform | str,
    scope: Scope | str,
    username: str | None = None,
    ext_id: str | None = None,
    until_id: str | None = None,
    full: bool = False,
    refresh_days: float | None = None,
    parent_id: int | None = None,
) -> int:
    streams.plan(platform, scope)
    if (username is None) == (ext_id is None):
        raise InvalidJobError("a sync needs a username or an ext_id, not both")
    if refresh_days is not None and refresh_days <= 0:
        raise InvalidJobError(f"refresh_days must be positive, got {refresh_days}")
    profile_id = await _profile_id(conn, platform, username=username, ext_id=ext_id)
    until = await _post_time(conn, platform, until_id) if until_id else None
    params = {
        "username": username,
        "ext_id": ext_id,
        "scope": str(scope),
        "until_id": until_id,
        "until_taken_at": until.isoformat() if until else None,
        "full": full,
        "refresh_days": refresh_days,
    }
    return await ledger.create_job(
        conn,
        platform=str(platform),
        kind=JobKind.SYNC,
        params=params,
        subject_id=profile_id,
        parent_id=parent_id,
    )


async def _profile_id(
    conn: AsyncConnection, platform: str, *, username: str | None, ext_id: str | None
) -> int | None:
    where = SocialProfile.ext_id == ext_id if ext_id else SocialProfile.username == username
    value: int | None = await conn.scalar(
        select(SocialProfile.id).where(SocialProfile.platform == platform, where)
    )
    return value


async def _post_time(conn: AsyncConnection, platform: str, ext_id: str) -> datetime:
    value: datetime | None = await conn.scalar(
        select(Post.taken_at).where(Post.platform == platform, Post.ext_id == ext_id)
    )
    if value is None:
        raise NotStoredError(f"post {ext_id!r} is not stored yet: sync without until_id first")
    return value


class SyncService(Engine):
    """The job lifecycle over the engine (one per worker: one pool, one provider client)."""

    async def start(self, job_id: int, workflow_id: str | None) -> Started:
        """Mark the JobCall running; return the streams its workflow runs.

        Raises:
            JobNotFoundError: no such JobCall.
            InvalidJobError: its row names a platform or scope SM Core does not know.
        """
        async with self.db.connect() as conn:
            row = await ledger.get_job(conn, job_id)
        if row is None:
            raise JobNotFoundError(f"no JobCall {job_id}", job_call_id=job_id)
        plan: tuple[str, ...] = ()
        if row.kind != JobKind.BATCH:
            plan = streams.plan(row.platform, row.params.get("scope", Scope.ALL))
        async with self.db.begin() as conn:
            if not await ledger.start_job(conn, job_id, workflow_id=workflow_id):
                raise JobNotFoundError(f"no JobCall {job_id}", job_call_id=job_id)
        return Started(job_id, list(plan))

    async def run(
        self, job_id: int, stream: str, progress: Progress = lambda _: None
    ) -> StreamOutcome:
        """Run (or resume) one stream of a job to its end, a pause, or a failure."""
        job = await self.job(job_id)
        spec = streams.stream(job.platform, stream)
        structlog.contextvars.bind_contextvars(job_call_id=job.id, stream=stream)
        try:
            return await self.locked(
                job, stream, lambda: spec.run(streams.Run(self, job, progress))
            )
        finally:
            structlog.contextvars.unbind_contextvars("job_call_id", "stream")

    async def finish(self, request: FinishInput) -> JobResult:
        """Close the JobCall: its status from its streams, the profile's one observation."""
        job = await self.job(request.job_call_id)
        status = _status(request.outcomes)
        summary: dict[str, Any] = {
            "streams": {
                o.stream: {
                    "status": o.status,
                    "pages": o.pages,
                    "items": o.items,
                    "message": o.message,
                }
                for o in request.outcomes
            }
        }
        errors = [
            f"{o.stream}: {o.message}"
            for o in request.outcomes
            if o.message and o.status not in ("succeeded", "skipped")
        ]
        async with self.db.begin() as conn:
            if job.subject_id is not None:
                summary["engagement_rate"] = await rows.observe_profile(
                    conn, job.subject_id, job_id=job.id
                )
                summary.update(await _counts(conn, job.subject_id))
            quarantined = await rows.quarantined_in_job(conn, job.id, stream=None)
            if quarantined:
                summary["quarantined"] = quarantined
            error = "; ".join(errors) or None
            await ledger.finish_job(conn, job.id, status=status, summary=summary, error=error)
            await fleet.job_closed(conn, job.id, status, error)
        log.info("job_finished", job_call_id=job.id, status=status.value)
        feeds = streams.feeds_transform(job.platform, (o.stream for o in request.outcomes))
        return JobResult(job.id, status.value, summary, feeds_transform=feeds)

    async def fail(self, job_id: int, error: str) -> None:
        """A child workflow failed before closing its JobCall: close it as failed."""
        async with self.db.begin() as conn:
            await ledger.fail_job(conn, job_id, error)
            await fleet.job_closed(conn, job_id, Status.FAILED, error)

    # ------------------------------------------------------------------ batches
    async def batch_children(self, batch_id: int, *, after_id: int, limit: int) -> list[int]:
        async with self.db.connect() as conn:
            return [
                c[0] for c in await ledger.children(conn, batch_id, after_id=after_id, limit=limit)
            ]

    async def child_input(self, job_id: int) -> tuple[str, str]:
        job = await self.job(job_id)
        return job.platform.value, str(job.params.get("scope", Scope.ALL))

    async def finish_batch(self, batch_id: int) -> BatchResult:
        """Close a batch: its children counted by status (each child's outcome is its own
        JobCall's)."""
        async with self.db.begin() as conn:
            counts = await ledger.children_by_status(conn, batch_id)
            bad = sum(counts.get(s, 0) for s in (Status.FAILED, Status.PARTIAL))
            open_ = sum(counts.get(s, 0) for s in (Status.PENDING, Status.RUNNING))
            status = Status.SUCCEEDED if not bad and not open_ else Status.PARTIAL
            await ledger.finish_job(
                conn,
                batch_id,
                status=status,
                summary={"children": counts},
                error=f"{bad} children failed or partial" if bad else None,
            )
        return BatchResult(batch_id, status.value, counts)


def _status(outcomes: list[StreamOutcome]) -> Status:
    if not outcomes:
        return Status.FAILED
    head, others = outcomes[0], outcomes[1:]
    if head.status == "failed":
        return Status.FAILED
    if head.status == "skipped" or (others and all(o.status == "skipped" for o in others)):
        return Status.SKIPPED
    if any(o.status in ("partial", "failed", "waiting") for o in outcomes):
        return Status.PARTIAL
    return Status.SUCCEEDED


async def _counts(conn: AsyncConnection, profile_id: int) -> dict[str, int]:
    """What the store holds of the profile after the sync, in one statement."""

    def active(direction: str) -> Any:
        return (
            select(func.count())
            .select_from(Subscription)
            .where(
                Subscription.social_profile_id == profile_id,
                Subscription.direction == direction,
                Subscription.active.is_(True),
            )
        )

    counts = {
        "followers_active": active("follower"),
        "followings_active": active("following"),
        "posts": select(func.count()).select_from(Post).where(Post.social_profile_id == profile_id),
        "comments": select(func.count())
        .select_from(Comment)
        .join(Post, Comment.post_id == Post.id)
        .where(Post.social_profile_id == profile_id),
    }
    row = (
        await conn.execute(select(*(q.scalar_subquery().label(k) for k, q in counts.items())))
    ).one()
    return {k: int(v or 0) for k, v in row._mapping.items()}
