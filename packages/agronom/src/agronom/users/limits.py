"""Abuse limits on photos, beside the monthly quota (:mod:`agronom.users.quota`), and the one
place refusals are recorded.

- **Rate**: at most ``PHOTOS_PER_MINUTE`` photos a user a minute, as a token bucket (a burst
  of N, refilled at N per minute) written as GCRA: the whole state is one timestamp per user,
  the "theoretical arrival time" ``tat``, kept in PostgreSQL (``rate_limits``) so that every
  API process shares it. A request is allowed when ``max(tat, now) + 60/N s`` is at most a
  minute ahead of now, and moves ``tat`` there; the check and the move are one conditional
  upsert, so two processes cannot both take the last token. Why not a fixed window: it lets
  2N through across a window boundary and needs a row per window; GCRA is as cheap, smooth,
  and its refusal knows exactly when the next photo may come (``Retry-After``).
- **Refused photos a day**: photos refused as NO_LEAF or unreadable cost a decode each, and
  cost the user nothing; after ``REFUSED_PHOTOS_PER_DAY`` of them in a day (the users' day,
  ``QUOTA_TIMEZONE``), every photo is refused before any work until midnight.

Every refusal goes through :func:`record_refusal`: an ``events`` row named ``refused_<kind>``
(the daily metrics export counts events by name) and a log line. Metrics hook in there.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import DateTime, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agronom.errors import TooManyRequests
from agronom.metrics import REFUSALS
from agronom.settings import Settings
from agronom.store.models import Event, RateLimit
from agronom.users import service as users

log = structlog.get_logger("agronom.limits")

DIAGNOSE = "diagnose"
WINDOW = timedelta(minutes=1)


class Refusal(StrEnum):
    """Why a photo was refused; the event is ``refused_<value>``."""

    RATE = "rate"  # PHOTOS_PER_MINUTE
    DAILY = "daily"  # REFUSED_PHOTOS_PER_DAY reached
    QUOTA = "quota"  # the monthly quota
    NO_LEAF = "no_leaf"
    BAD_IMAGE = "bad_image"  # not a readable image
    MODEL = "model"  # the model refused the call
    MODEL_DOWN = "model_down"  # the circuit breaker is open

    @property
    def event(self) -> str:
        return f"refused_{self.value}"


# What the daily cap counts: photos refused after the work of decoding them.
COSTLY = (Refusal.NO_LEAF.event, Refusal.BAD_IMAGE.event)


async def record_refusal(
    session: AsyncSession, user_id: int | None, kind: Refusal, *, now: datetime
) -> None:
    """Count one refusal: an ``events`` row in the caller's transaction, and a log line."""
    await users.add_event(session, user_id, kind.event, now=now)
    REFUSALS.labels(kind.value).inc()
    log.info("photo refused", kind=kind.value, user_id=user_id)


async def take(
    session: AsyncSession, user_id: int, action: str, *, now: datetime, per_minute: int
) -> float | None:
    """Take one token of ``user_id``'s bucket for ``action``: ``None`` when taken, else the
    seconds until one will be there."""
    interval = WINDOW / per_minute
    at = literal(now, DateTime())
    following = func.greatest(RateLimit.tat, at) + interval
    taken = await session.scalar(
        insert(RateLimit)
        .values(user_id=user_id, action=action, tat=now + interval)
        .on_conflict_do_update(
            index_elements=[RateLimit.user_id, RateLimit.action],
            set_={"tat": following},
            where=following <= at + WINDOW,
        )
        .returning(RateLimit.tat)
    )
    if taken is not None:
        return None
    tat = await session.scalar(
        select(RateLimit.tat).where(RateLimit.user_id == user_id, RateLimit.action == action)
    )
    if tat is None:  # the upsert either inserted or found the row; this keeps the types honest
        return interval.total_seconds()
    return max(0.0, (tat + interval - WINDOW - now).total_seconds())


def _day_start(now: datetime, zone: str) -> tuple[datetime, datetime]:
    """The start of ``now``'s day on ``zone``'s calendar and of the next one, naive UTC."""
    local = now.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    start = datetime.combine(local.date(), time(), tzinfo=local.tzinfo)
    following = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=local.tzinfo)
    return (
        start.astimezone(UTC).replace(tzinfo=None),
        following.astimezone(UTC).replace(tzinfo=None),
    )


async def refused_today(session: AsyncSession, user_id: int, *, now: datetime, zone: str) -> int:
    """Photos of ``user_id`` refused as NO_LEAF or unreadable today (``zone``'s day)."""
    start, _ = _day_start(now, zone)
    count = await session.scalar(
        select(func.count())
        .select_from(Event)
        .where(Event.user_id == user_id, Event.ts >= start, Event.event.in_(COSTLY))
    )
    return count or 0


class RateRefused(TooManyRequests):
    """Photos sent faster than ``PHOTOS_PER_MINUTE``; ``until``: when the next token comes."""

    def __init__(self, *, per_minute: int, now: datetime, until: datetime) -> None:
        seconds = max(1, math.ceil((until - now).total_seconds()))
        super().__init__(
            f"too many photos: at most {per_minute} a minute; "
            f"send the next one in {seconds} s (this is not the monthly quota)",
            reason=Refusal.RATE,
            retry_after_s=seconds,
        )
        self.until = until


class RecentlyRefused:
    """The users this process saw refused by the rate limit, each until their next token.

    Until then a photo of theirs is refused again without the bucket being read: a flood costs
    the database one event row a photo, not a transaction of four statements, and the other
    users' requests wait less behind it. It never refuses what the bucket would admit: tokens
    come back only with time, and another process taking one only moves the next one later.
    """

    MAX_USERS = 100_000

    def __init__(self) -> None:
        self._until: dict[int, tuple[int, datetime]] = {}

    def get(self, tg_id: int, now: datetime) -> tuple[int, datetime] | None:
        """(user id, next token) while ``tg_id`` has no token, else None."""
        known = self._until.get(tg_id)
        return known if known is not None and now < known[1] else None

    def forget(self, tg_id: int) -> None:
        self._until.pop(tg_id, None)

    def remember(self, tg_id: int, user_id: int, until: datetime, *, now: datetime) -> None:
        if len(self._until) >= self.MAX_USERS:  # the expired go first; at worst, all of them
            live = {k: v for k, v in self._until.items() if now < v[1]}
            self._until = live if len(live) < self.MAX_USERS else {}
        self._until[tg_id] = (user_id, until)


async def admit_photo(
    session: AsyncSession, user_id: int, *, now: datetime, settings: Settings
) -> None:
    """Raise :class:`TooManyRequests` when ``user_id`` may not send a photo now
    (:class:`RateRefused` when they send too fast)."""
    per_minute = settings.photos_per_minute
    wait = await take(session, user_id, DIAGNOSE, now=now, per_minute=per_minute)
    if wait is not None:
        raise RateRefused(per_minute=per_minute, now=now, until=now + timedelta(seconds=wait))
    refused = await refused_today(session, user_id, now=now, zone=settings.quota_timezone)
    if refused >= settings.refused_photos_per_day:
        _, midnight = _day_start(now, settings.quota_timezone)
        raise TooManyRequests(
            f"{refused} photos today could not be used (no leaf, or not a readable image); "
            f"photos are accepted again after midnight ({settings.quota_timezone}). "
            "Photograph one affected leaf up close in daylight (this is not the monthly quota)",
            reason=Refusal.DAILY,
            retry_after_s=math.ceil((midnight - now).total_seconds()),
        )
