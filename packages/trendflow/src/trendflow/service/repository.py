"""SQL on the job tables. Functions take the caller's connection and never commit.

Status changes are guarded in their WHERE clause: a job leaves ``pending``/``processing`` once,
and a ``done`` or ``failed`` job is never updated again (the functions say whether they won).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from trendflow.service.db import LIVE, TERMINAL, job_request_keys, jobs

# An ended job keeps no raw text: its texts were the input, its NPZ holds what came of them
# (a prediction's caption too: its forecast is the outcome).
_WITHOUT_TEXTS = sa.text("(spec - 'texts') #- '{history,caption}'")


@dataclass(frozen=True)
class JobRow:
    """One ``jobs`` row."""

    id: uuid.UUID
    kind: str
    status: str
    platform: str
    external_id: str
    idempotency_key: str
    config_hash: str
    versions: dict[str, Any]
    spec: dict[str, Any]
    webhook_url: str | None
    progress: dict[str, str]
    error: dict[str, Any] | None
    retryable_failure: bool
    result: dict[str, Any] | None
    run_dir: str | None
    attempts: int
    webhook_delivered_at: datetime | None
    webhook_error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def _row(row: sa.Row[Any] | None) -> JobRow | None:
    return None if row is None else JobRow(**row._mapping)


async def get(conn: AsyncConnection, job_id: uuid.UUID) -> JobRow | None:
    return _row((await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first())


async def live_by_key(conn: AsyncConnection, idempotency_key: str) -> JobRow | None:
    """The job that holds ``idempotency_key`` (none once its holder failed retryably)."""
    query = sa.select(jobs).where(
        jobs.c.idempotency_key == idempotency_key, sa.not_(jobs.c.retryable_failure)
    )
    return _row((await conn.execute(query)).first())


async def insert_job(conn: AsyncConnection, values: dict[str, Any]) -> tuple[JobRow, bool]:
    """Insert a job unless one holds its idempotency key; return the holder and whether it is new.

    Two requests racing on one key both get the same job: the loser's insert does nothing and
    it reads the winner's row.
    """
    statement = (
        insert(jobs)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[jobs.c.idempotency_key],
            index_where=sa.not_(jobs.c.retryable_failure),
        )
        .returning(*jobs.c)
    )
    created = _row((await conn.execute(statement)).first())
    if created is not None:
        return created, True
    existing = await live_by_key(conn, values["idempotency_key"])
    if existing is None:  # the holder failed retryably in between: take the key now
        return await insert_job(conn, values)
    return existing, False


async def request_key(conn: AsyncConnection, key: str) -> tuple[str, uuid.UUID] | None:
    """``(body_hash, job_id)`` an ``Idempotency-Key`` header was first sent with."""
    row = (
        await conn.execute(
            sa.select(job_request_keys.c.body_hash, job_request_keys.c.job_id).where(
                job_request_keys.c.key == key
            )
        )
    ).first()
    return None if row is None else (row.body_hash, row.job_id)


async def remember_request_key(
    conn: AsyncConnection, key: str, body_hash: str, job_id: uuid.UUID
) -> tuple[str, uuid.UUID]:
    """Record the header's first use; return what the key is bound to (a racer may have won)."""
    await conn.execute(
        insert(job_request_keys)
        .values(key=key, body_hash=body_hash, job_id=job_id)
        .on_conflict_do_nothing(index_elements=[job_request_keys.c.key])
    )
    bound = await request_key(conn, key)
    if bound is None:  # pragma: no cover - the row was inserted or already there
        raise RuntimeError(f"Idempotency-Key {key!r} vanished")
    return bound


async def start(conn: AsyncConnection, job_id: uuid.UUID) -> JobRow | None:
    """``pending``/``processing`` → ``processing``, one more attempt; None if it is terminal."""
    statement = (
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(LIVE))
        .values(
            status="processing",
            attempts=jobs.c.attempts + 1,
            started_at=sa.func.coalesce(jobs.c.started_at, sa.func.now()),
            updated_at=sa.func.now(),
        )
        .returning(*jobs.c)
    )
    return _row((await conn.execute(statement)).first())


async def set_progress(conn: AsyncConnection, job_id: uuid.UUID, progress: dict[str, str]) -> None:
    await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(LIVE))
        .values(progress=progress, updated_at=sa.func.now())
    )


async def finish_done(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    result: dict[str, Any],
    run_dir: str | None,
    progress: dict[str, str],
) -> bool:
    """Mark the job ``done``; False if it had already ended."""
    outcome = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(LIVE))
        .values(
            status="done",
            spec=_WITHOUT_TEXTS,
            result=result,
            run_dir=run_dir,
            progress=progress,
            error=None,
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
        )
    )
    return bool(outcome.rowcount)


async def finish_failed(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    error: dict[str, Any],
    run_dir: str | None = None,
) -> bool:
    """Mark the job ``failed`` with ``error`` (code, message, retryable); False if it had ended."""
    outcome = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(LIVE))
        .values(
            status="failed",
            spec=_WITHOUT_TEXTS,
            error=error,
            retryable_failure=bool(error.get("retryable")),
            run_dir=sa.func.coalesce(run_dir, jobs.c.run_dir),
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
        )
    )
    return bool(outcome.rowcount)


async def set_run_dir(conn: AsyncConnection, job_id: uuid.UUID, run_dir: str) -> None:
    """Remember where the job writes before it writes (``gc`` finds runs of failed jobs too)."""
    await conn.execute(
        sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(LIVE)).values(run_dir=run_dir)
    )


async def record_webhook(
    conn: AsyncConnection, job_id: uuid.UUID, *, delivered: bool, error: str | None
) -> None:
    """The webhook's outcome: bookkeeping beside the job, never its status or result."""
    await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            webhook_delivered_at=sa.func.now() if delivered else None,
            webhook_error=error,
        )
    )


async def expired(conn: AsyncConnection, before: datetime) -> list[JobRow]:
    """Jobs that ended before ``before``."""
    query = sa.select(jobs).where(jobs.c.status.in_(TERMINAL), jobs.c.finished_at < before)
    return [JobRow(**r._mapping) for r in await conn.execute(query.order_by(jobs.c.finished_at))]


async def finished_with_run(conn: AsyncConnection) -> list[tuple[uuid.UUID, str]]:
    """``(id, run_dir)`` of every ended job that wrote a run."""
    query = sa.select(jobs.c.id, jobs.c.run_dir).where(
        jobs.c.status.in_(TERMINAL), jobs.c.run_dir.is_not(None)
    )
    return [(r.id, r.run_dir) for r in await conn.execute(query)]


async def delete(conn: AsyncConnection, job_ids: list[uuid.UUID]) -> int:
    if not job_ids:
        return 0
    outcome = await conn.execute(sa.delete(jobs).where(jobs.c.id.in_(job_ids)))
    return int(outcome.rowcount)


async def live(conn: AsyncConnection) -> list[uuid.UUID]:
    """Ids of the jobs not yet ended (a worker restarts their workflows if missing)."""
    query = sa.select(jobs.c.id).where(jobs.c.status.in_(LIVE)).order_by(jobs.c.created_at)
    return [r.id for r in await conn.execute(query)]
