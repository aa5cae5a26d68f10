"""Payments are kept five years (402-FZ, contract section 8), then purged by a daily job.

A payment's five years run from its ``created_at``; one that is younger stays whatever
happened to its user (DSR leaves payments, pseudonymised, for exactly this span).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.store.models import Payment

YEARS = 5
BATCH = 5000


def cutoff(now: datetime) -> datetime:
    """The moment five calendar years before ``now`` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - YEARS)
    except ValueError:
        return now.replace(year=now.year - YEARS, day=28)


async def purge(session: AsyncSession, *, now: datetime) -> int:
    """Delete up to :data:`BATCH` payments older than five years; how many went."""
    oldest = (
        select(Payment.id)
        .where(Payment.created_at < cutoff(now))
        .order_by(Payment.id)
        .limit(BATCH)
        .scalar_subquery()
    )
    gone = await session.execute(
        delete(Payment).where(Payment.id.in_(oldest)).returning(Payment.id)
    )
    return len(gone.all())
