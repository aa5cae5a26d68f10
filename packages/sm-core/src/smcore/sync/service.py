"""The sync services: each stream pages through a provider, one page = one transaction.

A page's rows, its raw payload, its ServiceCall (status, cursor, result summary) and so the
stream's progress commit together. Every stream reads its resume point from the ledger before
it calls a provider, so a sync killed at any moment continues from the last committed cursor:
no page lost, at most the page in flight fetched twice, no duplicate rows (upserts).

Provider error kinds decide what happens (see :class:`~smcore.providers.errors.ErrorKind`):
not_found / private end the stream as ``skipped``; rate_limited and quota_exhausted return
``waiting`` (the orchestrator sleeps, it is not a failure); transient raises
:class:`TransientStreamError` (the orchestrator retries with backoff); an expired cursor
restarts the listing; a bad payload or a rejected key ends the stream ``partial`` / ``failed``
with the reason, the raw body kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.metrics import PAGES_SYNCED, QUOTA_PAUSES
from smcore.providers import Providers
from smcore.providers.errors import ErrorKind
from smcore.providers.models import Page
from smcore.providers.transport import RateLimiter
from smcore.store import ledger, rows
from smcore.store.models import SocialProfile, Status
from smcore.sync.models import (
    FinishInput,
    JobResult,
    OutcomeStatus,
    Platform,
    Scope,
    StreamOutcome,
    plan,
)

log = structlog.get_logger(__name__)

MAX_RESTARTS = 3
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))")
# Told after every committed page (the orchestrator heartbeats it); set per task.
PROGRESS: ContextVar[Callable[[dict[str, Any]], None]] = ContextVar(
    "progress", default=lambda _: None
)  # listings restarted after an expired cursor or a follower list that ended early


class SyncError(Exception):
    """Root of the sync services' errors.

    Tree::

        SyncError
        ├── TransientStreamError   a page kept failing after the provider layer's retries
        └── JobNotFoundError       no JobCall with that id
    """


class TransientStreamError(SyncError):
    """Retry the stream later: it resumes from the ledger."""


class JobNotFoundError(SyncError):
    pass


def completeness_tolerance(expected: int) -> int:
    """How far a follower pass may be from the profile's count and still be complete.

    Counts move while a pass runs (new follows, unfollows); providers round big counts.
    """
    return max(2, expected // 100)


# A stream's parts: fetch one page from a cursor; store it (returns its summary and whether
# to stop early); finish (in the last page's transaction: completeness, unfollows).
Fetch = Callable[[str | None, str | None], Awaitable[Page[Any]]]
Store = Callable[[AsyncConnection, Page[Any], int], Awaitable[tuple[dict[str, Any], bool]]]
Finish = Callable[[AsyncConnection], Awaitable[tuple[str, str | None]]]


@dataclass
class Job:
    id: int
    platform: Platform
    scope: Scope
    params: dict[str, Any]
    subject_id: int | None

    @property
    def since(self) -> datetime | None:
        value = self.params.get("since_taken_at")
        return datetime.fromisoformat(value) if value else None

    @property
    def until(self) -> datetime | None:
        value = self.params.get("until_taken_at")
        return datetime.fromisoformat(value) if value else None


async def create_job(
    engine: AsyncEngine,
    *,
    platform: Platform,
    scope: Scope,
    username: str | None = None,
    ext_id: str | None = None,
    since_id: str | None = None,
    until_id: str | None = None,
    last_synced_at: datetime | None = None,
    full: bool = False,
) -> int:
    """A pending JobCall for one profile sync; what "new" means is fixed here, once.

    Posts are fetched since the newest stored one (or ``since_id`` / ``last_synced_at``),
    unless ``full``; ``until_id`` skips posts newer than that one.
    """
    plan(platform, scope)  # refuses scopes the platform lacks
    if (username is None) == (ext_id is None):
        raise ValueError("a sync needs a username or an ext_id")
    async with engine.begin() as conn:
        profile_id = await _profile_id(conn, platform, username=username, ext_id=ext_id)
        since: datetime | None = last_synced_at
        until: datetime | None = None
        if since_id:
            since = await _post_time(conn, platform, since_id)
        elif since is None and not full and profile_id is not None and scope != "comments":
            since = await rows.newest_post_time(conn, profile_id)
        if until_id:
            until = await _post_time(conn, platform, until_id)
        params = {
            "username": username,
            "ext_id": ext_id,
            "scope": scope,
            "since_taken_at": since.isoformat() if since else None,
            "until_taken_at": until.isoformat() if until else None,
            "since_id": since_id,
            "until_id": until_id,
            "full": full,
        }
        return await ledger.create_job(
            conn, platform=platform, kind="sync", params=params, subject_id=profile_id
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
    from smcore.store.models import Post  # noqa: PLC0415

    value: datetime | None = await conn.scalar(
        select(Post.taken_at).where(Post.platform == platform, Post.ext_id == ext_id)
    )
    if value is None:
        raise ValueError(f"post {ext_id!r} is not stored yet: sync without since/until first")
    return value


class SyncService:
    """Runs the streams of sync jobs against the providers and the store."""

    def __init__(
        self,
        engine: AsyncEngine,
        providers: Providers,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.limiter = limiter

    # ------------------------------------------------------------------ job lifecycle
    async def job(self, job_id: int) -> Job:
        async with self.engine.connect() as conn:
            row = await ledger.get_job(conn, job_id)
        if row is None:
            raise JobNotFoundError(f"no JobCall {job_id}")
        return Job(row.id, row.platform, row.params.get("scope", "all"), row.params, row.subject_id)  # type: ignore[arg-type]

    async def start(self, job_id: int, workflow_id: str | None) -> None:
        async with self.engine.begin() as conn:
            await ledger.start_job(conn, job_id, workflow_id=workflow_id)

    async def finish(self, request: FinishInput) -> JobResult:
        """Close the JobCall: its status from its streams, its summary from the store."""
        job = await self.job(request.job_call_id)
        outcomes = {o.stream: o for o in request.outcomes}
        first = plan(job.platform, job.scope)[0]
        head = outcomes.get(first)
        others = [o for o in request.outcomes if o.stream != first]
        if head is None or head.status == "failed":
            status = Status.FAILED
        elif head.status == "skipped" or (others and all(o.status == "skipped" for o in others)):
            status = Status.SKIPPED
        elif any(o.status in ("partial", "failed", "waiting") for o in request.outcomes):
            status = Status.PARTIAL
        else:
            status = Status.SUCCEEDED
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
            if o.message and o.status != "succeeded"
        ]
        async with self.engine.begin() as conn:
            if job.subject_id is not None:
                summary["engagement_rate"] = await rows.refresh_engagement(
                    conn, job.subject_id, job_id=job.id
                )
                summary.update(await _counts(conn, job.subject_id))
            await ledger.finish_job(
                conn, job.id, status=status, summary=summary, error="; ".join(errors) or None
            )
        log.info("job_finished", job_call_id=job.id, status=status.value)
        return JobResult(job.id, status.value, summary)

    # ------------------------------------------------------------------ streams
    async def run(self, job_id: int, stream: str) -> StreamOutcome:
        """Run (or resume) one stream of a job to its end, a pause, or a failure."""
        job = await self.job(job_id)
        runner = getattr(self, f"_{job.platform}_{stream}", None)
        if runner is None:
            raise ValueError(f"{job.platform} has no stream {stream!r}")
        structlog.contextvars.bind_contextvars(job_call_id=job.id, stream=stream)
        # One runner per stream, fleet-wide: an orphaned attempt (a terminated workflow's
        # activity that has not heard of it yet) and its replacement must never page together.
        # A session lock dies with its connection, so a killed worker never holds it.
        key = {"key": f"sync:{job.id}:{stream}"}
        try:
            async with self.engine.connect() as lock:
                if not await lock.scalar(_TRY_LOCK, key):
                    raise TransientStreamError(f"{stream}: another worker is running this stream")
                try:
                    outcome: StreamOutcome = await runner(job)
                finally:
                    await lock.execute(_UNLOCK, key)
                    await lock.commit()
            return outcome
        finally:
            structlog.contextvars.unbind_contextvars("job_call_id", "stream")

    async def _pages(
        self,
        job: Job,
        stream: str,
        *,
        kind: str,
        fetch: Fetch,
        store: Store,
        subject_id: int | None = None,
        finish: Finish | None = None,
    ) -> StreamOutcome:
        async with self.engine.connect() as conn:
            at = await ledger.position(conn, job.id, stream, subject_id)
        if at.done:
            return StreamOutcome(stream, "succeeded", pages=at.pages)
        cursor, provider, parent, restarts = at.cursor, at.provider, at.last_call_id, at.restarts
        pages, items = at.pages, 0
        while True:
            started = datetime.now(UTC)
            page = await fetch(cursor, provider)
            call = ledger.CallRecord(
                job.id,
                stream,
                kind,
                Status.SUCCEEDED,
                subject_id=subject_id,
                parent_id=parent,
                started_at=started,
            )
            if not page.success:
                outcome, restart = await self._failed(job, stream, call, page, restarts)
                if not restart:
                    return outcome
                cursor = provider = None
                restarts += 1
                continue
            async with self.engine.begin() as conn:
                summary, stop = await store(conn, page, job.id)
                has_more = page.has_more and not stop
                result, message = ("succeeded", None)
                if not has_more and finish is not None:
                    result, message = await finish(conn)
                restart = result == "restart" and restarts < MAX_RESTARTS
                state = {
                    "end_cursor": page.end_cursor if has_more else None,
                    "provider": page.api_provider,
                    "has_more": has_more or restart,
                    "from_cursor": cursor,
                }
                summary.update(items=len(page.items), has_more=has_more)
                call_id = await ledger.record_call(
                    conn, dataclasses.replace(call, cursor=state, summary=summary)
                )
                await ledger.record_raw(
                    conn,
                    service_call_id=call_id,
                    provider=page.api_provider or "",
                    method=kind,
                    request=page.request,
                    response=page.response,
                )
                if restart:
                    await ledger.record_call(
                        conn,
                        ledger.CallRecord(
                            job.id,
                            stream,
                            f"{kind}_restart",
                            Status.SKIPPED,
                            subject_id=subject_id,
                            parent_id=call_id,
                            cursor={"restart": True, "has_more": True},
                            error=message,
                        ),
                    )
            pages += 1
            items += len(page.items)
            PAGES_SYNCED.labels(job.platform, stream).inc()
            PROGRESS.get()({"stream": stream, "pages": pages, "subject_id": subject_id})
            if restart:
                log.warning("stream_restarted", reason=message, restarts=restarts + 1)
                cursor = provider = None
                restarts += 1
                parent = call_id
                continue
            if not has_more:
                status = "partial" if result == "restart" else result
                return StreamOutcome(stream, status, pages=pages, items=items, message=message)  # type: ignore[arg-type]
            cursor, provider, parent = page.end_cursor, page.api_provider, call_id

    async def _failed(
        self, job: Job, stream: str, call: ledger.CallRecord, page: Page[Any], restarts: int
    ) -> tuple[StreamOutcome, bool]:
        """Record a failed page; return the stream's outcome, or True to restart the listing."""
        error = page.error
        assert error is not None  # noqa: S101 - a failed page always carries its error
        kind = error.kind
        restart = kind is ErrorKind.CURSOR_EXPIRED and restarts < MAX_RESTARTS
        status = Status.SKIPPED if kind.final else Status.FAILED
        cursor: dict[str, Any] = {"has_more": False} if kind.final else {}
        if restart:
            cursor = {"restart": True, "has_more": True}
        async with self.engine.begin() as conn:
            summary = {
                "error_kind": kind.value,
                "provider": error.provider,
                "status": error.status,
                "providers_tried": len(page.failures) or 1,
            }
            call_id = await ledger.record_call(
                conn,
                dataclasses.replace(
                    call,
                    status=status,
                    cursor=cursor,
                    summary=summary,
                    error=f"{kind.value}: {error.message}",
                ),
            )
            if page.response is not None:
                await ledger.record_raw(
                    conn,
                    service_call_id=call_id,
                    provider=error.provider or "",
                    method=call.kind,
                    request=page.request,
                    response=page.response,
                )
        log.info("page_failed", kind=kind.value, provider=error.provider, message=error.message)
        if restart:
            return StreamOutcome(stream, "partial"), True
        if kind.final:
            return StreamOutcome(stream, "skipped", message=f"{kind.value}: {error.message}"), False
        if kind in (ErrorKind.RATE_LIMITED, ErrorKind.QUOTA_EXHAUSTED):
            wait = error.retry_after_s or 30.0
            if kind is ErrorKind.QUOTA_EXHAUSTED and error.provider:
                QUOTA_PAUSES.labels(error.provider).inc()
            if kind is ErrorKind.QUOTA_EXHAUSTED and self.limiter is not None and error.provider:
                await self.limiter.penalize(error.provider, wait)  # every worker pauses it
            return StreamOutcome(stream, "waiting", retry_after_s=wait, message=kind.value), False
        if kind is ErrorKind.TRANSIENT:
            raise TransientStreamError(f"{stream}: {error.message}")
        return StreamOutcome(
            stream,
            "failed" if kind is ErrorKind.AUTH else "partial",
            message=f"{kind.value}: {error.message}",
        ), False

    # ------------------------------------------------------------------ Instagram
    async def _instagram_profile(self, job: Job) -> StreamOutcome:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            if job.params.get("ext_id"):
                return await self.providers.instagram.user_info(user_id=job.params["ext_id"])
            return await self.providers.instagram.user_info(username=job.params["username"])

        async def store(
            conn: AsyncConnection, page: Page[Any], job_id: int
        ) -> tuple[dict[str, Any], bool]:
            profile = page.items[0]
            profile_id = await _store_profile(
                conn,
                job,
                "instagram",
                rows.instagram_profile_row(profile),
                followers=profile.followers_count,
                follows=profile.follows_count,
                posts=profile.posts_count,
            )
            return {"profile_id": profile_id, "is_private": profile.is_private}, False

        return await self._pages(job, "profile", kind="profile", fetch=fetch, store=store)

    async def _profile(self, job: Job) -> Any:
        if job.subject_id is None:
            job = await self.job(job.id)  # the profile stream set it
        if job.subject_id is None:
            raise SyncError(f"job {job.id}: the profile stream has not stored the profile")
        async with self.engine.connect() as conn:
            return await rows.profile_of(conn, job.subject_id)

    async def _instagram_subscriptions(self, job: Job, direction: str) -> StreamOutcome:
        profile = await self._profile(job)
        stream = "followers" if direction == "follower" else "followings"
        if profile.is_private:
            return StreamOutcome(stream, "skipped", message="private: lists are not visible")
        method = (
            self.providers.instagram.followers
            if direction == "follower"
            else self.providers.instagram.followings
        )
        expected = profile.followers_count if direction == "follower" else profile.follows_count

        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await method(
                user_id=profile.ext_id, end_cursor=cursor, last_provider_name=provider
            )

        async def store(
            conn: AsyncConnection, page: Page[Any], job_id: int
        ) -> tuple[dict[str, Any], bool]:
            new = await rows.upsert_accounts(
                conn, "instagram", profile.id, direction, page.items, job_id=job_id
            )
            return {"new": new}, False

        async def finish(conn: AsyncConnection) -> tuple[str, str | None]:
            seen = await rows.seen_in_pass(conn, profile.id, direction, job.id)
            if abs(seen - expected) > completeness_tolerance(expected):
                # The list ended early (PROVIDERS.md): not a complete pass, no unfollows.
                return "restart", f"{stream} list ended at {seen} of {expected}"
            gone = await rows.mark_unfollows(conn, profile.id, direction, job.id)
            log.info("pass_complete", seen=seen, expected=expected, unfollows=gone)
            return "succeeded", None

        return await self._pages(
            job, stream, kind=f"{stream}_page", fetch=fetch, store=store, finish=finish
        )

    async def _instagram_followers(self, job: Job) -> StreamOutcome:
        return await self._instagram_subscriptions(job, "follower")

    async def _instagram_followings(self, job: Job) -> StreamOutcome:
        return await self._instagram_subscriptions(job, "following")

    async def _instagram_posts(self, job: Job) -> StreamOutcome:
        profile = await self._profile(job)
        if profile.is_private:
            return StreamOutcome("posts", "skipped", message="private: posts are not visible")
        since, until = job.since, job.until

        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            return await self.providers.instagram.user_posts(
                user_id=profile.ext_id, end_cursor=cursor, last_provider_name=provider
            )

        async def store(
            conn: AsyncConnection, page: Page[Any], job_id: int
        ) -> tuple[dict[str, Any], bool]:
            wanted = [
                p
                for p in page.items
                if (since is None or p.taken_at > since) and (until is None or p.taken_at < until)
            ]
            reached_since = since is not None and any(p.taken_at <= since for p in page.items)
            await rows.upsert_posts(conn, "instagram", profile.id, wanted, job_id=job_id)
            return {"stored": len(wanted)}, reached_since

        return await self._pages(job, "posts", kind="posts_page", fetch=fetch, store=store)

    async def _instagram_comments(self, job: Job) -> StreamOutcome:
        profile = await self._profile(job)
        if profile.is_private:
            return StreamOutcome("comments", "skipped", message="private: comments are not visible")

        def fetcher(ext_id: str) -> Fetch:
            async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
                return await self.providers.instagram.post_comments(
                    post_id=ext_id, end_cursor=cursor, last_provider_name=provider
                )

            return fetch

        return await self._comments(job, profile.id, "instagram", fetcher)

    async def _comments(
        self, job: Job, profile_id: int, platform: str, fetcher: Callable[[str], Fetch]
    ) -> StreamOutcome:
        """Per post, its comments: separate units, one post after another."""
        async with self.engine.connect() as conn:
            targets = await rows.posts_for_comments(conn, profile_id, since=job.since)
        pages = items = 0
        partial: list[str] = []
        for post_id, ext_id, expected in targets:
            if expected == 0:
                continue  # nothing to fetch: no request spent

            async def store(
                conn: AsyncConnection, page: Page[Any], job_id: int, post_id: int = post_id
            ) -> tuple[dict[str, Any], bool]:
                return {
                    "stored": await rows.upsert_comments(conn, platform, post_id, page.items)
                }, False

            outcome = await self._pages(
                job,
                "comments",
                kind="comments_page",
                fetch=fetcher(ext_id),
                store=store,
                subject_id=post_id,
            )
            if outcome.status == "waiting":
                return outcome
            pages += outcome.pages
            items += outcome.items
            if outcome.status in ("partial", "failed"):
                partial.append(f"{ext_id}: {outcome.message}")
        status: OutcomeStatus = "partial" if partial else "succeeded"
        return StreamOutcome(
            "comments", status, pages=pages, items=items, message="; ".join(partial[:5]) or None
        )

    # ------------------------------------------------------------------ YouTube
    async def _youtube_channel(self, job: Job) -> StreamOutcome:
        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            if job.params.get("ext_id"):
                return await self.providers.youtube.channel(channel_id=job.params["ext_id"])
            return await self.providers.youtube.channel(handle=job.params["username"])

        async def store(
            conn: AsyncConnection, page: Page[Any], job_id: int
        ) -> tuple[dict[str, Any], bool]:
            channel = page.items[0]
            profile_id = await _store_profile(
                conn,
                job,
                "youtube",
                rows.youtube_channel_row(channel),
                followers=channel.subscriber_count,
                posts=channel.video_count,
                views=channel.view_count,
            )
            return {"profile_id": profile_id}, False

        return await self._pages(job, "channel", kind="channel", fetch=fetch, store=store)

    async def _youtube_uploads(self, job: Job) -> StreamOutcome:
        profile = await self._profile(job)
        playlist = (
            (profile.raw_data.get("contentDetails") or {}).get("relatedPlaylists") or {}
        ).get("uploads")
        if not playlist:
            return StreamOutcome(
                "uploads", "skipped", message="the channel has no uploads playlist"
            )
        since = job.since
        videos_of: dict[int, Page[Any]] = {}

        async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
            page = await self.providers.youtube.uploads(
                playlist_id=playlist, end_cursor=cursor, last_provider_name=provider
            )
            if page.success and page.items:
                # One unit: the playlist page and the statistics of its videos.
                videos = await self.providers.youtube.videos(ids=[u.ext_id for u in page.items])
                if not videos.success:
                    return videos
                videos_of[id(page)] = videos
            return page

        async def store(
            conn: AsyncConnection, page: Page[Any], job_id: int
        ) -> tuple[dict[str, Any], bool]:
            videos = videos_of.pop(id(page), None)
            stored = 0
            if videos is not None:
                fresh = [
                    v
                    for v in videos.items
                    if since is None or (v.published_at and v.published_at > since)
                ]
                await rows.upsert_videos(conn, profile.id, fresh, job_id=job_id)
                stored = len(fresh)
                call_id = await ledger.record_call(
                    conn,
                    ledger.CallRecord(
                        job_id,
                        "uploads_videos",
                        "videos",
                        Status.SUCCEEDED,
                        summary={"items": len(videos.items)},
                    ),
                )
                await ledger.record_raw(
                    conn,
                    service_call_id=call_id,
                    provider=videos.api_provider or "",
                    method="videos",
                    request=videos.request,
                    response=videos.response,
                )
            reached = since is not None and any(
                u.published_at and u.published_at <= since for u in page.items
            )
            return {"stored": stored}, reached

        return await self._pages(job, "uploads", kind="uploads_page", fetch=fetch, store=store)

    async def _youtube_comments(self, job: Job) -> StreamOutcome:
        profile = await self._profile(job)

        def fetcher(ext_id: str) -> Fetch:
            async def fetch(cursor: str | None, provider: str | None) -> Page[Any]:
                return await self.providers.youtube.comment_threads(
                    video_id=ext_id, end_cursor=cursor, last_provider_name=provider
                )

            return fetch

        return await self._comments(job, profile.id, "youtube", fetcher)


async def _store_profile(
    conn: AsyncConnection, job: Job, platform: str, row: dict[str, Any], **metrics: int | None
) -> int:
    """Upsert the synced profile, make it the job's subject, append its metric snapshot."""
    profile_id = await rows.upsert_profile(conn, platform, row)
    await ledger.set_job_subject(conn, job.id, profile_id)
    await rows.snapshot(
        conn, [{"subject_type": "profile", "subject_id": profile_id, **metrics}], job_id=job.id
    )
    job.subject_id = profile_id
    return profile_id


async def _counts(conn: AsyncConnection, profile_id: int) -> dict[str, int]:
    from smcore.store.models import Comment, Post, Subscription  # noqa: PLC0415

    async def count(query: Any) -> int:
        return int(await conn.scalar(query) or 0)

    return {
        "followers_active": await count(
            select(func.count())
            .select_from(Subscription)
            .where(
                Subscription.social_profile_id == profile_id,
                Subscription.direction == "follower",
                Subscription.active.is_(True),
            )
        ),
        "followings_active": await count(
            select(func.count())
            .select_from(Subscription)
            .where(
                Subscription.social_profile_id == profile_id,
                Subscription.direction == "following",
                Subscription.active.is_(True),
            )
        ),
        "posts": await count(
            select(func.count()).select_from(Post).where(Post.social_profile_id == profile_id)
        ),
        "comments": await count(
            select(func.count())
            .select_from(Comment)
            .join(Post, Comment.post_id == Post.id)
            .where(Post.social_profile_id == profile_id)
        ),
    }
