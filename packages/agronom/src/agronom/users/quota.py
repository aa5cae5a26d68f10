"""The monthly photo quota (``photo_usage``): free users get a few photos a month, PRO more.

A photo is counted when it is accepted (one atomic upsert that refuses to pass the limit, so
two photos sent at once cannot both take the last slot) and given back when the model fails
it. A new month is a new ``(user_id, month)`` row, so the quota resets on the 1st by itself;
the monthly job opens the new month's rows and drops old months (see ``jobs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.clock import month_key
from agronom.errors import LimitExceeded
from agronom.settings import Settings
from agronom.store.models import Photo, PhotoUsage, User
from agronom.users import service as users


@dataclass(frozen=True)
class Limits:
    month: str
    used: int
    allowed: int
    plan: str  # "free" | "pro"
    pro_expires_at: datetime | None
    autopay_enabled: bool
    photos_stored: int

    @property
    def remaining(self) -> int:
        return max(0, self.allowed - self.used)


def allowed(user: User, now: datetime, settings: Settings) -> int:
    if users.is_pro(user, now):
        return settings.pro_photos_per_month
    return settings.free_photos_per_month


async def used(session: AsyncSession, user_id: int, month: str) -> int:
    value = await session.scalar(
        select(PhotoUsage.used).where(PhotoUsage.user_id == user_id, PhotoUsage.month == month)
    )
    return value or 0


def _exceeded(month: str, used_: int, allowed_: int) -> LimitExceeded:
    return LimitExceeded(
        f"the monthly limit of {allowed_} photos is used up ({used_} in {month}); "
        "it resets on the 1st, or get PRO with /pro",
        used=used_,
        allowed=allowed_,
        month=month,
    )


async def check(session: AsyncSession, user: User, *, now: datetime, settings: Settings) -> None:
    """Raise :class:`LimitExceeded` when the user has no photo left this month."""
    month = month_key(now, settings.quota_timezone)
    used_, allowed_ = await used(session, user.id, month), allowed(user, now, settings)
    if used_ >= allowed_:
        raise _exceeded(month, used_, allowed_)


async def reserve(session: AsyncSession, user: User, *, now: datetime, settings: Settings) -> int:
    """Count one photo for this month; the new count, or :class:`LimitExceeded`."""
    month, allowed_ = month_key(now, settings.quota_timezone), allowed(user, now, settings)
    if allowed_ <= 0:
        raise _exceeded(month, 0, allowed_)
    statement = (
        insert(PhotoUsage)
        .values(user_id=user.id, month=month, used=1, updated_at=now)
        .on_conflict_do_update(
            index_elements=[PhotoUsage.user_id, PhotoUsage.month],
            set_={"used": PhotoUsage.used + 1, "updated_at": now},
            where=PhotoUsage.used < allowed_,
        )
        .returning(PhotoUsage.used)
    )
    count = await session.scalar(statement)
    if count is None:
        raise _exceeded(month, await used(session, user.id, month), allowed_)
    return count


async def refund(session: AsyncSession, user_id: int, month: str, *, now: datetime) -> None:
    """Give back a photo the model could not diagnose."""
    await session.execute(
        update(PhotoUsage)
        .where(PhotoUsage.user_id == user_id, PhotoUsage.month == month, PhotoUsage.used > 0)
        .values(used=PhotoUsage.used - 1, updated_at=now)
    )


async def limits(session: AsyncSession, user: User, *, now: datetime, settings: Settings) -> Limits:
    month = month_key(now, settings.quota_timezone)
    stored = await session.scalar(
        select(func.count()).select_from(Photo).where(Photo.user_id == user.id, ~Photo.deleted)
    )
    return Limits(
        month=month,
        used=await used(session, user.id, month),
        allowed=allowed(user, now, settings),
        plan="pro" if users.is_pro(user, now) else "free",
        pro_expires_at=user.pro_expires_at,
        autopay_enabled=user.autopay_enabled,
        photos_stored=stored or 0,
    )
