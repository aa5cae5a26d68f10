"""Temporal contracts of the jobs: one dataclass in, one out (plain data, no imports)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JobInput:
    """``as_of``: the moment the job acts for (ISO, naive UTC). ``None`` (scheduled runs): the
    workflow's own time. Tests and backfills pass a moment: the clock is injectable."""

    as_of: str | None = None


@dataclass
class JobResult:
    job: str
    as_of: str
    counts: dict[str, int] = field(default_factory=dict)
