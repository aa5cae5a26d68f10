"""Job retention (``trendflow gc --jobs``): a job record lives as long as its artifacts.

A job that ended more than ``days`` ago goes with its run folder and its frames; a job whose run
folder is gone (removed by hand, or lost) goes too. Files go first, then the row: a crash in
between leaves a row whose run is gone, which the next pass removes.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from trendflow.service import repository


@dataclass
class JobsGcReport:
    jobs_removed: list[str] = field(default_factory=list)
    runs_removed: list[str] = field(default_factory=list)


def _frames_dir(frames_root: Path, run: Path) -> Path:
    """The run's frames: ``frames/<platform>/<external_id>/<job id>`` beside its run."""
    return frames_root / run.parent.parent.name / run.parent.name / run.name


async def collect_jobs(
    engine: AsyncEngine,
    *,
    now: datetime,
    days: int,
    frames_root: Path,
    dry_run: bool = False,
) -> JobsGcReport:
    """Remove jobs ended more than ``days`` before ``now`` (and those whose run is gone)."""
    async with engine.connect() as conn:
        old = await repository.expired(conn, now - timedelta(days=days))
        with_runs = await repository.finished_with_run(conn)
    doomed: dict[uuid.UUID, str | None] = {row.id: row.run_dir for row in old}
    report = await asyncio.to_thread(_remove_runs, doomed, with_runs, frames_root, dry_run)
    if not dry_run and report.jobs_removed:
        async with engine.begin() as conn:
            await repository.delete(conn, [uuid.UUID(j) for j in report.jobs_removed])
    return report


def _remove_runs(
    doomed: dict[uuid.UUID, str | None],
    with_runs: list[tuple[uuid.UUID, str]],
    frames_root: Path,
    dry_run: bool,
) -> JobsGcReport:
    """Add the jobs whose run is gone to ``doomed``; remove the runs and frames of all."""
    report = JobsGcReport()
    for job_id, run in with_runs:
        if job_id not in doomed and not Path(run).exists():
            doomed[job_id] = run
    for job_id, folder in doomed.items():
        report.jobs_removed.append(str(job_id))
        if folder is None:
            continue
        run_path = Path(folder)
        if run_path.exists():
            report.runs_removed.append(folder)
        if not dry_run:
            shutil.rmtree(run_path, ignore_errors=True)
            shutil.rmtree(_frames_dir(frames_root, run_path), ignore_errors=True)
    return report
