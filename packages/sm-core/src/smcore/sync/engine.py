"""The paging engine: one page = one provider request = one ServiceCall = one transaction.

A page's ServiceCall is written ``running`` before its request is sent and closed
(``succeeded`` / ``failed`` / ``skipped``) in the transaction that stores the page's rows, its
raw payload, its quarantined items and the cursor it returned. Every stream reads its resume
point from the ledger before it calls a provider, so a sync killed at any moment continues from
the last committed cursor: no page lost, at most the page in flight fetched twice, no duplicate
rows (upserts).

Provider error kinds decide what happens (see :class:`~smcore.providers.errors.ErrorKind`):
not_found / private end the stream as ``skipped``; rate_limited and quota_exhausted return
``waiting`` (the orchestrator sleeps, it is not a failure); transient raises
:class:`~smcore.sync.errors.TransientStreamError` (the orchestrator retries with backoff); an
expired cursor restarts the listing; a bad payload or a rejected key ends the stream
``partial`` / ``failed`` with the reason, the raw body kept. A malformed single item is not an
error of its page: it is quarantined and the page is stored.

Streams themselves live with their platform (``smcore.sync.instagram``, ``…youtube``); this
module knows nothing of any platform.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from smcore.metrics import PAGES_SYNCED, QUOTA_PAUSES
from smcore.providers import Providers
from smcore.providers.errors import ErrorKind, ProviderConfigError
from smcore.providers.models import Page
from smcore.providers.transport import RateLimiter
from smcore.store import ledger, rows
from smcore.store.models import Status
from smcore.sync.errors import (
    InvalidJobError,
    JobNotFoundError,
    NotStoredError,
    TransientStreamError,
)
from smcore.sync.models import DEFAULT_REFRESH_DAYS, OutcomeStatus, Platform, Scope, StreamOutcome

log = structlog.get_logger(__name__)

MAX_RESTARTS = 3  # listings restarted from the start after an expired cursor
MAX_REFILLS = 12  # a list that ended early, asked again from where it ended
# Per-post units (a post's comments) paged at once per stream. More than 2 made bursts that a
# provider's short-window limit refused (429s pause every worker), measured in benchmarks/sync.py.
UNIT_CONCURRENCY = 2
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))")

Progress = Callable[[dict[str, Any]], None]


@dataclass
class Job:
    """A JobCall as the streams see it: what to sync, and what the sync learnt so far."""

    id: int
    platform: Platform
    scope: Scope
    params: dict[str, Any]
    subject_id: int | None

    def _time(self, key: str) -> datetime | None:
        value = self.params.get(key)
        return datetime.fromisoformat(value) if value else None

    @property
    def full(self) -> bool:
        """Re-read everything: every post refreshed, the whole history walked."""
        return bool(self.params.get("full"))

    @property
    def observed_at(self) -> datetime:
        """The provider's time when the profile was read (its clock, not ours)."""
        return self._time("observed_at") or datetime.now(UTC)

    @property
    def window_start(self) -> datetime | None:
        """Posts published since then are refreshed (None: all of them, ``--full``)."""
        if self.full:
            return None
        days = float(self.params.get("refresh_days") or DEFAULT_REFRESH_DAYS)
        return self.observed_at - timedelta(days=days)

    @property
    def horizon(self) -> datetime | None:
        """The scan for posts may stop at the first unpinned post older than this: the refresh
        window's start, or the newest post stored before this sync if that is older (posts
        published between two syncs are never skipped). None: scan to the end."""
        start = self.window_start
        if start is None:
            return None
        newest = self._time("newest_post_at")
        return min(start, newest) if newest else start

    @property
    def until(self) -> datetime | None:
        """``until_id``: posts from this one on are left out."""
        return self._time("until_taken_at")


@dataclass(frozen=True)
class Fetched:
    """What one unit fetched: its page, and pages of calls made for it (a playlist page's
    video statistics), each of which becomes a ServiceCall of its own."""

    page: Page[Any]
    extra: Sequence[tuple[str, Page[Any]]] = ()


@dataclass
class Stored:
    """What storing a page did: its summary for the ServiceCall."""

    summary: dict[str, Any] = field(default_factory=dict)


class Verdict(StrEnum):
    """A finished listing, judged in its last page's transaction."""

    DONE = "done"
    REFILL = "refill"  # it ended early: ask again from where it ended
    INCOMPLETE = "incomplete"  # it ended early and asking again did not help


Fetch = Callable[[str | None, str | None], Awaitable[Page[Any] | Fetched]]
Store = Callable[[AsyncConnection, Fetched], Awaitable[Stored]]
# Whether a listing stops after this page although the provider has more: a pure function of
# the page, known before it is stored (the next page is fetched while this one is stored).
Stops = Callable[[Fetched], bool]
# Called once the listing ends, with whether a refill may still be asked for.
Finish = Callable[[AsyncConnection, bool], Awaitable[tuple[Verdict, str | None]]]


@dataclass(frozen=True)
class _Listing:
    """The listing a ``pages`` call walks: one stream (of one subject) of one job."""

    job: Job
    stream: str
    kind: str
    subject_id: int | None

    def running(
        self, cursor: str | None, provider: str | None, parent: int | None
    ) -> ledger.CallRecord:
        """The ServiceCall of a request about to be sent from ``cursor`` (issued by
        ``provider``)."""
        return ledger.CallRecord(
            self.job.id,
            self.stream,
            self.kind,
            Status.RUNNING,
            subject_id=self.subject_id,
            parent_id=parent,
            cursor={"from_cursor": cursor, "cursor_provider": provider},
        )

    def refill_marker(
        self, call: ledger.CallRecord, call_id: int, message: str | None
    ) -> ledger.CallRecord:
        """The marker that makes the listing go on from where ``call`` was sent."""
        sent = call.cursor or {}
        return ledger.CallRecord(
            self.job.id,
            self.stream,
            f"{self.kind}_refill",
            Status.SKIPPED,
            subject_id=self.subject_id,
            parent_id=call_id,
            cursor={
                "restart": True,
                "resume_cursor": sent.get("from_cursor"),
                "provider": sent.get("cursor_provider"),
                "has_more": True,
            },
            error=message,
        )


@dataclass
class _Turn:
    """What a committed page decided."""

    has_more: bool
    verdict: Verdict
    message: str | None
    parent: int
    opened: int | None = None


def _nonzero(**counts: int) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


class Engine:
    """Runs streams: paging, the ledger, per-stream locks, per-post units."""

    def __init__(
        self,
        engine: AsyncEngine,
        providers: Providers,
        *,
        limiter: RateLimiter | None = None,
        unit_concurrency: int = UNIT_CONCURRENCY,
    ) -> None:
        self.db = engine
        self.providers = providers
        self.limiter = limiter
        self.unit_concurrency = unit_concurrency

    async def job(self, job_id: int) -> Job:
        async with self.db.connect() as conn:
            row = await ledger.get_job(conn, job_id)
        if row is None:
            raise JobNotFoundError(f"no JobCall {job_id}", job_call_id=job_id)
        try:
            platform = Platform(row.platform)
            scope = Scope(row.params.get("scope", Scope.ALL))
        except ValueError as exc:
            raise InvalidJobError(f"JobCall {job_id}: {exc}", job_call_id=job_id) from None
        return Job(row.id, platform, scope, row.params, row.subject_id)

    async def profile(self, job: Job) -> Any:
        """The job's stored profile (the first stream stored it)."""
        if job.subject_id is None:
            job.subject_id = (await self.job(job.id)).subject_id
        if job.subject_id is None:
            raise NotStoredError(
                f"job {job.id}: the profile stream has not stored the profile", job_call_id=job.id
            )
        async with self.db.connect() as conn:
            return await rows.profile_of(conn, job.subject_id)

    async def locked(
        self, job: Job, stream: str, run: Callable[[], Awaitable[StreamOutcome]]
    ) -> StreamOutcome:
        """Run a stream as its one runner fleet-wide.

        An orphaned attempt (a terminated workflow's activity that has not heard of it yet) and
        its replacement must never page together. A session lock dies with its connection, so
        a killed worker never holds it.
        """
        key = {"key": f"sync:{job.id}:{stream}"}
        async with self.db.connect() as lock:
            if not await lock.scalar(_TRY_LOCK, key):
                raise TransientStreamError(f"{stream}: another worker is running this stream")
            try:
                return await run()
            finally:
                await lock.execute(_UNLOCK, key)
                await lock.commit()

    async def pages(
        self,
        job: Job,
        stream: str,
        *,
        kind: str,
        fetch: Fetch,
        store: Store,
        progress: Progress,
        subject_id: int | None = None,
        finish: Finish | None = None,
        stops: Stops | None = None,
        start: tuple[str | None, str | None] = (None, None),
    ) -> StreamOutcome:
        """Page a listing from the ledger's resume point (or ``start``: cursor, provider) to
        its end, an early stop (``stops``), a pause or a failure.

        One request in flight per listing: a worker killed at any moment fetches at most that
        page again.
        """
        try:
            listing = _Listing(job, stream, kind, subject_id)
            async with self.db.begin() as conn:
                at = await ledger.position(conn, job.id, stream, subject_id)
                if at.interrupted:
                    await ledger.close_interrupted(
                        conn, job.id, stream=stream, subject_id=subject_id
                    )
                if at.done:
                    return StreamOutcome(stream, "succeeded", pages=at.pages)
                cursor, provider = (
                    (at.cursor, at.provider) if at.last_call_id is not None else start
                )
                parent, restarts = at.last_call_id, at.restarts
                # The first request's call, opened with the read of where the listing stands.
                opened: int | None = await ledger.open_call(
                    conn, listing.running(cursor, provider, parent)
                )
            pages, items = at.pages, 0
            while True:
                call = listing.running(cursor, provider, parent)
                if opened is None:
                    async with self.db.begin() as conn:
                        opened = await ledger.open_call(conn, call)
                call_id, opened = opened, None
                try:
                    got = await fetch(cursor, provider)
                except ProviderConfigError as exc:
                    # No configured provider serves this stream's method: nothing to retry.
                    return await self._unconfigured(stream, call_id, call, exc)
                fetched = got if isinstance(got, Fetched) else Fetched(got)
                page = fetched.page
                if not page.success:
                    outcome, restart = await self._failed(
                        job, stream, call_id, call, page=page, restarts=restarts
                    )
                    if not restart:
                        return outcome
                    cursor, provider, parent, restarts = None, None, call_id, restarts + 1
                    continue
                more = page.has_more and not (stops is not None and stops(fetched))
                if more and page.end_cursor is None:
                    # "More" without a cursor would ask for the first page again (a cursor handed
                    # back unchanged is ended by the providers' failover).
                    log.warning("cursor_missing", stream=stream, cursor=cursor)
                    more = False
                async with self.db.begin() as conn:
                    turn = await self._commit(
                        conn,
                        listing,
                        call_id,
                        call,
                        fetched,
                        store=store,
                        finish=finish,
                        more=more,
                        may_refill=restarts < MAX_REFILLS,
                    )
                pages += 1
                items += len(page.items)
                PAGES_SYNCED.labels(job.platform, stream).inc()
                progress({"stream": stream, "pages": pages, "subject_id": subject_id})
                opened, parent = turn.opened, turn.parent
                if turn.verdict is Verdict.REFILL:
                    log.info("listing_refilled", reason=turn.message, refills=restarts + 1)
                    restarts += 1
                    continue
                if not more:
                    status: OutcomeStatus = (
                        "partial" if turn.verdict is Verdict.INCOMPLETE else "succeeded"
                    )
                    return StreamOutcome(
                        stream, status, pages=pages, items=items, message=turn.message
                    )
                cursor, provider = page.end_cursor, page.api_provider
        except asyncio.CancelledError:
            # The activity was cancelled (its workflow was terminated, the worker is shutting
            # down): the request in flight never ends, so its call is closed as interrupted
            # before the cancellation goes on (a next sync of this job resumes at that page).
            await asyncio.shield(self._interrupted(job.id, stream, subject_id))
            raise

    async def _interrupted(self, job_id: int, stream: str, subject_id: int | None) -> None:
        async with self.db.begin() as conn:
            await ledger.close_interrupted(conn, job_id, stream=stream, subject_id=subject_id)

    async def _commit(
        self,
        conn: AsyncConnection,
        listing: _Listing,
        call_id: int,
        call: ledger.CallRecord,
        fetched: Fetched,
        *,
        store: Store,
        finish: Finish | None,
        more: bool,
        may_refill: bool,
    ) -> _Turn:
        """One page's transaction: its rows, quarantined items, verdict, ServiceCall closed,
        raw payloads, and the next request's ServiceCall opened (after a list that ended early:
        the refill marker, then the call that asks again)."""
        job, page = listing.job, fetched.page
        sent = call.cursor or {}
        cursor, provider = sent.get("from_cursor"), sent.get("cursor_provider")
        stored = await store(conn, fetched)
        quarantined = await rows.quarantine(
            conn,
            page.rejected,
            job_id=job.id,
            service_call_id=call_id,
            platform=job.platform,
            stream=listing.stream,
        )
        has_more = more
        verdict, message = Verdict.DONE, None
        if not has_more and finish is not None:
            verdict, message = await finish(conn, may_refill)
        refill = verdict is Verdict.REFILL
        stored.summary.update(
            items=len(page.items), has_more=has_more, **_nonzero(quarantined=quarantined)
        )
        state = {
            "end_cursor": page.end_cursor if has_more else None,
            "provider": page.api_provider,
            "has_more": has_more or refill,
            "from_cursor": cursor,
        }
        await ledger.close_call(
            conn,
            call_id,
            dataclasses.replace(
                call, status=Status.SUCCEEDED, cursor=state, summary=stored.summary
            ),
        )
        await ledger.record_raw(
            conn,
            service_call_id=call_id,
            provider=page.api_provider or "",
            method=listing.kind,
            request=page.request,
            response=page.response,
        )
        await self._record_extra(
            conn, job, listing.stream, call_id, subject_id=listing.subject_id, fetched=fetched
        )
        turn = _Turn(has_more, verdict, message, parent=call_id)
        if refill:
            # Ask again from the cursor of the page that ended early (a list that stops short
            # usually goes on when asked again).
            turn.parent = await ledger.record_call(
                conn, listing.refill_marker(call, call_id, message)
            )
            turn.opened = await ledger.open_call(
                conn, listing.running(cursor, provider, turn.parent)
            )
        elif has_more:
            # The next request's ServiceCall exists before it is sent, written with this page.
            turn.opened = await ledger.open_call(
                conn, listing.running(page.end_cursor, page.api_provider, turn.parent)
            )
        return turn

    @staticmethod
    async def _record_extra(
        conn: AsyncConnection,
        job: Job,
        stream: str,
        call_id: int,
        *,
        subject_id: int | None,
        fetched: Fetched,
    ) -> None:
        """The calls made for a unit beside its page: a ServiceCall, raw payload and
        quarantined items each, under the page's call."""
        for extra_kind, extra in fetched.extra:
            extra_id = await ledger.record_call(
                conn,
                ledger.CallRecord(
                    job.id,
                    f"{stream}_{extra_kind}",
                    extra_kind,
                    Status.SUCCEEDED,
                    subject_id=subject_id,
                    parent_id=call_id,
                    summary={"items": len(extra.items)},
                ),
            )
            await ledger.record_raw(
                conn,
                service_call_id=extra_id,
                provider=extra.api_provider or "",
                method=extra_kind,
                request=extra.request,
                response=extra.response,
            )
            await rows.quarantine(
                conn,
                extra.rejected,
                job_id=job.id,
                service_call_id=extra_id,
                platform=job.platform,
                stream=f"{stream}_{extra_kind}",
            )

    async def _unconfigured(
        self, stream: str, call_id: int, call: ledger.CallRecord, exc: ProviderConfigError
    ) -> StreamOutcome:
        """Close the call of a stream no configured provider serves; the stream is skipped."""
        message = f"not configured: {exc.message}"
        async with self.db.begin() as conn:
            await ledger.close_call(
                conn,
                call_id,
                dataclasses.replace(
                    call, status=Status.SKIPPED, cursor={"has_more": False}, error=message
                ),
            )
        log.warning("stream_not_configured", stream=stream, message=exc.message)
        return StreamOutcome(stream, "skipped", message=message)

    async def _failed(
        self,
        job: Job,
        stream: str,
        call_id: int,
        call: ledger.CallRecord,
        *,
        page: Page[Any],
        restarts: int,
    ) -> tuple[StreamOutcome, bool]:
        """Close a failed page's call; return the stream's outcome, or True to restart."""
        error = page.error
        assert error is not None  # noqa: S101 - a failed page always carries its error
        kind = error.kind
        restart = kind is ErrorKind.CURSOR_EXPIRED and restarts < MAX_RESTARTS
        status = Status.SKIPPED if kind.final else Status.FAILED
        cursor: dict[str, Any] = {"has_more": False} if kind.final else {}
        if restart:
            cursor = {"restart": True, "resume_cursor": None, "has_more": True}
        async with self.db.begin() as conn:
            summary = {
                "error_kind": kind.value,
                "provider": error.provider,
                "status": error.status,
                "providers_tried": len(page.failures) or 1,
            }
            await ledger.close_call(
                conn,
                call_id,
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

    async def units(
        self,
        stream: str,
        subjects: Sequence[Any],
        unit: Callable[[Any], Awaitable[StreamOutcome]],
    ) -> StreamOutcome:
        """Per-subject units (a post's comments), several at once.

        The provider's shared rate limit paces the requests; ``unit_concurrency`` only keeps a
        slow provider from holding every connection. A unit that must wait (rate limit, quota)
        makes the stream wait: the units already done are not fetched again (the ledger).
        """
        gate = asyncio.Semaphore(max(1, self.unit_concurrency))

        async def one(subject: Any) -> StreamOutcome:
            async with gate:
                return await unit(subject)

        results = await asyncio.gather(*(one(s) for s in subjects), return_exceptions=True)
        for result in results:  # every unit has ended: now a failure may stop the stream
            if isinstance(result, BaseException):
                raise result
        outcomes = [r for r in results if isinstance(r, StreamOutcome)]
        waiting = [o for o in outcomes if o.status == "waiting"]
        if waiting:
            return max(waiting, key=lambda o: o.retry_after_s or 0.0)
        partial = [o.message or o.status for o in outcomes if o.status in ("partial", "failed")]
        return StreamOutcome(
            stream,
            "partial" if partial else "succeeded",
            pages=sum(o.pages for o in outcomes),
            items=sum(o.items for o in outcomes),
            message="; ".join(partial[:5]) or None,
        )
