"""The JobCall / ServiceCall ledger (000_…): what ran, what each call returned, where to resume.

Functions take ``conn`` and never commit: the caller commits a page's rows, its raw payload,
its ServiceCall and its cursor together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from smcore.store.models import JobCall, RawPayload, ServiceCall, Status

RUNNING_OR_DONE = (Status.SUCCEEDED, Status.SKIPPED)


async def create_job(
    conn: AsyncConnection,
    *,
    platform: str,
    kind: str,
    params: dict[str, Any],
    subject_id: int | None = None,
) -> int:
    job_id: int = await conn.scalar(  # type: ignore[assignment]  # RETURNING id is never NULL
        insert(JobCall)
        .values(platform=platform, kind=kind, params=params, subject_id=subject_id)
        .returning(JobCall.id)
    )
    return job_id


async def get_job(conn: AsyncConnection, job_id: int) -> JobCall | None:
    row = (await conn.execute(select(JobCall).where(JobCall.id == job_id))).first()
    if row is None:
        return None
    return JobCall(**row._asdict())


async def start_job(conn: AsyncConnection, job_id: int, *, workflow_id: str | None) -> None:
    await conn.execute(
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


async def set_job_subject(conn: AsyncConnection, job_id: int, subject_id: int) -> None:
    await conn.execute(
        update(JobCall)
        .where(JobCall.id == job_id)
        .values(subject_id=subject_id, updated_at=func.now())
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
    started_at: datetime | None = None


async def record_call(conn: AsyncConnection, call: CallRecord) -> int:
    """Write one ServiceCall (one provider request); returns its id."""
    call_id: int = await conn.scalar(  # type: ignore[assignment]  # RETURNING id
        insert(ServiceCall)
        .values(
            job_call_id=call.job_id,
            parent_service_call_id=call.parent_id,
            kind=call.kind,
            status=call.status,
            stream=call.stream,
            subject_id=call.subject_id,
            cursor=call.cursor or {},
            result_summary=call.summary or {},
            error_message=call.error,
            started_at=call.started_at,
            finished_at=func.now(),
        )
        .returning(ServiceCall.id)
    )
    return call_id


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
        insert(RawPayload).values(
            service_call_id=service_call_id,
            provider=provider,
            method=method,
            request=request,
            response=response,
        )
    )


@dataclass(frozen=True)
class Position:
    """Where a stream stands in the ledger."""

    done: bool  # its last page was committed (or it ended as skipped)
    cursor: str | None  # where the next page starts
    provider: str | None  # who issued that cursor
    last_call_id: int | None  # the chain's parent for the next page
    pages: int  # pages committed so far
    restarts: int  # listings restarted (expired cursor, early end)


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
    for row in rows:
        state = row.cursor or {}
        if state.get("restart"):
            restarts += 1
            cursor, provider, done = None, None, False
            last_id = row.id
            continue
        if row.status in RUNNING_OR_DONE:
            pages += 1 if row.status == Status.SUCCEEDED else 0
            cursor, provider = state.get("end_cursor"), state.get("provider")
            done = not state.get("has_more", False)
            last_id = row.id
    return Position(done, cursor, provider, last_id, pages, restarts)


async def calls_of(conn: AsyncConnection, job_id: int) -> list[dict[str, Any]]:
    """Every ServiceCall of a job, oldest first, as dicts (for status output)."""
    rows = (
        await conn.execute(
            select(
                ServiceCall.id,
                ServiceCall.parent_service_call_id,
                ServiceCall.kind,
                ServiceCall.stream,
                ServiceCall.subject_id,
                ServiceCall.status,
                ServiceCall.cursor,
                ServiceCall.result_summary,
                ServiceCall.error_message,
                ServiceCall.finished_at,
            )
            .where(ServiceCall.job_call_id == job_id)
            .order_by(ServiceCall.id)
        )
    ).all()
    return [row._asdict() for row in rows]
