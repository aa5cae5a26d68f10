"""Time as a dependency: every service and job takes a clock, so tests move time.

The contract's columns are ``TIMESTAMP`` (without time zone): they hold UTC, naive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, naive (how the contract's TIMESTAMP columns hold it)."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """A datetime as naive UTC (aware ones are converted, naive ones taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def month_key(moment: datetime, zone: str) -> str:
    """``YYYY-MM``: the key of ``photo_usage.month``, the month ``moment`` (naive UTC, as every
    clock here gives it) falls in on the calendar of ``zone`` (``QUOTA_TIMEZONE``)."""
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    return f"{local.year:04d}-{local.month:02d}"


def local_date(moment: datetime, zone: str) -> date:
    """The calendar day ``moment`` (naive UTC) falls on in ``zone``."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``day`` on the calendar of ``zone``, as naive UTC."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return naive_utc(start), naive_utc(end)


def fixed(moment: datetime) -> Clock:
    """A clock that always says ``moment`` (tests, replays)."""
    value = naive_utc(moment)
    return lambda: value
