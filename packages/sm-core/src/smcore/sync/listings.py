"""The listings every platform has, in the shape monitoring needs.

- **subscriptions** (followers, followings): a full pass judged by the profile's own count: a
  pass that reached it is complete, and the active subscriptions it did not see are unfollows;
  one that never reached it records its coverage and no unfollows.
- **profile**: read it, make it the job's subject, and note the provider's time and the newest
  post stored so far (what "now" and "new" mean for the rest of the sync).
- **posts** (rolling refresh): from the newest post back to the refresh window's start, or to
  the newest post stored before this sync if that is older; posts inside the window are updated
  with a metric snapshot each, older ones are stored only if new. Pinned posts never end it.
- **history** (backfill frontier): from where the profile's backfill stopped to the oldest post;
  the frontier moves with each page's transaction, so any stop is resumed by the next sync.
- **comments**: per post, a unit of its own, several at once: the posts of the window and those
  never fetched, each read from its newest comment back to the previous sync's time (or whole,
  where a platform does not list comments newest first).
- **replies**: per comment with more replies than are stored (on a post of the window), a unit
  of its own: its replies, whole.

A platform module supplies the provider calls and how to read its records; see
``smcore.sync.instagram`` and ``smcore.sync.youtube``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store import ledger, rows
from smcore.sync.engine import Fetch, Fetched, Stored, Verdict
from smcore.sync.models import StreamOutcome
from smcore.sync.streams import Run

log = structlog.get_logger(__name__)

POSTS_FRONTIER = "posts"
# A comment made just before a sync may show up in listings a little later.
COMMENT_LAG = timedelta(hours=1)

Records = Callable[[Fetched], Sequence[Any]]


def page_items(fetched: Fetched) -> Sequence[Any]:
    """The records of a listing that are its page's items (all but YouTube's uploads)."""
    return fetched.page.items


def published(item: Any) -> datetime | None:
    """When a post, reel, upload or video was published."""
    return getattr(item, "taken_at", None) or getattr(item, "published_at", None)


async def profile(
    run: Run, stream: str, *, fetch: Fetch, row: Callable[[Any], dict[str, Any]]
) -> StreamOutcome:
    """Read the profile; store it; note the provider's time and the newest stored post."""
    job = run.job

    async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
        page = fetched.page
        record = page.items[0]
        profile_id = await rows.upsert_profile(conn, job.platform, row(record))
        newest = await rows.newest_post_time(conn, profile_id)
        facts = {
            "observed_at": (page.served_at or datetime.now(UTC)).isoformat(),
            "newest_post_at": newest.isoformat() if newest else None,
        }
        await ledger.set_job_subject(conn, job.id, profile_id, facts)
        job.params.update(facts)
        job.subject_id = profile_id
        return Stored({"profile_id": profile_id, "observed_at": facts["observed_at"]})

    return await run.engine.pages(
        job, stream, kind=stream, fetch=fetch, store=store, progress=run.progress
    )


async def subscriptions(
    run: Run,
    direction: str,
    *,
    fetch_for: Callable[[Any], Fetch],
    refill: bool = True,
    short: str = "",
) -> StreamOutcome:
    """A follower (``direction`` "follower") or following pass of the job's profile.

    ``refill``: a list that ended before the profile's count is asked again from where it
    ended (Instagram's providers end early and go on when asked again); False where asking
    again cannot help (TikTok lists at most about 5,000 accounts). ``short`` says why a pass
    falls short, in its outcome's message.
    """
    job, engine = run.job, run.engine
    stream = "followers" if direction == "follower" else "followings"
    account = await engine.profile(job)
    if account.is_private:
        return StreamOutcome(stream, "skipped", message="private: lists are not visible")
    expected: int = account.followers_count if direction == "follower" else account.follows_count
    async with engine.db.connect() as conn:
        previous_pass = await rows.last_complete_pass(conn, account.id, direction)

    async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
        new = await rows.upsert_accounts(
            conn,
            job.platform,
            account.id,
            direction,
            fetched.page.items,
            job_id=job.id,
            previous_pass=previous_pass,
        )
        return Stored({"follows": new})

    async def finish(conn: AsyncConnection, may_refill: bool) -> tuple[Verdict, str | None]:
        seen = await rows.seen_in_pass(conn, account.id, direction, job.id)
        bad = await rows.quarantined_in_job(conn, job.id, stream)
        reached = seen + bad
        if reached < expected and may_refill and refill:
            return Verdict.REFILL, f"{stream} list ended at {reached} of {expected}"
        complete = reached >= expected
        gone = await rows.record_pass(
            conn,
            account.id,
            direction,
            job.id,
            expected=expected,
            reached=seen,
            quarantined=bad,
            complete=complete,
        )
        log.info("pass_finished", seen=seen, expected=expected, complete=complete, unfollows=gone)
        if not complete:
            why = f" ({short})" if short else ""
            message = f"{stream}: reached {reached} of {expected}{why}, no unfollows"
            return Verdict.INCOMPLETE, message
        return Verdict.DONE, None

    return await engine.pages(
        job,
        stream,
        kind=f"{stream}_page",
        fetch=fetch_for(account),
        store=store,
        finish=finish,
        progress=run.progress,
    )


async def posts(
    run: Run,
    stream: str,
    *,
    kind: str,
    fetch: Fetch,
    records: Records = page_items,
    backfill: bool = True,
) -> StreamOutcome:
    """The rolling refresh: newest first, down to the horizon (see the module docstring).

    ``backfill`` False: a feed whose end starts no history backfill (Instagram's reels: the
    posts history stores the older ones).
    """
    job = run.job
    profile_row = await run.engine.profile(job)
    if profile_row.is_private:
        return _private(stream, "posts")
    window, horizon, until = job.window_start, job.horizon, job.until

    def stops(fetched: Fetched) -> bool:
        # Pinned posts are old posts shown first: they never end the scan.
        return horizon is not None and any(
            not getattr(item, "pinned", False) and _before(item, horizon)
            for item in fetched.page.items
        )

    async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
        page = fetched.page
        found = [r for r in records(fetched) if until is None or _before(r, until)]
        fresh = [r for r in found if window is None or not _before(r, window)]
        ids = await rows.store_posts(
            conn, job.platform, profile_row.id, found, job_id=job.id, refresh=fresh
        )
        stop = stops(fetched)
        if backfill and (stop or not page.has_more):
            await _first_frontier(conn, profile_row.id, page.end_cursor, page.api_provider, stop)
        return Stored({"stored": len(ids), "refreshed": len(fresh)})

    return await run.engine.pages(
        job, stream, kind=kind, fetch=fetch, store=store, stops=stops, progress=run.progress
    )


async def _first_frontier(
    conn: AsyncConnection, profile_id: int, cursor: str | None, provider: str | None, stop: bool
) -> None:
    """Where the refresh ended: the end of the list (history complete), or, when no backfill
    has begun, the point the backfill starts from."""
    if not stop or cursor is None:
        await rows.set_frontier(
            conn, profile_id, POSTS_FRONTIER, cursor=None, provider=None, complete=True
        )
    elif await rows.frontier(conn, profile_id, POSTS_FRONTIER) is None:
        await rows.set_frontier(
            conn, profile_id, POSTS_FRONTIER, cursor=cursor, provider=provider, complete=False
        )


async def history(
    run: Run, stream: str, *, kind: str, fetch: Fetch, records: Records = page_items
) -> StreamOutcome:
    """The backfill from the stored frontier to the oldest post; old posts stored once."""
    job = run.job
    profile_row = await run.engine.profile(job)
    if profile_row.is_private:
        return _private(stream, "posts")
    async with run.engine.db.connect() as conn:
        frontier = await rows.frontier(conn, profile_row.id, POSTS_FRONTIER)
    if frontier is None or frontier.complete:
        return StreamOutcome(stream, "succeeded", message="history complete")

    async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
        page = fetched.page
        ids = await rows.store_posts(
            conn, job.platform, profile_row.id, records(fetched), job_id=job.id
        )
        await rows.set_frontier(
            conn,
            profile_row.id,
            POSTS_FRONTIER,
            cursor=page.end_cursor,
            provider=page.api_provider,
            complete=not page.has_more,
        )
        return Stored({"stored": len(ids)})

    return await run.engine.pages(
        job,
        stream,
        kind=kind,
        fetch=fetch,
        store=store,
        progress=run.progress,
        start=(frontier.cursor, frontier.provider),
    )


async def comments(
    run: Run,
    stream: str,
    *,
    kind: str,
    fetch_for: Callable[[str], Fetch],
    newest_first: bool = True,
) -> StreamOutcome:
    """Per post its comments, newest first, back to the previous sync: units run together.

    ``newest_first`` False: the platform lists comments in another order (TikTok: by
    popularity), so a post's listing is read whole.
    """
    job = run.job
    profile_row = await run.engine.profile(job)
    if profile_row.is_private:
        return _private(stream, "comments")
    observed = job.observed_at
    async with run.engine.db.begin() as conn:
        targets = await rows.comment_targets(conn, profile_row.id, refreshed_since=job.window_start)
        # Nothing to fetch: no request spent.
        await rows.comments_synced(
            conn, [t.post_id for t in targets if t.comments_count == 0], observed
        )

    done: list[int] = []

    async def unit(target: rows.CommentTarget) -> StreamOutcome:
        since = (
            None
            if job.full or target.synced_at is None or not newest_first
            else target.synced_at - COMMENT_LAG
        )

        def stops(fetched: Fetched) -> bool:
            return since is not None and any(c.created_at < since for c in fetched.page.items)

        async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
            items = fetched.page.items
            return Stored(
                {"stored": await rows.upsert_comments(conn, job.platform, target.post_id, items)}
            )

        outcome = await run.engine.pages(
            job,
            stream,
            kind=kind,
            fetch=fetch_for(target.ext_id),
            store=store,
            stops=stops,
            progress=run.progress,
            subject_id=target.post_id,
        )
        if outcome.status == "succeeded":
            done.append(target.post_id)
        return outcome

    try:
        return await run.engine.units(stream, [t for t in targets if t.comments_count > 0], unit)
    finally:
        # Marked once for the stream (a stream stopped half-way marks what it finished; a unit
        # done before is done in the ledger and reads nothing again when the stream resumes).
        async with run.engine.db.begin() as conn:
            await rows.comments_synced(conn, done, observed)


async def replies(
    run: Run, stream: str, *, kind: str, fetch_for: Callable[[rows.ReplyTarget], Fetch]
) -> StreamOutcome:
    """Per comment with more replies than are stored, on the posts of the refresh window (all
    posts with ``--full``), its replies, whole: units run together."""
    job = run.job
    profile_row = await run.engine.profile(job)
    if profile_row.is_private:
        return _private(stream, "comments")
    async with run.engine.db.connect() as conn:
        targets = await rows.reply_targets(conn, profile_row.id, since=job.window_start)

    async def unit(target: rows.ReplyTarget) -> StreamOutcome:
        async def store(conn: AsyncConnection, fetched: Fetched) -> Stored:
            items = fetched.page.items
            return Stored(
                {"stored": await rows.upsert_comments(conn, job.platform, target.post_id, items)}
            )

        return await run.engine.pages(
            job,
            stream,
            kind=kind,
            fetch=fetch_for(target),
            store=store,
            progress=run.progress,
            subject_id=target.comment_id,
        )

    return await run.engine.units(stream, targets, unit)


def _private(stream: str, what: str) -> StreamOutcome:
    return StreamOutcome(stream, "skipped", message=f"private: {what} are not visible")


def _before(item: Any, moment: datetime) -> bool:
    when = published(item)
    return when is not None and when < moment
