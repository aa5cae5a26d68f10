"""The JobCall / ServiceCall ledger (000_…): what ran, what each call returned, where to resume.

Functions take ``conn`` and never commit: the caller commits a page's rows, its raw payload,
its ServiceCall and its cursor together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store.models import JobCall, RawPayload, ServiceCall, Status

# A call that ended the way its listing goes on from (a failed or running one does not).
COMMITTED = (Status.SUCCEEDED, Status.SKIPPED)


async def create_job(
    conn: AsyncConnection,
    *,
    platform: str,
    kind: str,
    params: dict[str, Any],
    subject_id: int | None = None,
    parent_id: int | None = None,
) -> int:
    job_id: int = await conn.scalar(  # type: ignore[assignment]  # RETURNING id is never NULL
        insert(JobCall)
        .values(
            platform=platform,
            kind=kind,
            params=params,
            subject_id=subject_id,
            parent_job_call_id=parent_id,
        )
        .returning(JobCall.id)
    )
    return job_id


async def children(
    conn: AsyncConnection, parent_id: int, *, after_id: int, limit: int
) -> list[tuple[int, str, str]]:
    """(id, platform, scope) of a batch's children after ``after_id``, oldest first."""
    rows = (
        await conn.execute(
            select(JobCall.id, JobCall.platform, JobCall.params["scope"].astext)
            .where(JobCall.parent_job_call_id == parent_id, JobCall.id > after_id)
            .order_by(JobCall.id)
            .limit(limit)
        )
    ).all()
    return [(r[0], r[1], r[2] or "all") for r in rows]


async def children_by_status(conn: AsyncConnection, parent_id: int) -> dict[str, int]:
    rows = (
        await conn.execute(
            select(JobCall.status, func.count())
            .where(JobCall.parent_job_call_id == parent_id)
            .group_by(JobCall.status)
        )
    ).all()
    return {str(row[0]): int(row[1]) for row in rows}


async def fail_job(conn: AsyncConnection, job_id: int, error: str) -> None:
    """Close a JobCall whose workflow failed before closing it (a closed one stays as it is),
    and the request it left running."""
    await conn.execute(
        update(JobCall)
        .where(JobCall.id == job_id, JobCall.status.in_((Status.PENDING, Status.RUNNING)))
        .values(
            status=Status.FAILED, error_message=error, finished_at=func.now(), updated_at=func.now()
        )
    )
    await close_interrupted(conn, job_id)


async def get_job(conn: AsyncConnection, job_id: int) -> JobCall | None:
    row = (await conn.execute(select(JobCall).where(JobCall.id == job_id))).first()
    if row is None:
        return None
    return JobCall(**row._asdict())


async def start_job(conn: AsyncConnection, job_id: int, *, workflow_id: str | None) -> bool:
    """Mark a JobCall running; False when there is no such JobCall."""
    result = await conn.execute(
        update(JobCall)
        .where(JobCall.id == job_id)
        .values(
            status=Status.RUNNING,
            workflow_id=workflow_id,
            started_at=func.coalesce(JobCall.started_at, func.now()),
            finished_at=None,
            updated_at=func.now(),
        )
    )
    return bool(result.rowcount)


async def set_job_subject(
    conn: AsyncConnection, job_id: int, subject_id: int, facts: dict[str, Any]
) -> None:
    """The profile a sync found, and facts it learnt on its way (the provider's time, the
    profile's newest post) added to its params."""
    await conn.execute(
        update(JobCall)
        .where(JobCall.id == job_id)
        .values(subject_id=subject_id, params=JobCall.params.op("||")(facts), updated_at=func.now())
    )


async def finish_job(
    conn: AsyncConnection,
    job_id: int,
    *,
    status: Status,
    summary: dict[str, Any],
    error: str | None = None,
) -> None:
    await conn.execute(
        update(JobCall)
        .where(JobCall.id == job_id)
        .values(
            status=status,
            result_summary=summary,
            error_message=error,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )


@dataclass(frozen=True)
class CallRecord:
    """A ServiceCall to write."""

    job_id: int
    stream: str
    kind: str
    status: Status
    subject_id: int | None = None
    cursor: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    parent_id: int | None = None


# Built once: a page writes these every time, and building a statement costs more CPU than
# sending it (the per-page ledger rows are most of a sync's statements).
_OPEN_CALL = insert(ServiceCall).values(started_at=func.now()).returning(ServiceCall.id)
_RECORD_CALL = (
    insert(ServiceCall)
    .values(started_at=func.now(), finished_at=func.now())
    .returning(ServiceCall.id)
)
_CLOSE_CALL = (
    update(ServiceCall)
    .where(ServiceCall.id == bindparam("call_id"))
    .values(finished_at=func.now(), updated_at=func.now())
)
_RAW = insert(RawPayload)


def _call_row(call: CallRecord) -> dict[str, Any]:
    return {
        "job_call_id": call.job_id,
        "parent_service_call_id": call.parent_id,
        "kind": call.kind,
        "status": call.status,
        "stream": call.stream,
        "subject_id": call.subject_id,
        "cursor": call.cursor or {},
        "result_summary": call.summary or {},
        "error_message": call.error,
    }


async def record_call(conn: AsyncConnection, call: CallRecord) -> int:
    """Write one finished ServiceCall (a marker, or a call recorded after the fact)."""
    call_id: int = await conn.scalar(_RECORD_CALL, _call_row(call))  # type: ignore[assignment]  # RETURNING id
    return call_id


async def open_call(conn: AsyncConnection, call: CallRecord) -> int:
    """The ServiceCall of a request about to be sent: ``running`` until :func:`close_call`."""
    row = _call_row(replace(call, status=Status.RUNNING))
    call_id: int = await conn.scalar(_OPEN_CALL, row)  # type: ignore[assignment]  # RETURNING id
    return call_id


async def close_call(conn: AsyncConnection, call_id: int, call: CallRecord) -> None:
    """End a running ServiceCall (in the transaction of its page's rows and cursor)."""
    await conn.execute(
        _CLOSE_CALL,
        {
            "call_id": call_id,
            "status": call.status,
            "cursor": call.cursor or {},
            "result_summary": call.summary or {},
            "error_message": call.error,
        },
    )


async def close_interrupted(
    conn: AsyncConnection,
    job_id: int,
    *,
    stream: str | None = None,
    subject_id: int | None = None,
) -> None:
    """ServiceCalls of ``job_id`` left ``running`` by a request that never ended (its worker
    died, or its activity was cancelled: the workflow was terminated): they failed. Every one
    of the job, or of one ``stream`` (and its subject).

    Called by the stream's one runner (it holds the stream's lock), by that runner as it is
    cancelled, or for a job that was closed: none of these calls is really running.
    """
    where = [ServiceCall.job_call_id == job_id, ServiceCall.status == Status.RUNNING]
    if stream is not None:
        where.append(ServiceCall.stream == stream)
        where.append(
            ServiceCall.subject_id.is_(None)
            if subject_id is None
            else ServiceCall.subject_id == subject_id
        )
    await conn.execute(
        update(ServiceCall)
        .where(*where)
        .values(
            status=Status.FAILED,
            error_message="interrupted: the worker stopped during this request",
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )


async def record_raw(
    conn: AsyncConnection,
    *,
    service_call_id: int,
    provider: str,
    method: str,
    request: dict[str, Any],
    response: Any,
) -> None:
    await conn.execute(
        _RAW,
        {
            "service_call_id": service_call_id,
            "provider": provider,
            "method": method,
            "request": request,
            "response": response,
        },
    )


@dataclass(frozen=True)
class Position:
    """Where a stream stands in the ledger."""

    done: bool  # its last page was committed (or it ended as skipped)
    cursor: str | None  # where the next page starts
    provider: str | None  # who issued that cursor
    last_call_id: int | None  # the chain's parent for the next page
    pages: int  # pages committed so far
    restarts: int  # listings restarted (expired cursor) or refilled (a list that ended early)
    interrupted: bool = False  # a call was left running by a worker that died


async def position(
    conn: AsyncConnection, job_id: int, stream: str, subject_id: int | None
) -> Position:
    """The resume point of one stream of one job, read from its ServiceCalls."""
    subject = (
        ServiceCall.subject_id.is_(None)
        if subject_id is None
        else ServiceCall.subject_id == subject_id
    )
    rows = (
        await conn.execute(
            select(ServiceCall.id, ServiceCall.status, ServiceCall.cursor)
            .where(ServiceCall.job_call_id == job_id, ServiceCall.stream == stream, subject)
            .order_by(ServiceCall.id)
        )
    ).all()
    pages = restarts = 0
    cursor: str | None = None
    provider: str | None = None
    last_id: int | None = None
    done = False
    interrupted = False
    for row in rows:
        if row.status == Status.RUNNING:
            interrupted = True
            continue
        state = row.cursor or {}
        if state.get("restart"):
            # A listing restarted (expired cursor) or refilled (a list that ended early):
            # it goes on from the cursor the marker names (None: from the start).
            restarts += 1
            cursor, provider, done = state.get("resume_cursor"), state.get("provider"), False
            last_id = row.id
            continue
        if row.status in COMMITTED:
            pages += 1 if row.status == Status.SUCCEEDED else 0
            cursor, provider = state.get("end_cursor"), state.get("provider")
            done = not state.get("has_more", False)
            last_id = row.id
    return Position(done, cursor, provider, last_id, pages, restarts, interrupted)


_CALL_COLUMNS = (
    ServiceCall.id,
    ServiceCall.parent_service_call_id,
    ServiceCall.kind,
    ServiceCall.stream,
    ServiceCall.subject_id,
    ServiceCall.status,
    ServiceCall.cursor,
    ServiceCall.result_summary,
    ServiceCall.error_message,
    ServiceCall.started_at,
    ServiceCall.finished_at,
)


async def calls_of(conn: AsyncConnection, job_id: int) -> list[dict[str, Any]]:
    """Every ServiceCall of a job, oldest first, as dicts (for status output)."""
    rows = await conn.execute(
        select(*_CALL_COLUMNS).where(ServiceCall.job_call_id == job_id).order_by(ServiceCall.id)
    )
    return [dict(row) for row in rows.mappings().all()]


_JOB_COLUMNS = (
    JobCall.id,
    JobCall.kind,
    JobCall.platform,
    JobCall.status,
    JobCall.subject_id,
    JobCall.parent_job_call_id,
    JobCall.params,
    JobCall.started_at,
    JobCall.finished_at,
)


async def recent_jobs(
    conn: AsyncConnection,
    *,
    status: str | None,
    platform: str | None,
    limit: int,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The newest JobCalls (older than ``before_id`` if given), optionally of one status and
    platform, each with ``sort_key`` (its id)."""
    query = (
        select(*_JOB_COLUMNS, JobCall.id.label("sort_key")).order_by(JobCall.id.desc()).limit(limit)
    )
    if before_id is not None:
        query = query.where(JobCall.id < before_id)
    if status is not None:
        query = query.where(JobCall.status == status)
    if platform is not None:
        query = query.where(JobCall.platform == platform)
    return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def job_exists(conn: AsyncConnection, job_id: int) -> bool:
    """Whether the JobCall is stored."""
    return await conn.scalar(select(JobCall.id).where(JobCall.id == job_id)) is not None


async def calls_page(
    conn: AsyncConnection,
    job_id: int,
    *,
    status: str | None = None,
    stream: str | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Up to ``limit`` ServiceCalls of a job in the order they were opened (by id: a call's
    parent comes before it), after ``after`` (the previous page's last ``(id, id)``), with
    ``sort_key`` (the id) for the next page's cursor."""
    query = (
        select(*_CALL_COLUMNS, ServiceCall.id.label("sort_key"))
        .where(ServiceCall.job_call_id == job_id)
        .order_by(ServiceCall.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(ServiceCall.status == status)
    if stream is not None:
        query = query.where(ServiceCall.stream == stream)
    if after is not None:
        query = query.where(ServiceCall.id > after[1])
    return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def children_page(
    conn: AsyncConnection,
    parent_id: int,
    *,
    status: str | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Up to ``limit`` child JobCalls of a batch, oldest first, after ``after`` (the previous
    page's last ``(id, id)``), with ``sort_key`` (the id) for the next page's cursor."""
    query = (
        select(*_JOB_COLUMNS, JobCall.id.label("sort_key"))
        .where(JobCall.parent_job_call_id == parent_id)
        .order_by(JobCall.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(JobCall.status == status)
    if after is not None:
        query = query.where(JobCall.id > after[1])
    return [dict(r) for r in (await conn.execute(query)).mappings().all()]
