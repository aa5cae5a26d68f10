"""Simulated time: a fixed start, moved only by explicit steps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SIM_START = 1767225600
"""2026-01-01T00:00:00Z, the instant every world starts at."""


@dataclass(frozen=True, slots=True)
class Step:
    """One move of the clock: ``[start, end)`` in unix seconds."""

    number: int
    start: int
    end: int

    @property
    def days(self) -> float:
        """Length of the step in days."""
        return (self.end - self.start) / 86400


@dataclass(slots=True)
class Clock:
    """The simulated clock and the history of its steps (replayed by lazy parts of the world)."""

    start: int = SIM_START
    steps: list[Step] = field(default_factory=list)

    @property
    def now(self) -> int:
        """Current simulated time in unix seconds."""
        return self.steps[-1].end if self.steps else self.start

    def advance(self, hours: float) -> Step:
        """Move the clock forward.

        Args:
            hours: how far; rounded to whole seconds, must be positive.

        Returns:
            The step taken.

        Raises:
            ValueError: ``hours`` is not positive or below one second.
        """
        seconds = round(hours * 3600)
        if seconds <= 0:
            raise ValueError("advance_hours must be positive")
        step = Step(number=len(self.steps) + 1, start=self.now, end=self.now + seconds)
        self.steps.append(step)
        return step


def iso(unix: int) -> str:
    """``2026-01-01T00:00:00Z`` form of a unix time."""
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nth_sunday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (6 - first.weekday()) % 7
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def pacific_day(unix: int) -> dt.date:
    """The calendar day in America/Los_Angeles (US daylight-saving rules since 2007).

    Computed by hand rather than with ``zoneinfo`` so the quota day does not depend on the
    machine having a time-zone database.
    """
    utc = dt.datetime.fromtimestamp(unix, dt.UTC)
    year = utc.year
    # DST starts on the second Sunday of March at 02:00 PST (10:00 UTC) and ends on the
    # first Sunday of November at 02:00 PDT (09:00 UTC).
    dst_start = dt.datetime.combine(_nth_sunday(year, 3, 2), dt.time(10), dt.UTC)
    dst_end = dt.datetime.combine(_nth_sunday(year, 11, 1), dt.time(9), dt.UTC)
    offset = -7 if dst_start <= utc < dst_end else -8
    return (utc + dt.timedelta(hours=offset)).date()
