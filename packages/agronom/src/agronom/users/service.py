"""Users: created on first contact, PRO state, the ML-dataset consent, events, pseudonyms.

The contract's ``users`` table has no consent column, so the ML-dataset opt-in is kept where
consent belongs anyway, in the ``events`` log: the newest ``ml_opt_in`` / ``ml_opt_out`` event
of a user is their current choice, and the log shows when it was given or withdrawn.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.store.models import Event, User

OPT_IN = "ml_opt_in"
OPT_OUT = "ml_opt_out"


async def ensure(session: AsyncSession, tg_id: int, *, now: datetime) -> User:
    """The user with this Telegram id, created on first contact."""
    await session.execute(
        insert(User)
        .values(tg_id=tg_id, created_at=now)
        .on_conflict_do_nothing(index_elements=[User.tg_id])
    )
    user = await session.scalar(select(User).where(User.tg_id == tg_id))
    if user is None:  # the insert above guarantees a row; this keeps the types honest
        raise RuntimeError(f"user {tg_id} vanished")
    return user


async def by_tg_id(session: AsyncSession, tg_id: int) -> User | None:
    return await session.scalar(select(User).where(User.tg_id == tg_id))


def is_pro(user: User, now: datetime) -> bool:
    return user.pro_expires_at is not None and user.pro_expires_at > now


def ref(user_id: int, *, secret: str) -> str:
    """The user's pseudonymous reference (object keys, exports): stable, not reversible."""
    return hmac.new(secret.encode(), f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:24]


async def add_event(
    session: AsyncSession, user_id: int | None, event: str, *, now: datetime
) -> None:
    session.add(Event(user_id=user_id, event=event, ts=now))


async def set_opt_in(session: AsyncSession, user_id: int, enabled: bool, *, now: datetime) -> None:
    await add_event(session, user_id, OPT_IN if enabled else OPT_OUT, now=now)


async def opted_in(session: AsyncSession, user_id: int) -> bool:
    latest = await session.scalar(
        select(Event.event)
        .where(Event.user_id == user_id, Event.event.in_((OPT_IN, OPT_OUT)))
        .order_by(Event.ts.desc(), Event.id.desc())
        .limit(1)
    )
    return latest == OPT_IN


def opted_in_user_ids() -> object:
    """A subquery of the ids of users whose newest consent event is an opt-in."""
    latest = (
        select(
            Event.user_id,
            Event.event,
            func.row_number()
            .over(partition_by=Event.user_id, order_by=(Event.ts.desc(), Event.id.desc()))
            .label("n"),
        )
        .where(Event.event.in_((OPT_IN, OPT_OUT)))
        .subquery()
    )
    return select(latest.c.user_id).where(latest.c.n == 1, latest.c.event == OPT_IN)
